"""Lorenz-96: n variables on a periodic 1-D grid, integrated with RK4.

dx_i/dt = (x_{i+1} - x_{i-2}) x_{i-1} - x_i + F, indices modulo n.
With n = 40, F = 8 the climatology is mean ~2.3, std ~3.6 per variable.
Refs: Lorenz 1996, "Predictability: a problem partly solved"; Lorenz & Emanuel 1998.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import torch
from torch import Tensor

from models.dynamics.base import rk4_step


@dataclass(frozen=True)
class Lorenz96:
    """Lorenz-96 with n grid points and forcing F; state x: (..., n)."""

    n: int = 40
    F: float = 8.0
    default_dt: float = 0.05

    def __post_init__(self) -> None:
        if self.n < 4:
            raise ValueError(f"Lorenz96 needs n >= 4, got {self.n}")

    @property
    def periodic(self) -> bool:
        return True

    def rhs(self, x: Tensor) -> Tensor:
        """Tendency dx/dt: (..., n) -> (..., n)."""
        xp1 = torch.roll(x, -1, dims=-1)
        xm1 = torch.roll(x, 1, dims=-1)
        xm2 = torch.roll(x, 2, dims=-1)
        # ((xp1 - xm2) * xm1 - x) + F, in place on the fresh difference. (Gathering the three
        # neighbours with cached indices, or with a matmul, measured no faster than the rolls.)
        return (xp1 - xm2).mul_(xm1).sub_(x).add_(self.F)

    def step(self, x: Tensor, dt: float) -> Tensor:
        """One RK4 step: (..., n) -> (..., n)."""
        return rk4_step(self.rhs, x, dt)

    def step_numpy(self, x: np.ndarray, dt: float) -> np.ndarray:
        """`step` compiled (float64 throughout): ~3 us for 4 members of n = 40, where NumPy
        ops take ~35 us for the RK4 stages; the cheap filters' cycle is mostly this step."""
        rows = np.ascontiguousarray(x, dtype=np.float64).reshape(-1, self.n)
        return rk4_rows(rows, float(self.F), float(dt)).reshape(x.shape).astype(x.dtype, copy=False)


@numba.njit(cache=True)
def _tendency(x: np.ndarray, F: float, out: np.ndarray) -> None:
    N, n = x.shape
    for e in range(N):
        for i in range(n):  # negative indices wrap around, as in NumPy
            out[e, i] = (x[e, (i + 1) % n] - x[e, i - 2]) * x[e, i - 1] - x[e, i] + F


@numba.njit(cache=True)
def rk4_rows(x: np.ndarray, F: float, dt: float) -> np.ndarray:
    """The stages of `rk4_step` on rows x (N, n) float64; x is not modified. Compiled code
    may call it (the neural observer's fused cycle)."""
    h = 0.5 * dt
    k1, k2, k3, k4 = np.empty_like(x), np.empty_like(x), np.empty_like(x), np.empty_like(x)
    _tendency(x, F, k1)
    _tendency(x + h * k1, F, k2)
    _tendency(x + h * k2, F, k3)
    _tendency(x + dt * k3, F, k4)
    return x + (dt / 6.0) * (k1 + 2.0 * (k2 + k3) + k4)  # type: ignore[no-any-return]  # numba
