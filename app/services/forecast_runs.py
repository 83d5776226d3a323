"""Forecast jobs on workers: fit (or load) per series, predict, store results."""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from app.services.fitting import (
    device_for,
    driver_arrays,
    fit_spec,
    load_stored,
    screened_record,
    sets_aside,
)
from app.services.job_runner import JobInput, Progress, Store, per_series, run_job, store_rows
from app.services.posted import drivers, gridded
from models.forecasting.anomalies import find_anomalies
from models.forecasting.base import Forecast, Forecaster, floored
from models.forecasting.conformal import calibration_backtest, conformal_adjust
from models.forecasting.faults import as_missing
from models.forecasting.gaps import (
    GapForecaster,
    as_grid,
    has_gaps,
    imputation_template,
)
from models.forecasting.imputation import Imputation, impute
from models.timegrid import Gridded


def _steps(a: np.ndarray, univariate: bool) -> list[Any]:
    """(h, d) -> per-step lists: numbers for univariate series, rows of d otherwise."""
    steps: list[Any] = a[:, 0].tolist() if univariate else a.tolist()
    return steps


def _intervals(
    intervals: dict[float, tuple[np.ndarray, np.ndarray]], univariate: bool
) -> dict[str, dict[str, list[Any]]]:
    return {
        f"{level:g}": {"lower": _steps(lo, univariate), "upper": _steps(hi, univariate)}
        for level, (lo, hi) in intervals.items()
    }


def _require_finite(forecast: Forecast) -> None:
    """NaN or infinity cannot be stored (JSON has no such numbers) and tells a client nothing:
    a model error that fails the job at once, not a database error to retry."""
    arrays = [forecast.mean, forecast.median, forecast.std, *forecast.quantiles.values()]
    arrays += [a for pair in forecast.intervals.values() for a in pair]
    arrays += [forecast.epistemic_std, forecast.aleatoric_std]
    if forecast.samples is not None:
        arrays.append(forecast.samples)
    if not all(np.isfinite(a).all() for a in arrays):
        raise ValueError(
            "the forecast is not finite (NaN or infinity), e.g. because the values' scale "
            "overflows float64 arithmetic; rescale them"
        )


def to_payload(
    forecast: Forecast, univariate: bool, fitted: dict[str, Any], timestamps: list[str] | None
) -> dict[str, Any]:
    _require_finite(forecast)
    payload: dict[str, Any] = {
        "mean": _steps(forecast.mean, univariate),
        "median": _steps(forecast.median, univariate),
        "std": _steps(forecast.std, univariate),
        "epistemic_std": _steps(forecast.epistemic_std, univariate),
        "aleatoric_std": _steps(forecast.aleatoric_std, univariate),
        "intervals": _intervals(forecast.intervals, univariate),
        "quantiles": {f"{q:g}": _steps(v, univariate) for q, v in forecast.quantiles.items()},
        "fitted": fitted,
    }
    if forecast.samples is not None:
        payload["samples"] = [_steps(path, univariate) for path in forecast.samples]
    if timestamps is not None:
        payload["timestamps"] = timestamps
    return payload


def forecast_series(
    factory: sessionmaker[Session],
    s: dict[str, Any],
    job: JobInput,
    seed: int,
    progress: Progress,
) -> dict[str, Any]:
    request = job.request
    nonnegative = request.get("support") == "nonnegative"
    grid = gridded(s)
    y = np.asarray(grid.values if grid else s["values"], dtype=float)  # None -> NaN: missing
    options = {
        "levels": request["levels"],
        "quantiles": request["quantiles"],
        "num_samples": request["num_samples"],
        "seed": seed,
        # A floored forecast is summarised again from its cut paths.
        "return_samples": request["return_samples"] or nonnegative,
    }
    times = [t.isoformat() for t in grid.times] if grid else None
    X, known, driven = driver_arrays(
        drivers(s, grid, request["horizon"]), seed, sets_aside(request)
    )
    ahead = [t.isoformat() for t in grid.after(request["horizon"])] if grid else None
    driver_faults = driven.get("set_aside", [])  # a driver is one series of readings
    located([f for f in driver_faults if not f.get("future")], True, times)
    located([f for f in driver_faults if f.get("future")], True, ahead)
    options["covariates"] = known
    anomalies = request.get("detect_anomalies") or {}
    flagged = None
    if anomalies.get("exclude"):  # judged first, then fitted through as missing values
        flagged = find_anomalies(as_grid(y), anomalies["level"], None, seed)
        y = as_missing(y, flagged)
    model, fitted, forecast, imputation = _fit_and_predict(
        factory, job, y, X, grid, seed, progress, options, sets_aside(request)
    )
    aside = fitted.pop("set_aside", [])
    if driven:
        fitted = {**fitted, "covariates": driven}
    if nonnegative:
        forecast = floored(forecast, 0.0, request["levels"], request["quantiles"],
                           request["return_samples"])  # fmt: skip
    if grid is not None:
        fitted = {**fitted, "grid": grid.info()}
    payload = to_payload(forecast, y.ndim == 1, fitted, ahead)
    if imputation is not None:
        cells = imputation.cells(request["levels"])
        for cell in cells:  # the imputation covers the record from its first reading on
            cell["index"] += fitted.get("leading_missing", 0)
        payload["imputed"] = located(cells, y.ndim == 1, times)
    if anomalies:
        level = anomalies["level"]
        found = (
            flagged
            if flagged is not None
            else find_anomalies(as_grid(y), level, imputation_template(model), seed)
        )
        payload["anomalies"] = located(found, y.ndim == 1, times)
    if aside:
        payload["set_aside"] = located(aside, y.ndim == 1, times)
    if request.get("calibration") == "conformal":
        payload.update(_calibrate(model, as_missing(y, aside), X, forecast, request, seed))
    return payload


