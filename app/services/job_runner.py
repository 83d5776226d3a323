"""Running any job: claim it, compute (numerics, outside any transaction), store, finish.

Safe to call again for the same job (a redelivered task): a final job is left alone,
stored results are replaced or unique, and a cancelled job is not overwritten.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from app.db.repositories import forecast_results, jobs
from models.seeding import derived_seed

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 0.5

Progress = Callable[[float], None]
Rows = list[tuple[str, dict[str, Any]]]
# A series' result from (the posted series, its seed, its progress reporter).
PerSeries = Callable[[dict[str, Any], int, Progress], dict[str, Any]]
# Writes the results inside the final transaction; returns extra summary for the job.
Store = Callable[[Session, str], dict[str, Any] | None]


@dataclass(frozen=True)
class JobInput:
    tenant_id: str
    request: dict[str, Any]
    model: dict[str, Any]
    seed: int


Compute = Callable[[JobInput, Progress], Store]


class Cancelled(Exception):
    """The job stopped being ours to run (cancelled, or finished by another delivery)."""


def store_rows(rows: Rows) -> Store:
    """A Store that writes forecast-shaped result rows, one per series."""

    def store(session: Session, job_id: str) -> None:
        forecast_results.replace_for_job(session, job_id, rows)

    return store


def run_job(
    factory: sessionmaker[Session],
    job_id: str,
    worker: str,
    compute: Compute,
    device: Callable[[dict[str, Any]], str] = lambda _model: "cpu",
) -> str:
    """Returns the job's final status as seen by this call. Database errors propagate (the
    task retries them); ValueError/LinAlgError from the numerics fail the job."""
    with factory.begin() as session:
        job = jobs.get(session, job_id)
        if job is None:
            log.warning("job %s does not exist; dropping the task", job_id)
            return "missing"
        ran_on = (worker, device(job.model))
        if not jobs.claim(session, job_id, worker=ran_on[0], device=ran_on[1]):
            return job.status
        job_input = JobInput(job.tenant_id, job.request, job.model, job.seed)

    started = time.monotonic()
    try:
        store = compute(job_input, progress_reporter(factory, job_id))
    except Cancelled:
        return "cancelled"
    except (ValueError, np.linalg.LinAlgError) as exc:
        with factory.begin() as session:
            jobs.fail(session, job_id, {"type": "model_error", "message": str(exc)})
        return "failed"

    with factory.begin() as session:
        if jobs.lock_status(session, job_id) != "running":
            return "cancelled"
        extra = store(session, job_id) or {}
        summary = {"duration_s": round(time.monotonic() - started, 4), **extra}
        jobs.succeed(session, job_id, summary, ran_on)
    return "succeeded"


def progress_reporter(factory: sessionmaker[Session], job_id: str) -> Progress:
    """Commit progress at most every PROGRESS_EVERY_S, and notice cancellation when doing so."""
    last = time.monotonic()

    def report(fraction: float) -> None:
        nonlocal last
        if time.monotonic() - last < PROGRESS_EVERY_S:
            return
        last = time.monotonic()
        with factory.begin() as session:
            if not jobs.set_progress(session, job_id, min(fraction, 0.99)):
                raise Cancelled

    return report


def per_series(job: JobInput, progress: Progress, one: PerSeries) -> Rows:
    """One result row per posted series: `one(series, seed, progress)` with an independent seed
    per series (derived from the job's) and its share of the job's progress."""
    series = job.request["series"]
    rows = []
    for i, s in enumerate(series):

        def within(f: float, i: int = i) -> None:
            progress((i + f) / len(series))

        rows.append((s["id"], one(s, derived_seed(job.seed, i), within)))
        progress((i + 1) / len(series))
    return rows
