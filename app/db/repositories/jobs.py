"""Jobs: creation, tenant-scoped reads, history pages, and guarded status transitions.

Transitions are conditional UPDATEs so a redelivered task, a cancel and a
worker racing each other cannot move a job backwards or finish it twice.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.tables import ACTIVE, Job


@dataclass(frozen=True)
class JobFilter:
    status: str | None = None
    kind: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


def add(session: Session, job: Job) -> Job:
    session.add(job)
    session.flush()
    return job


def get(session: Session, job_id: str) -> Job | None:
    return session.get(Job, job_id)


def get_for_tenant(
    session: Session, tenant_id: str, job_id: str, kind: str | None = None
) -> Job | None:
    query = select(Job).where(Job.id == job_id, Job.tenant_id == tenant_id)
    if kind is not None:
        query = query.where(Job.kind == kind)
    return session.scalars(query).one_or_none()


def get_by_idempotency_key(session: Session, tenant_id: str, key: str) -> Job | None:
    return session.scalars(
        select(Job).where(Job.tenant_id == tenant_id, Job.idempotency_key == key)
    ).one_or_none()


def count_active(session: Session, tenant_id: str) -> int:
    """Queued and running jobs of the tenant, of every kind."""
    query = (
        select(func.count())
        .select_from(Job)
        .where(Job.tenant_id == tenant_id, Job.status.in_(sorted(ACTIVE)))
    )
    return int(session.scalar(query) or 0)


def page_for_tenant(
    session: Session,
    tenant_id: str,
    filters: JobFilter,
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[Job]:
    """Newest first; `after` is the (created_at, id) of the last row of the previous page."""
    query = select(Job).where(Job.tenant_id == tenant_id)
    if filters.status:
        query = query.where(Job.status == filters.status)
    if filters.kind:
        query = query.where(Job.kind == filters.kind)
    if filters.created_after:
        query = query.where(Job.created_at > filters.created_after)
    if filters.created_before:
        query = query.where(Job.created_at < filters.created_before)
    if after is not None:
        created, job_id = after
        query = query.where(
            or_(Job.created_at < created, and_(Job.created_at == created, Job.id < job_id))
        )
    query = query.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit)
    return list(session.scalars(query))


def _transition(session: Session, job_id: str, allowed: Collection[str], **values: Any) -> bool:
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status.in_(sorted(allowed)))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]  # an UPDATE's CursorResult; typed as Result


def claim(session: Session, job_id: str, worker: str, device: str) -> bool:
    """Mark a queued (or re-delivered running) job as running; False if it is already final."""
    return _transition(
        session,
        job_id,
        ACTIVE,
        status="running",
        attempts=Job.attempts + 1,
        started_at=utcnow(),
        heartbeat_at=utcnow(),
        worker=worker,
        device=device,
    )


def set_progress(session: Session, job_id: str, progress: float) -> bool:
    return _transition(session, job_id, ("running",), progress=progress, heartbeat_at=utcnow())


def succeed(
    session: Session,
    job_id: str,
    summary: dict[str, Any] | None = None,
    ran_on: tuple[str, str] | None = None,
) -> bool:
    """Final success. `ran_on` (worker, device) names the run that finished: after a requeue
    another worker may have claimed the job since, and the record must show the finisher."""
    who = {} if ran_on is None else {"worker": ran_on[0], "device": ran_on[1]}
    return _transition(
        session,
        job_id,
        ("running",),
        status="succeeded",
        progress=1.0,
        finished_at=utcnow(),
        summary=summary,
        error=None,
        **who,
    )


def fail(session: Session, job_id: str, error: dict[str, Any]) -> bool:
    return _transition(session, job_id, ACTIVE, status="failed", finished_at=utcnow(), error=error)


def requeue(session: Session, job_id: str, error: dict[str, Any]) -> bool:
    """Put a running job back to queued after a retryable error, keeping the error seen."""
    return _transition(session, job_id, ("running",), status="queued", error=error)


def cancel(session: Session, job_id: str) -> bool:
    return _transition(session, job_id, ACTIVE, status="cancelled", finished_at=utcnow())


def lock_status(session: Session, job_id: str) -> str | None:
    """The job's status, row-locked until the transaction ends (PostgreSQL; SQLite serialises)."""
    return session.scalars(
        select(Job.status).where(Job.id == job_id).with_for_update()
    ).one_or_none()


def silent_since(session: Session, status: str, cutoff: datetime, limit: int) -> list[Job]:
    """Jobs in `status` with no sign of life (heartbeat, else creation) since `cutoff`."""
    last_seen = func.coalesce(Job.heartbeat_at, Job.created_at)
    return list(
        session.scalars(
            select(Job)
            .where(Job.status == status, last_seen < cutoff)
            .order_by(last_seen)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )


def mark_sent(session: Session, job_id: str, status: str) -> bool:
    """Back to queued (from `status`) with the time it was sent again as its heartbeat."""
    return _transition(session, job_id, (status,), status="queued", heartbeat_at=utcnow())
