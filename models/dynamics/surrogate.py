"""A fitted forecaster as the dynamics of a stream: the state is its lag window.

State x: (..., n), n = p d, is the window [y_{t-p+1}, ..., y_t] flattened row by row
(oldest first, newest last: the forecasters' own window layout), in data units. One step
(dt = 1, one series step) draws y_{t+1} from the forecaster's one-step predictive and shifts
the window. Ensemble row r keeps parameter draw r % members for good (a posterior draw of a
Bayesian AR, a member of a deep ensemble), so each member's trajectory is one draw's, as in
the forecaster's own Monte Carlo forecasts; the noise comes from `generator`, so a step is
reproducible under a seed. Refs: Evensen 2009, "Data Assimilation: The Ensemble Kalman
Filter", ch. 4 (stochastic model error in the ensemble forecast).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from models.forecasting.base import OneStepSampler

# How far from a whole number of steps (0 or 1) dt may be. Times a hair off the t0 + k grid
# make integrate() hand over 1 - eps, or a last sliver eps, which is then no step at all;
# anything further off is a caller asking for a fraction of a series step.
_DT_TOL = 1e-6


@runtime_checkable
class WindowForecaster(Protocol):
    """What the adapter needs of a forecaster (BayesianAR and AnchoredEnsembleAR have it)."""

    @property
    def window_shape_(self) -> tuple[int, int]: ...

    def one_step_sampler(self, draws: int, seed: int = 0) -> OneStepSampler: ...


@dataclass(frozen=True, eq=False)
class SurrogateDynamics:
    """p lags of a d-dimensional series as an n = p d state; see the module docstring.

    sampler: the forecaster's one-step predictive; generator: where step noise comes from
    (None: torch's global generator); noise: False steps each row to its conditional mean
    (the forecast's E[y | draw], for splitting epistemic from aleatoric spread).
    """

    sampler: OneStepSampler
    p: int
    d: int
    generator: torch.Generator | None = None
    noise: bool = True
    default_dt: float = 1.0

    @classmethod
    def of(cls, forecaster: WindowForecaster, draws: int, seed: int = 0) -> SurrogateDynamics:
        """The forecaster with `draws` parameter draws (seeded) stepping its window."""
        p, d = forecaster.window_shape_
        return cls(forecaster.one_step_sampler(draws, seed), p, d)

    @property
    def n(self) -> int:
        return self.p * self.d

    @property
    def periodic(self) -> bool:
        return False

    def seeded(self, generator: torch.Generator | None) -> SurrogateDynamics:
        """The same dynamics drawing its noise from `generator`."""
        return replace(self, generator=generator)

    def noiseless(self) -> SurrogateDynamics:
        """The same draws stepping to their conditional means (no noise)."""
        return replace(self, noise=False)

    def step(self, x: Tensor, dt: float) -> Tensor:
        """One series step: x (..., n) -> (..., n), same dtype; dt must be 1 (or a round-off
        sliver of a step, which leaves x as it is)."""
        if x.shape[-1] != self.n:
            raise ValueError(f"state has {x.shape[-1]} entries; the window has {self.n}")
        if abs(dt) <= _DT_TOL:
            return x
        if abs(dt - 1.0) > _DT_TOL:
            raise ValueError(f"a surrogate advances in whole series steps (dt = 1), got dt={dt}")
        W = x.reshape(-1, self.p, self.d)
        y = self.sampler(W, self.generator, self.noise).to(x.dtype)
        return torch.cat([W[:, 1:], y[:, None]], dim=1).reshape(x.shape)

    def newest(self, x: Tensor) -> Tensor:
        """The series value y_t of a state: (..., n) -> (..., d)."""
        return x[..., self.n - self.d :]

    def newest_indices(self, dims: list[int] | None = None) -> list[int]:
        """State indices of y_t's components `dims` (all d when None)."""
        base = self.n - self.d
        return [base + i for i in (range(self.d) if dims is None else dims)]


def window(series: Tensor, p: int) -> Tensor:
    """The state at a series' end: series (T, d) or (T,), T >= p -> its last p rows, (p d,)."""
    Y = series[:, None] if series.ndim == 1 else series
    if Y.ndim != 2 or Y.shape[0] < p:
        raise ValueError(f"need a (T, d) series with T >= {p}, got shape {tuple(series.shape)}")
    return Y[Y.shape[0] - p :].reshape(-1)
