"""Turning a job's model spec into a fitted forecaster (worker side).

A spec is {"kind": "bayes_ar" | "bayes_ar_bma" | "ensemble" | "auto", "params": {...}} to fit
on the series, or a stored version {"name", "version", "kind", "version_id"} to load.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from sqlalchemy.orm import Session, sessionmaker

from app.db.repositories import model_versions
from models.forecasting import Forecaster, loads, make_forecaster, select_by_crps

Progress = Callable[[float], None]
NEURAL = {"ensemble", "auto"}


def device_for(model: dict[str, Any]) -> str:
    """Where the job's numerics run: neural kinds use the GPU when there is one."""
    neural = model.get("kind") in NEURAL
    return "cuda" if neural and torch.cuda.is_available() else "cpu"


def _fit(kind: str, params: dict[str, Any], y: np.ndarray, progress: Progress) -> Forecaster:
    model = make_forecaster(kind, params)
    if kind == "ensemble":
        return model.fit(y, progress=progress)  # type: ignore[call-arg]
    return model.fit(y)


def fit_spec(
    spec: dict[str, Any], y: np.ndarray, horizon: int, seed: int, progress: Progress
) -> tuple[Forecaster, dict[str, Any]]:
    """Fit a forecaster on y; returns it with what the fit chose (for the result's `fitted`)."""
    kind, params = spec["kind"], spec.get("params", {})
    if kind != "auto":
        model = _fit(kind, params, y, progress)
        return model, dict(model.params_)
    candidates = {  # simplest first: the one-standard-error rule prefers the earlier
        kind: (lambda kind=kind: make_forecaster(kind, params[kind]))
        for kind in ("bayes_ar", "bayes_ar_bma", "ensemble")
    }
    choice, scores = select_by_crps(
        y, candidates, horizon=horizon, val_fraction=params["val_fraction"], seed=seed
    )
    progress(0.5)
    model = _fit(choice, params[choice], y, lambda f: progress(0.5 + f / 2))
    fitted = dict(model.params_)
    fitted["auto"] = {"choice": choice, "validation_crps": scores}
    return model, fitted


def load_stored(factory: sessionmaker[Session], spec: dict[str, Any]) -> Forecaster:
    with factory() as session:
        return load_version(session, spec)


def load_version(session: Session, spec: dict[str, Any]) -> Forecaster:
    """The stored version a resolved spec {"name", "version", "version_id"} pins."""
    version = model_versions.get_by_id(session, spec["version_id"])
    if version is None or version.artifact is None:
        raise ValueError(f"model {spec['name']!r} version {spec['version']} has no artifact")
    return loads(version.artifact)  # safetensors only: stored bytes are never unpickled
