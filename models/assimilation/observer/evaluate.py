"""Scoring a neural observer in a twin experiment."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from models.assimilation.observer.model import NeuralObserver
from models.assimilation.observer.train import climatology
from models.dynamics.base import Dynamics, integrate


@dataclass(frozen=True)
class ObserverScore:
    """Twin-experiment scores, averaged over the cycles after burn-in (as DAPPER does): RMSE
    of the members' mean analysis and the total spread, sqrt(member variance + mean
    predicted variance), each first over the state then over cycles."""

    rmse: float
    spread: float
    cycles: int


def evaluate(
    model: NeuralObserver,
    dynamics: Dynamics,
    interval: float,
    dt: float,
    cycles: int = 1000,
    burn_in: int = 200,
    seed: int = 12345,
) -> ObserverScore:
    """Filter one fresh truth run (its own seed) from a climatological start."""
    g = torch.Generator().manual_seed(seed)
    truth = climatology(dynamics, 1, dt, g, spinup=20.0)[0]
    Xa = truth + model.std * torch.randn(
        (model.members, dynamics.n), generator=g, dtype=truth.dtype
    )
    noise = model.obs.std.to(truth.dtype)
    se, spread = [], []
    memory = model.start_memory(Xa)
    with torch.no_grad():
        for k in range(burn_in + cycles):
            truth = integrate(dynamics, truth, 0.0, interval, dt)
            y = model.obs.H_apply(truth) + noise * torch.randn(
                model.obs.m, generator=g, dtype=truth.dtype
            )
            _, Xa, var, memory = model.cycle(dynamics, Xa, 0.0, interval, dt, y, memory)
            if k >= burn_in:
                se.append(float((Xa.mean(0) - truth).pow(2).mean().sqrt()))
                spread.append(float((Xa.var(0, unbiased=False) + var.mean(0)).mean().sqrt()))
    return ObserverScore(rmse=sum(se) / cycles, spread=sum(spread) / cycles, cycles=cycles)
