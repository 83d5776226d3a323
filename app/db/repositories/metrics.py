"""Read-only, bounded queries behind /metrics: every one is capped, so a scrape stays cheap
however large the tables grow."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.repositories.streams import PENDING
from app.db.tables import ACTIVE, Job, Observation, Stream


class ActiveJobs(NamedTuple):
    kind: str
    status: str
    queue: str
    n: int


class FinishedJob(NamedTuple):
    kind: str
    status: str
    started_at: datetime | None
    finished_at: datetime


class StreamLag(NamedTuple):
    stream_id: str
    pending: int
    oldest_received_at: datetime


def active_jobs(session: Session, cap: int) -> list[ActiveJobs]:
    """Queued and running jobs by kind, status and queue, counting at most `cap` rows
    (through the status index; a backlog past the cap reads as the cap)."""
    rows = (
        select(Job.kind, Job.status, Job.queue).where(Job.status.in_(ACTIVE)).limit(cap).subquery()
    )
    query = select(rows.c.kind, rows.c.status, rows.c.queue, func.count()).group_by(
        rows.c.kind, rows.c.status, rows.c.queue
    )
    return [ActiveJobs(k, s, q, int(n)) for k, s, q, n in session.execute(query)]


def finished_since(session: Session, since: datetime, cap: int) -> list[FinishedJob]:
    """The newest `cap` jobs finished at or after `since` (through ix_jobs_finished_at)."""
    query = (
        select(Job.kind, Job.status, Job.started_at, Job.finished_at)
        .where(Job.finished_at >= since)
        .order_by(Job.finished_at.desc())
        .limit(cap)
    )
    return [
        FinishedJob(kind, status, started, finished)
        for kind, status, started, finished in session.execute(query)
        if finished is not None  # always: the query keeps finished jobs only
    ]


def stream_lag(session: Session, streams_cap: int) -> list[StreamLag]:
    """Pending observations and the oldest one's arrival, for up to `streams_cap` open
    streams (the newest); each stream is one range of ix_observations_pending."""
    open_ids = (
        select(Stream.id)
        .where(Stream.status == "open")
        .order_by(Stream.created_at.desc())
        .limit(streams_cap)
        .scalar_subquery()
    )
    query = (
        select(Observation.stream_id, func.count(), func.min(Observation.received_at))
        .where(Observation.stream_id.in_(open_ids), PENDING)
        .group_by(Observation.stream_id)
    )
    return [StreamLag(sid, int(n), oldest) for sid, n, oldest in session.execute(query)]
