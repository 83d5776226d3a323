"""Lorenz-63: the 3-variable convection model, integrated with RK4.

dx/dt = sigma (y - x),  dy/dt = x (rho - z) - y,  dz/dt = x y - beta z.
Refs: Lorenz 1963, "Deterministic nonperiodic flow", J. Atmos. Sci. 20.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

from models.dynamics.base import rk4_step, rk4_step_numpy


@lru_cache(maxsize=64)
def _coefficients(
    sigma: float, rho: float, beta: float, device: torch.device, dtype: torch.dtype
) -> tuple[Tensor, Tensor]:
    """(D (3, 9), bias (9,)) with x @ D + bias = (U | V | W) for `Lorenz63.rhs`."""
    with torch.inference_mode(False):  # usable with autograd even if first built in inference
        D = torch.tensor(
            [  # columns: U (3) | V (3) | W (3); rows: x, y, z
                [0.0, 1.0, 1.0, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                [0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0],
                [0.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, beta],
            ],
            dtype=dtype,
            device=device,
        )
        bias = torch.tensor(
            [sigma, 0.0, 0.0, 0.0, rho, 0.0, 0.0, 0.0, 0.0], dtype=dtype, device=device
        )
    return D, bias


@lru_cache(maxsize=64)
def _host_coefficients(
    sigma: float, rho: float, beta: float, dtype: str
) -> tuple[np.ndarray, np.ndarray]:
    """`_coefficients` as NumPy arrays of the given dtype, for `Lorenz63.step_numpy`."""
    D, bias = _coefficients(sigma, rho, beta, torch.device("cpu"), torch.float64)
    return D.numpy().astype(dtype), bias.numpy().astype(dtype)


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
        """Tendency dx/dt: (..., 3) -> (..., 3).

        Computed as U * V - W with U = (sigma, x, x), V = (y - x, rho - z, y) and
        W = (0, y, beta z), all three from one affine map of the state (few ops on tiny
        ensembles). Every entry of that map is a single product or a difference of two
        terms, so for finite states it rounds exactly like the textbook formula.
        """
        x2 = self._as_2d(x)
        dx = self._tendency(x2)(x2)
        return dx if x.ndim == 2 else dx.view(x.shape)

    def step(self, x: Tensor, dt: float) -> Tensor:
        """One RK4 step: (..., 3) -> (..., 3)."""
        x2 = self._as_2d(x)
        x2 = rk4_step(self._tendency(x2), x2, dt)
        return x2 if x.ndim == 2 else x2.view(x.shape)

    def step_numpy(self, x: np.ndarray, dt: float) -> np.ndarray:
        """`step` on an array (..., 3), with the same affine-map tendency."""
        D, bias = _host_coefficients(self.sigma, self.rho, self.beta, x.dtype.str)

        def f(s: np.ndarray) -> np.ndarray:
            A = np.dot(s, D)
            A += bias
            out: np.ndarray = A[:, 0:3] * A[:, 3:6]
            out -= A[:, 6:9]
            return out

        return rk4_step_numpy(f, x.reshape(-1, 3), dt).reshape(x.shape)

    @staticmethod
    def _as_2d(x: Tensor) -> Tensor:
        if x.shape[-1] != 3:
            raise ValueError(f"Lorenz63 state has 3 components, got shape {tuple(x.shape)}")
        return x if x.ndim == 2 else x.reshape(-1, 3)

    def _tendency(self, like: Tensor) -> Callable[[Tensor], Tensor]:
        """The rhs on (M, 3) states of like's dtype and device."""
        D, bias = _coefficients(self.sigma, self.rho, self.beta, like.device, like.dtype)

        def f(x: Tensor) -> Tensor:
            U, V, W = torch.addmm(bias, x, D).view(-1, 3, 3).unbind(1)
            return (U * V).sub_(W)

        return f
