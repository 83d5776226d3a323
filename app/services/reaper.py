"""Re-sending work that went silent, so nothing accepted is lost.

A job stays `queued` if its message never reached a worker (a send that failed after the
commit, a broker restarted without persistence), and `running` if its worker vanished
mid-way (acks_late redelivers too, but only after the broker's visibility timeout). Stream
observations can likewise wait for a cycle that never came. The reaper runs periodically
and sends such work again; every task is idempotent, so a duplicate is harmless.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from app.config import Settings
from app.db.repositories import jobs
from app.db.repositories import streams as stream_repo
from app.queue import TASK_OF_JOB, Outbox, Queue, Task
from app.services import streams as stream_service

BATCH = 200


@dataclass
class ReapReport:
    resent: list[str] = field(default_factory=list)
    requeued: list[str] = field(default_factory=list)
    abandoned: list[str] = field(default_factory=list)
    streams: list[str] = field(default_factory=list)


def reap(session: Session, outbox: Outbox, settings: Settings, now: datetime) -> ReapReport:
    """Re-send what has been silent longer than the settings allow."""
    queued_cutoff = now - timedelta(seconds=settings.resend_queued_after_s)
    running_cutoff = now - timedelta(seconds=settings.requeue_running_after_s)
    return _resend(session, outbox, settings, queued_cutoff, running_cutoff)


def resume_orphans(
    session: Session, outbox: Outbox, settings: Settings, now: datetime
) -> ReapReport:
    """Re-send every unfinished job and pending stream cycle at once: for the embedded mode
    on start, whose in-memory broker lost every message when the process stopped, so no
    worker can still hold one (waiting out the reaper's delays would only leave them idle)."""
    return _resend(session, outbox, settings, now, now)


def _resend(
    session: Session,
    outbox: Outbox,
    settings: Settings,
    queued_cutoff: datetime,
    running_cutoff: datetime,
) -> ReapReport:
    report = ReapReport()
    for job in jobs.silent_since(session, "queued", queued_cutoff, BATCH):
        jobs.mark_sent(session, job.id, "queued")
        outbox.add(TASK_OF_JOB[job.kind], job.id, queue=Queue(job.queue))
        report.resent.append(job.id)
    for job in jobs.silent_since(session, "running", running_cutoff, BATCH):
        if job.attempts >= settings.max_job_attempts:
            message = f"abandoned after {job.attempts} attempts without finishing"
            jobs.fail(session, job.id, {"type": "abandoned", "message": message})
            report.abandoned.append(job.id)
            continue
        jobs.mark_sent(session, job.id, "running")
        outbox.add(TASK_OF_JOB[job.kind], job.id, queue=Queue(job.queue))
        report.requeued.append(job.id)
    for stream_id in stream_repo.with_stale_pending(session, queued_cutoff, BATCH):
        outbox.add(Task.CYCLE, stream_id, queue=stream_service.QUEUE)
        report.streams.append(stream_id)
    return report
