"""Training a model version on workers: fit, serialise to safetensors, record the version."""

from __future__ import annotations

import hashlib
import time
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from app.db.repositories import model_versions
from app.db.tables import ModelVersion
from app.services import observers
from app.services.fitting import (
    device_for,
    driver_arrays,
    fit_library,
    fit_spec,
    sets_aside,
)
from app.services.job_runner import JobInput, Progress, Store, run_job
from app.services.posted import driver_names, drivers, gridded, values_of
from app.version import code_version
from models.forecasting.registry import AUTO
from models.forecasting.serialize import dumps

VALIDATION_HORIZON = 10  # what "auto" scores candidates on when training a version


def fingerprint(*series: np.ndarray) -> str:
    """sha256 of the training data (each series' shape and float64 bytes, in order)."""
    digest = hashlib.sha256()
    for i, values in enumerate(series):
        # the first series alone hashes as it always has: old fingerprints stay comparable
        digest.update((str(values.shape) if i == 0 else f"|{values.shape}").encode())
        digest.update(np.ascontiguousarray(values, dtype=np.float64).tobytes())
    return digest.hexdigest()


class Trained(NamedTuple):
    """What a version records of its training."""

    kind: str
    params: dict[str, Any]
    artifact: bytes
    data_fingerprint: str
    metrics: dict[str, Any]


def _fit_forecaster(job: JobInput, progress: Progress) -> Trained:
    """A forecaster fitted on the posted series."""
    spec = job.model
    ys = [np.asarray(values_of(s), dtype=float) for s in job.request["series"]]
    y = ys[0]
    started = time.monotonic()
    set_aside = sets_aside(job.request)
    if len(ys) > 1:  # a reference library (the schema allows it for library kinds only)
        model, fitted = fit_library(spec, ys, progress, job.seed, set_aside)
    else:
        first = job.request["series"][0]
        X, _, driven = driver_arrays(drivers(first, gridded(first), 0), job.seed, set_aside)
        model, fitted = fit_spec(
            spec, y, VALIDATION_HORIZON, job.seed, progress, covariates=X, set_aside=set_aside
        )
        if driven:
            fitted = {**fitted, "covariates": driven}
    seconds = time.monotonic() - started
    kind, params = spec["kind"], spec.get("params", {})
    if kind == AUTO:  # the version is the chosen concrete model
        kind = fitted["auto"]["choice"]
        params = params[kind]
    metrics = {
        "fitted": fitted,
        "train_seconds": round(seconds, 3),
        "n_obs": int(y.shape[0]),
        # The shortest series a forecast with this version can be conditioned on.
        "min_context": model.window_shape_[0],
        "device": device_for(spec),
        # What a forecast with this version must bring: the same drivers, with their future.
        "drivers": driver_names(job.request["series"][0]),
    }
    return Trained(kind, params, dumps(model), fingerprint(*ys), metrics)


def _train_observer(job: JobInput, progress: Progress) -> Trained:
    """A neural observer trained on simulations of its dynamics (no series)."""
    params = job.model["params"]
    started = time.monotonic()
    artifact, metrics = observers.train(params, job.seed, progress)
    metrics |= {"train_seconds": round(time.monotonic() - started, 3)}
    return Trained(
        "observer", params, artifact, observers.simulation_fingerprint(params, job.seed), metrics
    )


def train_compute(job: JobInput, progress: Progress) -> Store:
    request = job.request
    trainer = _train_observer if job.model["kind"] == "observer" else _fit_forecaster
    kind, params, artifact, data_fingerprint, metrics = trainer(job, progress)

    def store(session: Session, job_id: str) -> dict[str, Any]:
        existing = model_versions.by_job(session, job_id)
        if existing is not None:  # a redelivered task: the version is already recorded
            return {"model": existing.name, "version": existing.version}
        tenant_id = job.tenant_id
        parent = model_versions.latest(session, tenant_id, request["name"])
        version = model_versions.add(
            session,
            ModelVersion(
                tenant_id=tenant_id,
                name=request["name"],
                version=(parent.version + 1) if parent else 1,
                kind=kind,
                params=params,
                artifact=artifact,
                data_fingerprint=data_fingerprint,
                metrics=metrics,
                code_version=code_version(),
                parent_id=parent.id if parent else None,
                job_id=job_id,
            ),
        )
        return {"model": version.name, "version": version.version}

    return store


def run(factory: sessionmaker[Session], job_id: str, worker: str) -> str:
    return run_job(factory, job_id, worker, train_compute, device_for)
