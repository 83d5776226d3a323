"""Job resource schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]


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
    "model": {"kind": "bayes_ar", "params": {"max_lag": 12}},
    "queue": "cpu",
    "seed": 0,
    "attempts": 1,
    "device": "cpu",
    "worker": "celery@host",
    "code_version": "0.1.0",
}
JOB_LIST_EXAMPLE: dict[str, Any] = {"items": [JOB_EXAMPLE], "next_cursor": None}
