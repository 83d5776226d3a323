"""Thin tasks. Each loads by id, calls one service function, and commits through it.

Retries are bounded and only for errors that a later attempt can outlive (the
database or broker being unreachable); a model error fails the job at once.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.exc import DBAPIError, OperationalError

from app.config import get_settings
from app.db.repositories import jobs
from app.db.session import get_sessionmaker
from app.services import forecast_runs
from workers.celery_app import celery_app

log = logging.getLogger(__name__)

RETRYABLE = (OperationalError, DBAPIError, ConnectionError)


def _backoff(retries: int) -> float:
    return float(min(2**retries, 30))


@celery_app.task(name="forecast.run", bind=True, acks_late=True, max_retries=None)
def run_forecast(self: Any, job_id: str) -> str:
    settings = get_settings()
    factory = get_sessionmaker(settings.database_url)
    try:
        return forecast_runs.run(factory, job_id, worker=self.request.hostname or "worker")
    except RETRYABLE as exc:
        if self.request.retries >= settings.task_max_retries:
            raise
        log.warning("forecast %s: retryable %s; retrying", job_id, type(exc).__name__)
        raise self.retry(exc=exc, countdown=_backoff(self.request.retries)) from exc
    except Exception as exc:
        # A poison job: record why, and do not loop.
        log.exception("forecast %s failed", job_id)
        with factory.begin() as session:
            jobs.fail(session, job_id, {"type": type(exc).__name__, "message": str(exc)})
        return "failed"
