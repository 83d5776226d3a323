"""Turning a job's model spec into a fitted forecaster (worker side).

A spec is {"kind": a registered kind or "auto", "params": {...}} to fit on the series, or a
stored version {"name", "version", "kind", "version_id"} to load.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from app.db.repositories import model_versions
from models.forecasting.auto import fit_auto
from models.forecasting.base import Forecaster, LibraryForecaster
from models.forecasting.registry import AUTO, accelerated, make_forecaster
from models.forecasting.serialize import loads
from models.forecasting.torch_runtime import resolve_device

Progress = Callable[[float], None]


def device_for(model: dict[str, Any]) -> str:
    """Where the job's numerics run: neural kinds use the GPU when there is one."""
    return resolve_device(None).type if accelerated(model.get("kind", "")) else "cpu"


def fit_spec(
    spec: dict[str, Any], y: np.ndarray, horizon: int, seed: int, progress: Progress
) -> tuple[Forecaster, dict[str, Any]]:
    """Fit a forecaster on y; returns it with what the fit chose (for the result's `fitted`)."""
    kind, params = spec["kind"], spec.get("params", {})
    if kind != AUTO:
        model = make_forecaster(kind, params).fit(y, progress=progress)
        return model, dict(model.params_)
    model, choice, scores = fit_auto(
        y,
        params,
        horizon=horizon,
        val_fraction=params["val_fraction"],
        seed=seed,
        progress=progress,
    )
    return model, {**model.params_, "auto": {"choice": choice, "validation_crps": scores}}


def fit_library(
    spec: dict[str, Any], series: Sequence[np.ndarray], progress: Progress
) -> tuple[Forecaster, dict[str, Any]]:
    """A library kind fitted on several series (the first is its own)."""
    model = make_forecaster(spec["kind"], spec.get("params", {}))
    if not isinstance(model, LibraryForecaster):
        raise ValueError(f"{spec['kind']} does not keep a library of series")
    model = model.fit_library(series, progress=progress)
    return model, dict(model.params_)


def load_stored(factory: sessionmaker[Session], spec: dict[str, Any]) -> Forecaster:
    """The stored version a resolved spec {"name", "version", "version_id"} pins."""
    with factory() as session:
        return load_version(session, spec["version_id"])


def load_version(session: Session, version_id: str) -> Forecaster:
    version = model_versions.get_by_id(session, version_id)
    if version is None or version.artifact is None:
        raise ValueError(f"model version {version_id} has no artifact")
    what = f"model {version.name!r} version {version.version}"
    try:
        return loads(version.artifact)  # safetensors only: stored bytes are never unpickled
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from exc
