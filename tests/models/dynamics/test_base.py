"""integrate lands exactly on t1; RK4 shows 4th-order convergence on Lorenz-63."""

import math

import pytest
import torch

from models.dynamics import Dynamics, Lorenz63, Lorenz96, integrate, rk4_step
from models.dynamics.base import HostStepper, step_sizes


class Clock:
    """dx/dt = 1 on a 1-vector: integrate returns exactly the elapsed time (and logs steps)."""

    n, periodic, default_dt = 1, False, 0.1

    def __init__(self) -> None:
        self.steps: list[float] = []

    def step(self, x: torch.Tensor, dt: float) -> torch.Tensor:
        self.steps.append(dt)
        return x + dt


def test_models_satisfy_the_protocol() -> None:
    assert isinstance(Lorenz63(), Dynamics)
    assert isinstance(Lorenz96(), Dynamics)
    assert isinstance(Clock(), Dynamics)
    # The small-state fast path of `integrate`: the Lorenz models step NumPy arrays too.
    assert isinstance(Lorenz63(), HostStepper) and isinstance(Lorenz96(), HostStepper)
    assert not isinstance(Clock(), HostStepper)


@pytest.mark.parametrize(
    ("t0", "t1", "dt", "k"),
    [(0, 0.37, 0.1, 4), (0, 0.3, 0.1, 3), (1.5, 1.5 + 1e-3, 0.1, 1), (0, 1, 0.25, 4)],
)
def test_integrate_lands_exactly_on_t1(t0: float, t1: float, dt: float, k: int) -> None:
    clock = Clock()
    x = integrate(clock, torch.zeros(1, dtype=torch.float64), t0, t1, dt)
    assert len(clock.steps) == k
    assert all(h == dt for h in clock.steps[:-1]) and 0 < clock.steps[-1] <= dt * (1 + 1e-9)
    assert math.isclose(sum(clock.steps), t1 - t0, rel_tol=0, abs_tol=1e-15)
    assert math.isclose(x.item(), t1 - t0, rel_tol=0, abs_tol=1e-15)


def test_integrate_zero_span_returns_x_and_rejects_backwards() -> None:
    x = torch.ones(3)
    assert integrate(Lorenz63(), x, 2.0, 2.0) is x
    with pytest.raises(ValueError, match="backwards"):
        integrate(Lorenz63(), x, 1.0, 0.5)
    with pytest.raises(ValueError, match="dt"):
        step_sizes(0.0, 1.0, 0.0)


def test_integrate_uses_default_dt() -> None:
    clock = Clock()
    integrate(clock, torch.zeros(1), 0.0, 1.0)
    assert len(clock.steps) == 10


def test_rk4_is_exact_to_4th_order_on_exponential() -> None:
    x = torch.ones(1, dtype=torch.float64)
    one_step = rk4_step(lambda v: v, x, 0.1).item()
    assert one_step == pytest.approx(sum(0.1**k / math.factorial(k) for k in range(5)), abs=1e-15)


def test_rk4_fourth_order_convergence_on_lorenz63() -> None:
    """Halving dt divides the global error at T = 0.2 by ~2^4 = 16 (batch of attractor points).

    (Over longer spans L63's fast rotation keeps dt = 0.01 out of the asymptotic regime.)
    """
    model = Lorenz63()
    g = torch.Generator().manual_seed(0)
    x0 = torch.tensor([1.0, 2.0, 20.0], dtype=torch.float64) + torch.randn(
        16, 3, generator=g, dtype=torch.float64
    )
    x0 = integrate(model, x0, 0.0, 2.0, 1e-3)  # onto the attractor
    ref = integrate(model, x0, 0.0, 0.2, 5e-5)
    errs = [(integrate(model, x0, 0.0, 0.2, dt) - ref).norm().item() for dt in (0.02, 0.01, 0.005)]
    assert errs[0] / errs[1] == pytest.approx(16, abs=1.5)
    assert errs[1] / errs[2] == pytest.approx(16, abs=1.5)


def test_rk4_matches_the_textbook_formula_to_round_off() -> None:
    model = Lorenz63()
    x = 5 * torch.randn(10, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    f, dt = model.rhs, 0.01
    k1 = f(x)
    k2 = f(x + (0.5 * dt) * k1)
    k3 = f(x + (0.5 * dt) * k2)
    k4 = f(x + dt * k3)
    # Fused multiply-adds round differently from the textbook order, by round-off only.
    expected = x + (dt / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    torch.testing.assert_close(rk4_step(f, x, dt), expected, rtol=1e-14, atol=1e-14)


def _torch_only(model: Dynamics, x: torch.Tensor, t0: float, t1: float, dt: float) -> torch.Tensor:
    for h in step_sizes(t0, t1, dt):
        x = model.step(x, h)
    return x


@pytest.mark.parametrize("model", [Lorenz63(), Lorenz96(n=40)], ids=["L63", "L96"])
@pytest.mark.parametrize("shape", [(), (10,), (2, 5)], ids=["state", "ensemble", "batched"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_host_path_matches_torch_steps(
    model: Dynamics, shape: tuple[int, ...], dtype: torch.dtype
) -> None:
    """Small CPU states integrate on NumPy views; the result is the torch steps' to round-off,
    keeps shape and dtype, and leaves the input alone."""
    g = torch.Generator().manual_seed(0)
    x = (3 * torch.randn((*shape, model.n), generator=g, dtype=torch.float64)).to(dtype)
    before = x.clone()
    got = integrate(model, x, 0.0, 0.37, 0.01)
    want = _torch_only(model, x, 0.0, 0.37, 0.01)
    assert got.shape == x.shape and got.dtype == dtype
    tol = 1e-10 if dtype == torch.float64 else 1e-3
    assert torch.allclose(got, want, rtol=tol, atol=tol)
    assert torch.equal(x, before)


def test_gradients_flow_through_integrate() -> None:
    """A state that needs a gradient keeps it (Lorenz-63 through its host tangent flow)."""
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    integrate(Lorenz63(), x, 0.0, 0.1).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
