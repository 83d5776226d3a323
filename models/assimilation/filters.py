"""One `Filter` protocol for every online corrector: the EnKF family and the neural observer.

A filter's `cycle` forecasts the members from t0 to t1 with the dynamics, then corrects them
with the observation y at t1, and says what a stream stores of the cycle (`CycleAnalysis`).
A stream (`models.assimilation.stream`) owns the dynamics and the keyed randomness and calls
one filter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from models.assimilation.config import FilterConfig, analysis
from models.assimilation.observation import LinearObs
from models.assimilation.observer import NeuralObserver
from models.dynamics.base import Dynamics, integrate


@dataclass(frozen=True, eq=False)
class CycleAnalysis:
    """One cycle's outcome. E: (N, n) analysis members; extra_var: (n,) variance the members
    do not show (a neural observer's predicted error variance; None for the EnKF family);
    innovation_rms: RMS of y - H mean(forecast); inflation: the factor used (mean over grid
    points when it varies), None where there is none."""

    E: Tensor
    extra_var: Tensor | None
    innovation_rms: float
    inflation: float | None


@runtime_checkable
class Filter(Protocol):
    @property
    def members(self) -> int:
        """Ensemble size the filter runs with."""
        ...

    @property
    def draws_random(self) -> bool:
        """Whether an analysis draws random numbers (then `cycle` needs a generator)."""
        ...

    def cycle(
        self,
        dynamics: Dynamics,
        E: Tensor,
        t0: float,
        t1: float,
        y: Tensor,
        generator: torch.Generator | None = None,
    ) -> CycleAnalysis:
        """E: (N, n) analysis members at t0 -> the analysis at t1 given y: (m,) at t1."""
        ...


@dataclass(frozen=True, eq=False)
class EnsembleFilter:
    """Stochastic EnKF, ETKF or LETKF (`FilterConfig.method`), integrating in steps of dt.
    Refs: Evensen 2009; Bishop et al. 2001 (ETKF); Hunt et al. 2007 (LETKF)."""

    config: FilterConfig
    obs: LinearObs
    dt: float
    periodic: bool = False

    @property
    def members(self) -> int:
        return self.config.ensemble_size

    @property
    def draws_random(self) -> bool:
        return self.config.method == "enkf" or self.config.rotate

    def cycle(
        self,
        dynamics: Dynamics,
        E: Tensor,
        t0: float,
        t1: float,
        y: Tensor,
        generator: torch.Generator | None = None,
    ) -> CycleAnalysis:
        Ef = integrate(dynamics, E, t0, t1, self.dt)
        Ea, info = analysis(
            Ef, y, self.obs, self.config, periodic=self.periodic, generator=generator
        )
        return CycleAnalysis(
            Ea, None, float(info.innovation.pow(2).mean().sqrt()), float(info.inflation.mean())
        )


@dataclass(frozen=True, eq=False)
class ObserverFilter:
    """A trained neural observer's members (one compiled call per cycle on Lorenz-96). obs:
    the stream's operator, which the innovation diagnostic is taken with."""

    observer: NeuralObserver
    obs: LinearObs
    dt: float

    @property
    def members(self) -> int:
        return self.observer.members

    @property
    def draws_random(self) -> bool:
        return False

    def cycle(
        self,
        dynamics: Dynamics,
        E: Tensor,
        t0: float,
        t1: float,
        y: Tensor,
        generator: torch.Generator | None = None,
    ) -> CycleAnalysis:
        Ef, Ea, var = self.observer.cycle(dynamics, E, t0, t1, self.dt, y)
        innovation = y - self.obs.H_apply(Ef.mean(0))
        return CycleAnalysis(Ea, var.mean(0), float(innovation.pow(2).mean().sqrt()), None)
