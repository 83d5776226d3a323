"""Running a forecast job: fit each series, forecast, store the results (worker side)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from app.db.repositories import forecast_results, jobs
from app.services.errors import InputError
from models.forecasting import BayesianAR, Forecast, Forecaster

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 0.5


class Cancelled(Exception):
    """The job stopped being ours to run (cancelled, or finished by another delivery)."""


def build_forecaster(model: dict[str, Any]) -> Forecaster:
    if model["kind"] == "bayes_ar":
        return BayesianAR(**model.get("params", {}))
    raise InputError("model.kind", f"unknown model kind {model['kind']!r}")


def series_seed(seed: int, index: int) -> int:
    """Independent, reproducible streams per series from the job's seed."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def _steps(a: np.ndarray, univariate: bool) -> list[Any]:
    """(h, d) -> per-step lists: numbers for univariate series, rows of d otherwise."""
    return a[:, 0].tolist() if univariate else a.tolist()


def future_timestamps(timestamps: list[str] | None, horizon: int) -> list[str] | None:
    """Continue evenly spaced input timestamps; None when the spacing is irregular."""
    if not timestamps or len(timestamps) < 2:
        return None
    times = [datetime.fromisoformat(t) for t in timestamps]
    steps = {b - a for a, b in zip(times, times[1:], strict=False)}
    if len(steps) != 1:
        return None
    (step,) = steps
    return [(times[-1] + step * (k + 1)).isoformat() for k in range(horizon)]


def to_payload(
    forecast: Forecast, univariate: bool, fitted: dict[str, Any], timestamps: list[str] | None
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "mean": _steps(forecast.mean, univariate),
        "median": _steps(forecast.median, univariate),
        "std": _steps(forecast.std, univariate),
        "epistemic_std": _steps(forecast.epistemic_std, univariate),
        "aleatoric_std": _steps(forecast.aleatoric_std, univariate),
        "intervals": {
            f"{level:g}": {"lower": _steps(lo, univariate), "upper": _steps(hi, univariate)}
            for level, (lo, hi) in forecast.intervals.items()
        },
        "quantiles": {f"{q:g}": _steps(v, univariate) for q, v in forecast.quantiles.items()},
        "fitted": fitted,
    }
    if forecast.samples is not None:
        payload["samples"] = [_steps(path, univariate) for path in forecast.samples]
    if timestamps is not None:
        payload["timestamps"] = timestamps
    return payload


def forecast_series(series: dict[str, Any], request: dict[str, Any], seed: int) -> dict[str, Any]:
    values = np.asarray(series["values"], dtype=float)
    univariate = values.ndim == 1
    model = build_forecaster(request["model"]).fit(values)
    forecast = model.predict(
        request["horizon"],
        levels=request["levels"],
        quantiles=request["quantiles"],
        num_samples=request["num_samples"],
        seed=seed,
        return_samples=request["return_samples"],
    )
    timestamps = future_timestamps(series.get("timestamps"), request["horizon"])
    return to_payload(forecast, univariate, model.params_, timestamps)


def run(factory: sessionmaker[Session], job_id: str, worker: str) -> str:
    """Run one forecast job to completion; safe to call again for the same job.

    Returns the job's final status as seen by this call. Database errors
    propagate (the task retries them); model errors fail the job.
    """
    with factory.begin() as session:
        job = jobs.get(session, job_id)
        if job is None:
            log.warning("forecast job %s does not exist; dropping the task", job_id)
            return "missing"
        if not jobs.claim(session, job_id, worker=worker, device="cpu"):
            return job.status
        request, seed = job.request, job.seed

    started = time.monotonic()
    try:
        rows = _forecast_all(factory, job_id, request, seed)
    except Cancelled:
        return "cancelled"
    except (ValueError, np.linalg.LinAlgError) as exc:
        with factory.begin() as session:
            jobs.fail(session, job_id, {"type": "model_error", "message": str(exc)})
        return "failed"

    with factory.begin() as session:
        if jobs.lock_status(session, job_id) != "running":
            return "cancelled"
        forecast_results.replace_for_job(session, job_id, rows)
        jobs.succeed(session, job_id, {"duration_s": round(time.monotonic() - started, 4)})
    return "succeeded"


def _forecast_all(
    factory: sessionmaker[Session], job_id: str, request: dict[str, Any], seed: int
) -> list[tuple[str, dict[str, Any]]]:
    series = request["series"]
    report = _progress_reporter(factory, job_id, len(series))
    rows = []
    for i, s in enumerate(series):
        rows.append((s["id"], forecast_series(s, request, series_seed(seed, i))))
        report(i + 1)
    return rows


def _progress_reporter(
    factory: sessionmaker[Session], job_id: str, total: int
) -> Callable[[int], None]:
    """Commit progress at most every PROGRESS_EVERY_S, and notice cancellation when doing so."""
    last = time.monotonic()

    def report(done: int) -> None:
        nonlocal last
        if done < total and time.monotonic() - last < PROGRESS_EVERY_S:
            return
        last = time.monotonic()
        with factory.begin() as session:
            if not jobs.set_progress(session, job_id, min(done / total, 0.99)):
                raise Cancelled

    return report
