"""The `Dynamics` interface shared by every model, a generic RK4 step and `integrate`.

A model is a frozen dataclass of parameters with a pure `step(x, dt) -> x`, batched over
leading dimensions (ensemble members are just another leading dimension of x: (N, n)).
Refs: Hairer, Norsett & Wanner 1993, "Solving Ordinary Differential Equations I" (RK4).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol, cast, runtime_checkable

import numba
import numpy as np
import torch
from torch import Tensor

from models.host import FLOATS, fits_host

Rhs = Callable[[Tensor], Tensor]
HostRhs = Callable[[np.ndarray], np.ndarray]

# Relative slack when deciding whether (t1 - t0) / dt is a whole number of steps, so that
# e.g. 0.3 / 0.1 = 2.9999999999999996 takes 3 steps rather than 3 plus one of ~1e-16.
_STEP_RTOL = 1e-9


@runtime_checkable
class Dynamics(Protocol):
    """A discretised dynamical system on a 1-D grid of `n` points.

    `periodic` says whether grid distance wraps around (used by localisation);
    `default_dt` is the integration step to use when the caller gives none.
    """

    @property
    def n(self) -> int: ...

    @property
    def periodic(self) -> bool: ...

    @property
    def default_dt(self) -> float: ...

    def step(self, x: Tensor, dt: float) -> Tensor:
        """One integrator step: x (..., n) at t -> (..., n) at t + dt."""
        ...


@runtime_checkable
class HostStepper(Protocol):
    """A model that can also step a NumPy array (the small-CPU-state path of `integrate`)."""

    def step_numpy(self, x: np.ndarray, dt: float) -> np.ndarray:
        """`step` on an array: x (..., n) at t -> a new array at t + dt; x is not modified."""
        ...


@runtime_checkable
class HostTangent(Protocol):
    """A model whose flow, and the flow's Jacobian, can be computed on NumPy arrays: what
    `integrate` differentiates through with one host call instead of a graph of small torch
    ops per stage (a low-dimensional system integrated over many steps a cycle)."""

    def flow_tangent_numpy(
        self, x: np.ndarray, steps: list[float]
    ) -> tuple[np.ndarray, np.ndarray]:
        """States x (B, n) stepped by `steps` -> (the states (B, n), each one's Jacobian
        of the whole flow d x_end / d x (B, n, n))."""
        ...


def rk4_step(f: Rhs, x: Tensor, dt: float) -> Tensor:
    """Classical 4th-order Runge-Kutta step of the autonomous ODE x' = f(x); x (..., n)."""
    h = 0.5 * dt
    # Fused x + a k (torch.add with alpha): on tiny ensembles the cost is per op, not per
    # element, and the fused form rounds differently from x + (a * k) only at round-off.
    k1 = f(x)
    k2 = f(torch.add(x, k1, alpha=h))
    k3 = f(torch.add(x, k2, alpha=h))
    k4 = f(torch.add(x, k3, alpha=dt))
    acc = torch.add(k1, k2, alpha=2.0)
    acc.add_(k3, alpha=2.0).add_(k4)
    return torch.add(x, acc, alpha=dt / 6.0)


def rk4_step_numpy(f: HostRhs, x: np.ndarray, dt: float) -> np.ndarray:
    """`rk4_step` on NumPy arrays (same stages; in-place accumulation into a fresh array).

    Overflow gives inf/NaN silently, as torch does; callers check finiteness."""
    h = 0.5 * dt
    with np.errstate(over="ignore", invalid="ignore"):
        k1 = f(x)
        k2 = f(x + h * k1)
        k3 = f(x + h * k2)
        k4 = f(x + dt * k3)
        acc = k2 + k3
        acc *= 2.0
        acc += k1
        acc += k4
        acc *= dt / 6.0
        acc += x
    return acc


