"""Lorenz-63: the 3-variable convection model, integrated with RK4.

dx/dt = sigma (y - x),  dy/dt = x (rho - z) - y,  dz/dt = x y - beta z.
Refs: Lorenz 1963, "Deterministic nonperiodic flow", J. Atmos. Sci. 20.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from models.dynamics.base import rk4_step


@dataclass(frozen=True)
class Lorenz63:
    """Lorenz-63 with the classical chaotic parameters by default; state x: (..., 3)."""

    sigma: float = 10.0
    rho: float = 28.0
    beta: float = 8.0 / 3.0
    default_dt: float = 0.01

    @property
    def n(self) -> int:
        return 3

    @property
    def periodic(self) -> bool:
        return False

    def rhs(self, x: Tensor) -> Tensor:
        """Tendency dx/dt: (..., 3) -> (..., 3)."""
        a, b, c = x.unbind(-1)
        return torch.stack(
            (self.sigma * (b - a), a * (self.rho - c) - b, a * b - self.beta * c), dim=-1
        )

    def step(self, x: Tensor, dt: float) -> Tensor:
        """One RK4 step: (..., 3) -> (..., 3)."""
        return rk4_step(self.rhs, x, dt)
