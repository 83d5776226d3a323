"""Neural observers on workers: train one as a model version, load one for a stream.

An observer version is trained on simulations of the dynamics and observation operator in
its params (no series); its artifact is safetensors bytes, never unpickled.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from app.db.repositories import model_versions
from app.services import artifacts
from models.assimilation import LinearObs
from models.assimilation.observer import NeuralObserver, ObserverConfig, evaluate, train_observer
from models.dynamics import Dynamics, make_dynamics
from models.forecasting.torch_runtime import resolve_device


def numerics(params: dict[str, Any]) -> tuple[Dynamics, LinearObs, float, float]:
    """(dynamics, observation operator, observation interval, integration step) of params."""
    dyn, obs = params["dynamics"], params["observation"]
    dynamics = make_dynamics(dyn["system"], dyn["params"])
    operator = LinearObs(dynamics.n, indices=obs["indices"], noise_std=obs["noise_std"])
    dt = float(dyn["dt"])
    return dynamics, operator, float(params.get("interval") or dt), dt


def simulation_fingerprint(params: dict[str, Any], seed: int) -> str:
    """sha256 of what the training data is simulated from (there is no dataset)."""
    canonical = json.dumps({"params": params, "seed": seed}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def train(
    params: dict[str, Any], seed: int, progress: Callable[[float], object]
) -> tuple[bytes, dict[str, Any]]:
    """Train (on the GPU where there is one), then score on a fresh twin experiment on the
    CPU, where streams run it; returns (artifact, metrics)."""
    dynamics, obs, interval, dt = numerics(params)
    fields = ObserverConfig.__dataclass_fields__
    config = ObserverConfig(**{k: v for k, v in params.items() if k in fields})
    device = resolve_device(None)
    model = train_observer(
        dynamics, obs, interval, dt, config, seed, lambda f: progress(0.9 * f), device=device
    )
    score = evaluate(model, dynamics, interval, dt)
    progress(1.0)
    metrics = {
        "device": device.type,
        "twin_rmse": score.rmse,
        "twin_spread": score.spread,
        "twin_cycles": score.cycles,
        "obs_noise_std": float(obs.std.mean()),
    }
    return model.dumps(), metrics


def load(session: Session, version_id: str) -> NeuralObserver:
    """The stored observer of a version (decoded once per process)."""

    def decode() -> NeuralObserver:
        version = model_versions.get_by_id(session, version_id)
        if version is None or version.artifact is None or version.kind != "observer":
            raise ValueError(f"observer version {version_id} is missing")
        return NeuralObserver.loads(version.artifact)

    return artifacts.cached(version_id, decode)
