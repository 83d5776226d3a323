"""Lorenz-63: the 3-variable convection model, integrated with RK4.

dx/dt = sigma (y - x),  dy/dt = x (rho - z) - y,  dz/dt = x y - beta z.
Refs: Lorenz 1963, "Deterministic nonperiodic flow", J. Atmos. Sci. 20.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numba
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

    def flow_numpy(self, x: np.ndarray, steps: list[float]) -> np.ndarray:
        """`step_numpy` over every step of `steps` as one compiled call (x float64 (..., 3);
        a new array): a cycle of 25 steps costs ~25 NumPy round trips of a dozen ops each
        on the step-by-step path, most of a stream's cycle."""
        rows = np.ascontiguousarray(x.reshape(-1, 3))
        out = _flow(rows, np.asarray(steps, dtype=np.float64), *self._params)
        return out.reshape(x.shape)

    def flow_tangent_numpy(
        self, x: np.ndarray, steps: list[float]
    ) -> tuple[np.ndarray, np.ndarray]:
        """RK4 steps of x (B, 3) and the flow's Jacobian (B, 3, 3) (`HostTangent`), as one
        compiled call: an observer's training differentiates through 25 steps a cycle."""
        rows = np.ascontiguousarray(x, dtype=np.float64)
        return _flow_tangent(rows, np.asarray(steps, dtype=np.float64), *self._params)

    @property
    def _params(self) -> tuple[float, float, float]:
        return float(self.sigma), float(self.rho), float(self.beta)

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


@numba.njit(cache=True)
def _flow(x: np.ndarray, steps: np.ndarray, s: float, r: float, b: float) -> np.ndarray:
    """`Lorenz63.flow_numpy`: RK4 per row with `rk4_step_numpy`'s stages and accumulation
    order, so it rounds as the step-by-step path does."""
    out = np.empty_like(x)
    k1, k2, k3, k4, u = np.empty(3), np.empty(3), np.empty(3), np.empty(3), np.empty(3)
    for i in range(x.shape[0]):
        v = x[i].copy()
        for dt in steps:
            h = 0.5 * dt
            _rhs(v, s, r, b, k1)
            u[:] = v + h * k1
            _rhs(u, s, r, b, k2)
            u[:] = v + h * k2
            _rhs(u, s, r, b, k3)
            u[:] = v + dt * k3
            _rhs(u, s, r, b, k4)
            acc = k2 + k3
            acc *= 2.0
            acc += k1
            acc += k4
            acc *= dt / 6.0
            acc += v
            v = acc
        out[i] = v
    return out


@numba.njit(cache=True, inline="always")
def _rhs(u: np.ndarray, s: float, r: float, b: float, out: np.ndarray) -> None:
    """The tendency of one state u (3,) into out (3,), the textbook formula."""
    out[0] = s * (u[1] - u[0])
    out[1] = u[0] * (r - u[2]) - u[1]
    out[2] = u[0] * u[1] - b * u[2]


@numba.njit(cache=True)
def _flow_tangent(
    x: np.ndarray, steps: np.ndarray, s: float, r: float, b: float
) -> tuple[np.ndarray, np.ndarray]:
    """`Lorenz63.flow_tangent_numpy`: per row, RK4 on the state and on its tangent
    propagator M (M' = J(x) M, from the identity) together. An explicit Runge-Kutta step
    of a system and its variational equation is exactly the derivative of the step itself,
    so M is the Jacobian of the RK4 map (to round-off), not of the continuous flow."""
    B = x.shape[0]
    out, jac = np.empty_like(x), np.empty((B, 3, 3))
    k, K = np.empty((4, 3)), np.empty((4, 3, 3))
    u, M = np.empty(3), np.empty((3, 3))
    for i in range(B):
        x0, M0 = x[i].copy(), np.eye(3)
        for dt in steps:
            for stage in range(4):
                a = 0.0 if stage == 0 else (dt if stage == 3 else 0.5 * dt)
                if stage == 0:
                    u[:], M[:, :] = x0, M0
                else:
                    u[:] = x0 + a * k[stage - 1]
                    M[:, :] = M0 + a * K[stage - 1]
                _rhs(u, s, r, b, k[stage])
                for c in range(3):  # J(u) M, column by column
                    m0, m1, m2 = M[0, c], M[1, c], M[2, c]
                    K[stage, 0, c] = s * (m1 - m0)
                    K[stage, 1, c] = (r - u[2]) * m0 - m1 - u[0] * m2
                    K[stage, 2, c] = u[1] * m0 + u[0] * m1 - b * m2
            x0 = x0 + (dt / 6.0) * (k[0] + 2.0 * (k[1] + k[2]) + k[3])
            M0 = M0 + (dt / 6.0) * (K[0] + 2.0 * (K[1] + K[2]) + K[3])
        out[i], jac[i] = x0, M0
    return out, jac