def _fit_and_predict(
    factory: sessionmaker[Session],
    job: JobInput,
    y: np.ndarray,
    X: np.ndarray | None,
    grid: Gridded | None,
    seed: int,
    progress: Progress,
    options: dict[str, Any],
    set_aside: bool,
) -> tuple[Forecaster, dict[str, Any], Forecast, Imputation | None]:
    """The model (fitted on y, or a stored version conditioned on it), what its fit chose,
    its forecast, and the draws of y's missing values when it had some. set_aside: y's gross
    faults are missing values to it (`screened`)."""
    spec, horizon = job.model, job.request["horizon"]
    if "version_id" in spec:
        # A stored version is conditioned on the posted series, without refitting.
        model = load_stored(factory, spec)
        _, y, aside = screened_record(y, seed, set_aside)
        fitted = {"stored": spec, **aside}
        if has_gaps(y):
            imp = impute(as_grid(y), template=imputation_template(model), seed=seed)
            model = GapForecaster.around(model, imp)
            return model, fitted, model.predict(horizon, **options), imp
        return model, fitted, model.predict(horizon, context=y, **options), None
    periods = grid.grid.freq.seasons() if grid else []
    model, fitted = fit_spec(spec, y, horizon, seed, progress, periods, X, set_aside)
    imputation = model.imputation_ if isinstance(model, GapForecaster) else None
    return model, fitted, model.predict(horizon, **options), imputation


def located(
    cells: list[dict[str, Any]], univariate: bool, timestamps: list[str] | None
) -> list[dict[str, Any]]:
    """Entries about past readings (`index`, `component`) with their timestamps when the
    series had them, and without `component` for a univariate series."""
    for cell in cells:
        if univariate:
            del cell["component"]
        if timestamps is not None:
            cell["timestamp"] = timestamps[cell["index"]]
    return cells


def _calibrate(
    model: Forecaster,
    y: np.ndarray,
    X: np.ndarray | None,
    forecast: Forecast,
    request: dict[str, Any],
    seed: int,
) -> dict[str, Any]:
    """Split-conformal intervals from backtests of the forecasting model on the posted series
    (each fold forecasts from its own history with the same fitted model, no refit), with its
    drivers X over each fold's horizon as their known future."""
    folds = request["calibration_folds"]
    bt = calibration_backtest(
        model,
        y,
        horizon=request["horizon"],
        folds=folds,
        levels=request["levels"],
        num_samples=min(request["num_samples"], 500),
        seed=seed,
        covariates=X,
    )
    calibrated = conformal_adjust(forecast, bt.scores)
    if request.get("support") == "nonnegative":
        calibrated = {L: (np.maximum(lo, 0.0), hi) for L, (lo, hi) in calibrated.items()}
    return {
        "calibrated_intervals": _intervals(calibrated, y.ndim == 1),
        "calibration": {
            "method": "split_conformal",
            "scores": "the forecasting model's own backtests, conditioned on each origin's "
            "history (no refit)",
            "folds": folds,
            "origins": list(bt.origins),
            "backtest_coverage": {f"{L:g}": float(bt.coverage[L].mean()) for L in bt.levels},
        },
    }


def forecast_compute(factory: sessionmaker[Session]) -> Any:
    def compute(job: JobInput, progress: Progress) -> Store:
        def one(s: dict[str, Any], seed: int, p: Progress) -> dict[str, Any]:
            return forecast_series(factory, s, job, seed, p)

        return store_rows(per_series(job, progress, one))

    return compute


def run(factory: sessionmaker[Session], job_id: str, worker: str) -> str:
    """Run one forecast job to completion; safe to call again for the same job."""
    return run_job(factory, job_id, worker, forecast_compute(factory), device_for)
