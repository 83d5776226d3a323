"""The assimilation cycle: forecast with the dynamics between observation times, then analyse.

Kept apart from the pure analysis step (DAPPER's `assimilate` vs `EnKF_analysis`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from models.assimilation.config import FilterConfig, analysis
from models.assimilation.observation import LinearObs
from models.dynamics.base import Dynamics, integrate


@dataclass(frozen=True, eq=False)
class CycleResult:
    """Per-cycle diagnostics of `assimilate` (K observation times).

    mean (K, n) and spread (K, n): analysis ensemble mean and standard deviation;
    innovation_rms (K,): RMS of y - H xbar_f; inflation (K,): inflation used (the RMS over
    grid points for a per-point factor); E (N, n): the final analysis ensemble.
    """

    mean: Tensor
    spread: Tensor
    innovation_rms: Tensor
    inflation: Tensor
    E: Tensor


def ensemble_init(
    mean: Tensor, std: float | Tensor, N: int, generator: torch.Generator | None = None
) -> Tensor:
    """Gaussian ensemble E (N, n) = mean (n,) + std * Z, Z ~ N(0, I), on mean's device/dtype.

    N = 1 is a single perturbed start (a single neural observer); an EnKF needs N >= 2, which
    its `FilterConfig` checks."""
    if mean.ndim != 1:
        raise ValueError(f"mean must be a vector (n,), got shape {tuple(mean.shape)}")
    if N < 1:
        raise ValueError(f"ensemble size must be >= 1, got {N}")
    Z = torch.randn((N, mean.shape[0]), generator=generator, device=mean.device, dtype=mean.dtype)
    return mean + Z * std


def assimilate(
    model: Dynamics,
    E0: Tensor,
    obs_times: Sequence[float] | Tensor,
    ys: Tensor,
    obs: LinearObs,
    config: FilterConfig,
    dt: float | None = None,
    generator: torch.Generator | None = None,
    *,
    t0: float = 0.0,
) -> CycleResult:
    """Run the filter from E0 (N, n) at t0 over observations ys (K, m) at obs_times (K,).

    Between observation times the ensemble is integrated with `integrate` (steps of dt,
    model.default_dt if None, the last one shortened to land on the observation time).
    obs_times must be non-decreasing and >= t0.
    """
    times = [float(t) for t in torch.as_tensor(obs_times, dtype=torch.float64).reshape(-1)]
    K = len(times)
    if ys.ndim != 2 or ys.shape != (K, obs.m):
        raise ValueError(f"ys must be ({K}, {obs.m}), got {tuple(ys.shape)}")
    if K and (times[0] < t0 or any(b < a for a, b in zip(times, times[1:], strict=False))):
        raise ValueError("obs_times must be non-decreasing and not before t0")
    n = E0.shape[-1]
    device, dtype = E0.device, E0.dtype
    mean = torch.empty((K, n), device=device, dtype=dtype)
    spread = torch.empty((K, n), device=device, dtype=dtype)
    innov = torch.empty(K, device=device, dtype=dtype)
    infl = torch.empty(K, device=device, dtype=dtype)
    E, t = E0, t0
    ys = ys.to(device=device, dtype=dtype)
    for k, tk in enumerate(times):
        E = integrate(model, E, t, tk, dt)
        t = tk
        E, info = analysis(E, ys[k], obs, config, periodic=model.periodic, generator=generator)
        mean[k] = E.mean(dim=0)
        spread[k] = E.std(dim=0)
        innov[k] = info.innovation_rms
        infl[k] = torch.sqrt((info.inflation**2).mean())
    return CycleResult(mean=mean, spread=spread, innovation_rms=innov, inflation=infl, E=E)
