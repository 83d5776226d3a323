"""Backtest jobs on workers: a rolling-origin evaluation of a kind on each posted series."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from app.services.fitting import SpecFit, device_for, sets_aside
from app.services.job_runner import JobInput, Progress, Store, per_series, run_job, store_rows
from app.services.posted import values_of
from models.forecasting.backtest import rolling_origin


def compute(job: JobInput, progress: Progress) -> Store:
    request = job.request
    set_aside = sets_aside(request)

    def one(s: dict[str, Any], seed: int, p: Progress) -> dict[str, Any]:
        # Each fold is fitted as a forecast would be: through its gaps and its gross faults
        # (scores skip the missing test values).
        result = rolling_origin(
            np.asarray(values_of(s), dtype=float),
            partial(SpecFit, job.model, request["horizon"], seed, set_aside),
            horizon=request["horizon"],
            folds=request["folds"],
            levels=request["levels"],
            num_samples=request["num_samples"],
            seed=seed,
            lyapunov_time=request.get("lyapunov_time"),
            dt=request.get("dt", 1.0),
            progress=p,
        )
        return result.to_dict(arrays=False)

    return store_rows(per_series(job, progress, one))


def run(factory: sessionmaker[Session], job_id: str, worker: str) -> str:
    return run_job(factory, job_id, worker, compute, device_for)
