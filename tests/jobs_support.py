"""Jobs recorded straight in the database and never sent to a worker (they stay queued)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from app.config import Settings
from app.db.base import utcnow
from app.db.session import get_sessionmaker
from app.db.tables import Job
from app.queue import Outbox, Queue
from app.services import jobs as job_service
from app.services.auth import authenticate


def submit_unsent(
    session: Session,
    tenant_id: str,
    request: dict[str, Any],
    idempotency_key: str | None = None,
    max_active_jobs: int = 0,
) -> Job:
    """A forecast job whose task goes to an Outbox nobody flushes."""
    job, _ = job_service.submit(
        session,
        Outbox(),
        tenant_id=tenant_id,
        kind="forecast",
        queue=Queue.CPU,
        request=request,
        model=request.get("model", {"kind": "bayes_ar"}),
        seed=0,
        idempotency_key=idempotency_key,
        max_active_jobs=max_active_jobs,
    )
    return job


def unsent_jobs(
    settings: Settings,
    key: str,
    n: int = 1,
    request: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    status: str = "queued",
    age_s: float = 0.0,
    attempts: int = 1,
) -> list[str]:
    """n such jobs of the key's tenant, in `status` since `age_s` seconds ago (a running one
    has made `attempts` attempts and last beat then)."""
    ids = []
    with get_sessionmaker(settings.database_url).begin() as session:
        tenant = authenticate(session, key, settings)
        assert tenant is not None
        for i in range(n):
            job = submit_unsent(session, tenant.id, request or {"n": i}, idempotency_key)
            since = utcnow() - timedelta(seconds=age_s)
            job.created_at, job.heartbeat_at, job.status = since, since, status
            if status == "running":
                job.attempts = attempts
            ids.append(job.id)
    return ids