class _HostFlow(torch.autograd.Function):
    """x (..., n) -> its flow over `steps`, computed on the host with the flow's Jacobian J,
    which the backward pass applies (g J): one call each way instead of autograd's graph of
    a few dozen small ops per step."""

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        x: Tensor,
        model: HostTangent,
        steps: list[float],
    ) -> Tensor:
        n = x.shape[-1]
        end, J = model.flow_tangent_numpy(x.detach().reshape(-1, n).numpy(), steps)
        ctx.save_for_backward(torch.from_numpy(J))
        return torch.from_numpy(end).to(x.dtype).view(x.shape)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, g: Tensor) -> tuple[Tensor, None, None]:
        (J,) = ctx.saved_tensors  # type: ignore[attr-defined]  # set by save_for_backward
        n = g.shape[-1]
        gx = torch.bmm(g.reshape(-1, 1, n), J.to(g.dtype)).view(g.shape)
        return gx, None, None


def step_sizes(t0: float, t1: float, dt: float) -> list[float]:
    """Steps from t0 to t1: whole steps of dt, then one shorter step landing exactly on t1.

    The number of steps is ceil((t1 - t0) / dt) (up to a 1e-9 relative slack, so an
    interval that is a whole number of steps in exact arithmetic takes no sliver step).
    """
    if not (math.isfinite(t0) and math.isfinite(t1)):
        raise ValueError(f"times must be finite, got t0={t0}, t1={t1}")
    if not (math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be a positive finite number, got {dt}")
    if t1 < t0:
        raise ValueError(f"cannot integrate backwards: t1={t1} < t0={t0}")
    k, last = step_plan(t1 - t0, dt)
    return [dt] * (k - 1) + [last] if k else []


@numba.njit(cache=True)
def step_plan(span: float, dt: float) -> tuple[int, float]:
    """`step_sizes` over span >= 0 as (count, last): count - 1 steps of dt, then one of
    `last` (no step for no span). Compiled: a kernel running many cycles plans their steps."""
    if span == 0:
        return 0, 0.0
    ratio = span / dt
    k = round(ratio)
    if not (k >= 1 and abs(ratio - k) <= _STEP_RTOL * ratio):
        k = math.ceil(ratio)
    return k, span - (k - 1) * dt


def integrate(model: Dynamics, x: Tensor, t0: float, t1: float, dt: float | None = None) -> Tensor:
    """Integrate x (..., n) from t0 to t1 (t1 >= t0) with steps of dt (model.default_dt if None).

    Takes ceil((t1 - t0) / dt) steps: all of size dt but the last, which is shortened to
    land exactly on t1. t1 == t0 returns x itself. A small CPU state runs on NumPy
    (`step_numpy`, or all steps in one compiled call for a model with `flow_numpy`); one
    that needs a gradient, through `flow_tangent_numpy` when the model has it (`_HostFlow`).
    """
    steps = step_sizes(t0, t1, model.default_dt if dt is None else dt)
    if steps and _tangent_on_host(model, x):
        return cast(Tensor, _HostFlow.apply(x, model, steps))  # type: ignore[no-untyped-call]
    if steps and _on_host(model, x):
        a = x.detach().numpy()  # a view; every step returns a new array, so x is untouched
        if a.dtype == np.float64 and hasattr(model, "flow_numpy"):  # all steps in one call
            return torch.from_numpy(model.flow_numpy(a, steps))
        stepper = cast(HostStepper, model)  # _on_host checked it has step_numpy
        for h in steps:
            a = stepper.step_numpy(a, h)
        return torch.from_numpy(a)
    for h in steps:
        x = model.step(x, h)
    return x


def _tangent_on_host(model: Dynamics, x: Tensor) -> bool:
    """Whether x is differentiated through on the host (`_HostFlow`): a model that offers
    its flow's Jacobian, and a small CPU state that needs a gradient."""
    return (
        x.requires_grad
        and torch.is_grad_enabled()
        and hasattr(model, "flow_tangent_numpy")
        and fits_host(x.detach(), FLOATS)
    )


def _on_host(model: Dynamics, x: Tensor) -> bool:
    # not isinstance(HostStepper): that costs ~10 us a call
    return hasattr(model, "step_numpy") and fits_host(x, FLOATS)
