"""Job resource schemas.

Every response schema maps its rows one way: `XRead.of(row, ...)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field

from app.db.base import utcnow
from app.db.tables import ForecastResult, Job, JobStatus
from models.forecasting.registry import DEFAULT_KIND


class JobRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    status: JobStatus
    progress: float = Field(description="0 to 1")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: dict[str, Any] | None = Field(description='{"type", "message"} when the job failed')
    model: dict[str, Any]
    queue: str = Field(description="Celery queue: cpu, or gpu for neural models")
    seed: int
    attempts: int
    device: str | None
    worker: str | None
    code_version: str
    summary: dict[str, Any] | None = Field(
        None,
        description="What the job did, once it succeeded: its duration, and for a training "
        'the version it created ({"model", "version"})',
    )
    eta_s: float | None = Field(
        None,
        description="Seconds left while it runs, at the pace of its progress so far "
        "(elapsed x (1 - progress) / progress); null before its first progress report",
    )

    @classmethod
    def of(cls, job: Job, results: Sequence[ForecastResult] = ()) -> Self:
        """The job, with the result its rows make once it has succeeded."""
        read = cls.model_validate(job, from_attributes=True)
        read.eta_s = eta(job, utcnow())
        if job.status == JobStatus.SUCCEEDED:
            read.set_result(results)
        return read

    def set_result(self, results: Sequence[ForecastResult]) -> None:
        """A job kind with a result (a forecast, a backtest) shapes it from its rows."""


def eta(job: Job, now: datetime) -> float | None:
    """A running job's seconds left, extrapolated from its progress since it started."""
    p = job.progress
    if job.status != JobStatus.RUNNING or job.started_at is None or not 0 < p < 1:
        return None
    started = job.started_at if job.started_at.tzinfo else job.started_at.replace(tzinfo=UTC)
    elapsed = max((now - started).total_seconds(), 0.0)
    return round(elapsed * (1 - p) / p, 1)


class JobList(BaseModel):
    items: list[JobRead]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page")


JOB_EXAMPLE: dict[str, Any] = {
    "id": "5f0c3c1e-8a51-4d3b-9a57-0f1e2d3c4b5a",
    "kind": "forecast",
    "status": "succeeded",
    "progress": 1.0,
    "created_at": "2026-11-27T12:00:00Z",
    "started_at": "2026-11-27T12:00:00.050Z",
    "finished_at": "2026-11-27T12:00:00.120Z",
    "error": None,
    "model": {"kind": DEFAULT_KIND, "params": {}},
    "queue": "cpu",
    "seed": 0,
    "attempts": 1,
    "device": "cpu",
    "worker": "celery@host",
    "code_version": "0.1.0",
}
JOB_LIST_EXAMPLE: dict[str, Any] = {"items": [JOB_EXAMPLE], "next_cursor": None}
