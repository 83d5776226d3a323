"""Backtest jobs on workers: a rolling-origin evaluation of a kind on each posted series."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from app.services.fitting import SpecFit, device_for, driver_arrays, sets_aside
from app.services.forecast_runs import located
from app.services.job_runner import JobInput, Progress, Store, per_series, run_job, store_rows
from app.services.posted import drivers, gridded
from models.forecasting.backtest import rolling_origin


def compute(job: JobInput, progress: Progress) -> Store:
    request = job.request
    set_aside, horizon = sets_aside(request), request["horizon"]

    def one(s: dict[str, Any], seed: int, p: Progress) -> dict[str, Any]:
        # Each fold is fitted as a forecast would be: through its gaps and its gross faults
        # (scores skip the missing test values), with the seasons of the series' time grid,
        # and with its drivers, whose values over each fold's horizon are their known future.
        grid = gridded(s)
        y = np.asarray(grid.values if grid else s["values"], dtype=float)
        found = drivers(s, grid, horizon)
        history = found and replace(found, future=None)  # a posted future is not scored
        X, _, driven = driver_arrays(history, seed, set_aside)
        times = [t.isoformat() for t in grid.times] if grid else None
        located(driven.get("set_aside", []), True, times)  # a driver is one series of readings
        periods = grid.grid.freq.seasons() if grid else []
        result = rolling_origin(
            y,
            lambda: SpecFit(job.model, horizon, seed, set_aside, periods),
            horizon=horizon,
            folds=request["folds"],
            levels=request["levels"],
            num_samples=request["num_samples"],
            seed=seed,
            lyapunov_time=request.get("lyapunov_time"),
            dt=request.get("dt", 1.0),
            progress=p,
            covariates=X,
        )
        return result.to_dict(arrays=False) | ({"covariates": driven} if driven else {})

    return store_rows(per_series(job, progress, one))


def run(factory: sessionmaker[Session], job_id: str, worker: str) -> str:
    return run_job(factory, job_id, worker, compute, device_for)
