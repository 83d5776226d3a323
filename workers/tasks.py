"""Thin tasks. Each loads by id, calls one service function, and commits through it.

Retries are bounded and only for errors that a later attempt can outlive (the
database or broker being unreachable); a model error fails the job at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app import context
from app.config import get_settings
from app.db.base import utcnow
from app.db.repositories import jobs
from app.db.session import get_sessionmaker
from app.queue import Outbox, Queue, Task, clear_cycle_due
from app.services import backtest_runs, forecast_runs, model_version_runs, reaper, stream_runs
from workers.celery_app import celery_app

log = logging.getLogger(__name__)

# The database or broker out of reach, or a unique-key race (two versions of one model
# numbered at once) that a retry re-reads past. Not DBAPIError as a whole: a DataError or
# ProgrammingError fails the same way every time, so it fails the job with its error.
RETRYABLE = (OperationalError, InterfaceError, IntegrityError, ConnectionError)
JobRunner = Callable[[sessionmaker[Session], str, str], str]


def _backoff(retries: int) -> float:
    return float(min(2**retries, 30))


def _factory() -> sessionmaker[Session]:
    return get_sessionmaker(get_settings().database_url, worker=True)


def _run_job(task: Any, job_id: str, runner: JobRunner) -> str:
    with context.bound(job_id=job_id):
        return _run_job_logged(task, job_id, runner)


def _run_job_logged(task: Any, job_id: str, runner: JobRunner) -> str:
    factory = _factory()
    try:
        return runner(factory, job_id, task.request.hostname or "worker")
    except RETRYABLE as exc:
        if task.request.retries >= get_settings().task_max_retries:
            raise
        log.warning("job %s: retryable %s; retrying", job_id, type(exc).__name__)
        raise task.retry(exc=exc, countdown=_backoff(task.request.retries)) from exc
    except Exception as exc:
        # A poison job: record why, and do not loop.
        log.exception("job %s failed", job_id)
        with factory.begin() as session:
            jobs.fail(session, job_id, {"type": type(exc).__name__, "message": str(exc)})
        return "failed"


@celery_app.task(name=Task.FORECAST.value, bind=True, acks_late=True, max_retries=None)
def run_forecast(self: Any, job_id: str) -> str:
    return _run_job(self, job_id, forecast_runs.run)


@celery_app.task(name=Task.BACKTEST.value, bind=True, acks_late=True, max_retries=None)
def run_backtest(self: Any, job_id: str) -> str:
    return _run_job(self, job_id, backtest_runs.run)


@celery_app.task(name=Task.TRAIN.value, bind=True, acks_late=True, max_retries=None)
def train_model(self: Any, job_id: str) -> str:
    return _run_job(self, job_id, model_version_runs.run)


@celery_app.task(name=Task.STREAM_FORECAST.value, bind=True, acks_late=True, max_retries=None)
def stream_forecast(self: Any, job_id: str) -> str:
    return _run_job(self, job_id, stream_runs.run_forecast)


@celery_app.task(name=Task.CYCLE.value, bind=True, acks_late=True, max_retries=None)
def assimilation_cycle(self: Any, stream_id: str) -> int:
    with context.bound(stream_id=stream_id):
        return _cycle(self, stream_id)


def _cycle(task: Any, stream_id: str) -> int:
    clear_cycle_due(get_settings().broker_url, stream_id)  # before it reads: see app.queue
    try:
        outcome = stream_runs.cycle(_factory(), stream_id)
    except RETRYABLE as exc:
        # Observations stay pending in the database; a later cycle assimilates them.
        if task.request.retries >= get_settings().task_max_retries:
            raise
        raise task.retry(exc=exc, countdown=_backoff(task.request.retries)) from exc
    if outcome.retry_in_s is not None:
        # A missing seq is awaited; come back when its timeout is up.
        assimilation_cycle.apply_async(
            args=[stream_id], countdown=outcome.retry_in_s, queue=Queue.CPU.value
        )
    return outcome.assimilated


@celery_app.task(name=Task.REAP.value, acks_late=True, ignore_result=True)
def reap() -> dict[str, int]:
    settings = get_settings()
    outbox = Outbox()
    with _factory().begin() as session:
        report = reaper.reap(session, outbox, settings, utcnow())
    outbox.flush(settings)  # after the commit, like every other send
    counts = {k: len(v) for k, v in vars(report).items()}
    if any(counts.values()):
        log.warning("reaper re-sent silent work: %s", counts)
    return counts
