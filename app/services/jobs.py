"""Job history and control, shared by every kind of job."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.repositories import jobs, tenants
from app.db.tables import TERMINAL, Job
from app.queue import TASK_OF_JOB, Outbox, Queue
from app.services.errors import Conflict, LimitExceeded, NotFound
from app.services.paging import decode_cursor, encode_cursor
from app.version import code_version

# Jobs finish at no predictable time; this is how soon a client refused by the quota of
# active jobs is told to try again.
QUOTA_RETRY_AFTER_S = 5


def request_fingerprint(request: dict[str, Any]) -> str:
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def submit(
    session: Session,
    outbox: Outbox,
    *,
    tenant_id: str,
    kind: str,
    queue: Queue,
    request: dict[str, Any],
    model: dict[str, Any],
    seed: int,
    idempotency_key: str | None,
    max_active_jobs: int = 0,
) -> tuple[Job, bool]:
    """Record a job and queue its task for after the commit; returns (job, created).

    The same Idempotency-Key with the same request gives back the first job; with
    a different request it is a Conflict. A new job beyond the tenant's `max_active_jobs`
    queued or running ones is refused with LimitExceeded (0: no quota).
    """
    fingerprint = request_fingerprint(request)
    if max_active_jobs:
        # Locked first, so that a concurrent request with the same key, once it has the
        # lock, finds the job committed and is answered as a replay, not refused.
        tenants.lock(session, tenant_id)
    if idempotency_key is not None:
        existing = jobs.get_by_idempotency_key(session, tenant_id, idempotency_key)
        if existing is not None:
            return _same_request(existing, fingerprint), False
    if max_active_jobs:
        check_quota(session, tenant_id, max_active_jobs)
    job = Job(
        tenant_id=tenant_id,
        kind=kind,
        queue=queue,
        request=request,
        model=model,
        seed=seed,
        idempotency_key=idempotency_key,
        request_hash=fingerprint,
        code_version=code_version(),
    )
    try:
        with session.begin_nested():
            jobs.add(session, job)
    except IntegrityError:
        # A concurrent request with the same key won the race.
        existing = jobs.get_by_idempotency_key(session, tenant_id, idempotency_key or "")
        if existing is None:
            raise
        return _same_request(existing, fingerprint), False
    outbox.add(TASK_OF_JOB[kind], job.id, queue=queue)
    return job, True


def check_quota(session: Session, tenant_id: str, max_active_jobs: int) -> None:
    """Refuse a new job when the tenant already has `max_active_jobs` queued or running.

    Call it holding the tenant's row lock (tenants.lock), kept until the submitting
    transaction ends: concurrent submissions of one tenant then count one after another and
    cannot overshoot together (PostgreSQL, READ COMMITTED: the count after the lock sees
    every committed job). What remains: on SQLite (development) two submissions can count
    before either inserts; and the count is of jobs, not of their cost.
    """
    active = jobs.count_active(session, tenant_id)
    if active >= max_active_jobs:
        raise LimitExceeded(
            "max_active_jobs",
            f"this tenant has {active} queued or running jobs; the limit is {max_active_jobs} "
            "(KALMANAC_MAX_ACTIVE_JOBS). Wait for some to finish, or cancel them",
            QUOTA_RETRY_AFTER_S,
            "too_many_active_jobs",
        )


def _same_request(job: Job, fingerprint: str) -> Job:
    if job.request_hash != fingerprint:
        raise Conflict("Idempotency-Key was already used with a different request body")
    return job


def get(session: Session, tenant_id: str, job_id: str, kind: str | None = None) -> Job:
    job = jobs.get_for_tenant(session, tenant_id, job_id, kind)
    if job is None:
        raise NotFound(f"{kind or 'job'} {job_id}")
    return job


def cancel(session: Session, tenant_id: str, job_id: str) -> Job:
    job = get(session, tenant_id, job_id)
    if job.status in TERMINAL and job.status != "cancelled":
        raise Conflict(f"job {job_id} already {job.status}")
    jobs.cancel(session, job_id)
    session.refresh(job)
    return job


def page(
    session: Session,
    tenant_id: str,
    filters: jobs.JobFilter,
    limit: int,
    cursor: str | None,
) -> tuple[list[Job], str | None]:
    after = decode_cursor(cursor) if cursor else None
    rows = jobs.page_for_tenant(session, tenant_id, filters, limit + 1, after)
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if more and rows else None
    return rows, (encode_cursor(last.created_at, last.id) if last else None)
