"""Running a forecast job: fit each series, forecast, store the results (worker side)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from app.services.errors import InputError
from app.services.job_runner import Progress, Rows, run_job
from models.forecasting import BayesianAR, Forecast, Forecaster


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


def compute(request: dict[str, Any], seed: int, progress: Progress) -> Rows:
    series = request["series"]
    rows = []
    for i, s in enumerate(series):
        rows.append((s["id"], forecast_series(s, request, series_seed(seed, i))))
        progress((i + 1) / len(series))
    return rows


def run(factory: sessionmaker[Session], job_id: str, worker: str) -> str:
    """Run one forecast job to completion; safe to call again for the same job."""
    return run_job(factory, job_id, worker, device="cpu", compute=compute)
