"""Which errors a task retries: the database out of reach, yes; a poison job, no."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy.exc import DataError, OperationalError

from app.config import Settings
from app.db.repositories import jobs
from app.db.session import get_sessionmaker
from tests.app.test_reaper import make_job
from workers import tasks


class Retry(Exception):
    pass


def fake_task() -> Any:
    def retry(exc: Exception, countdown: float) -> Retry:
        return Retry(exc)

    return SimpleNamespace(request=SimpleNamespace(hostname="w@test", retries=0), retry=retry)


def raising(exc: Exception) -> tasks.JobRunner:
    def runner(*_: object) -> str:
        raise exc

    return runner


def test_unreachable_database_is_retried(settings: Settings, headers: dict[str, str]) -> None:
    job_id = make_job(settings, headers, "queued", age_s=0)
    with pytest.raises(Retry):
        tasks._run_job(fake_task(), job_id, raising(OperationalError("SELECT", {}, Exception())))


def test_data_error_fails_the_job_at_once(settings: Settings, headers: dict[str, str]) -> None:
    # The same every time (e.g. NaN refused by JSONB): retrying it only hides its reason.
    job_id = make_job(settings, headers, "queued", age_s=0)
    error = DataError("INSERT", {}, Exception('Token "NaN" is invalid'))
    assert tasks._run_job(fake_task(), job_id, raising(error)) == "failed"
    with get_sessionmaker(settings.database_url)() as session:
        job = jobs.get(session, job_id)
        assert job is not None and job.status == "failed"
        assert job.error is not None and job.error["type"] == "DataError"
