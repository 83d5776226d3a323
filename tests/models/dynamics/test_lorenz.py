"""Lorenz-63/96: batching, climatology of L96 (F=8, n=40), device and dtype handling."""

import numpy as np
import pytest
import torch

from models.dynamics import Lorenz63, Lorenz96, integrate
from models.dynamics.base import step_sizes


@pytest.mark.parametrize("model", [Lorenz63(), Lorenz96(n=12)])
def test_batched_step_equals_per_member_steps(model: Lorenz63 | Lorenz96) -> None:
    g = torch.Generator().manual_seed(1)
    E = torch.randn(5, 2, model.n, generator=g, dtype=torch.float64) * 3
    batched = model.step(E, 0.01)
    for i in range(5):
        for j in range(2):
            assert torch.equal(batched[i, j], model.step(E[i, j], 0.01))


def test_lorenz96_tendency_matches_definition() -> None:
    x = torch.arange(6, dtype=torch.float64)
    n, F = 6, 8.0
    want = [(x[(i + 1) % n] - x[i - 2]) * x[i - 1] - x[i] + F for i in range(n)]
    assert torch.allclose(Lorenz96(n=n, F=F).rhs(x), torch.stack(want))


def test_lorenz96_climatology() -> None:
    """n=40, F=8: time mean ~2.3, std ~3.6 per variable (Lorenz & Emanuel 1998)."""
    model = Lorenz96()
    g = torch.Generator().manual_seed(0)
    x = 8.0 + torch.randn(8, 40, generator=g, dtype=torch.float64)
    x = integrate(model, x, 0.0, 25.0)  # discard the transient
    xs = []
    for _ in range(4000):
        x = model.step(x, 0.05)
        xs.append(x)
    X = torch.stack(xs)
    assert X.mean().item() == pytest.approx(2.3, abs=0.2)
    assert X.std().item() == pytest.approx(3.6, abs=0.2)


def test_lorenz96_rejects_small_n() -> None:
    with pytest.raises(ValueError, match="n >= 4"):
        Lorenz96(n=3)


def test_float32_stays_float32() -> None:
    x = torch.ones(4, 40, dtype=torch.float32)
    assert Lorenz96().step(x, 0.05).dtype == torch.float32
    assert Lorenz63().step(x[:, :3], 0.01).dtype == torch.float32


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    x = torch.randn(6, 40, dtype=torch.float64)
    model = Lorenz96()
    got = integrate(model, x.cuda(), 0.0, 1.0)
    assert got.is_cuda
    assert torch.allclose(got.cpu(), integrate(model, x, 0.0, 1.0), atol=1e-10)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("shape", [(10, 3), (3,), (4, 2, 3), (0, 3)])
def test_lorenz63_tendency_rounds_like_the_textbook_formula(
    shape: tuple[int, ...], dtype: torch.dtype
) -> None:
    model = Lorenz63(sigma=10.0, rho=28.0, beta=8.0 / 3.0)
    x = 10 * torch.randn(shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    x = x.to(dtype)
    a, b, c = x.unbind(-1)
    want = torch.stack((10.0 * (b - a), a * (28.0 - c) - b, a * b - (8.0 / 3.0) * c), dim=-1)
    got = model.rhs(x)
    assert got.shape == x.shape and got.dtype == dtype
    assert torch.equal(got, want)


def test_lorenz63_rejects_wrong_state_size() -> None:
    with pytest.raises(ValueError, match="3 components"):
        Lorenz63().step(torch.zeros(6), 0.01)


def test_lorenz96_tendency_rounds_like_the_textbook_formula() -> None:
    x = 5 * torch.randn(7, 40, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    xp1, xm1, xm2 = (torch.roll(x, s, dims=-1) for s in (-1, 1, 2))
    assert torch.equal(Lorenz96().rhs(x), (xp1 - xm2) * xm1 - x + 8.0)


@pytest.mark.parametrize("shape", [(8, 3), (2, 4, 3)])
def test_lorenz63_gradient_through_many_steps_is_the_step_maps(shape: tuple[int, ...]) -> None:
    """A state that needs a gradient is integrated on the host with its flow's Jacobian
    (one call each way, not autograd's graph of every stage): the same states and the same
    gradient as autograd through `step`, to round-off, over 25 steps and a shorter last one."""
    model = Lorenz63()
    g = torch.Generator().manual_seed(0)
    x0 = integrate(model, 10 * torch.randn(shape, generator=g, dtype=torch.float64), 0, 2.0)
    upstream = torch.randn(shape, generator=g, dtype=torch.float64)

    x = x0.clone().requires_grad_(True)
    end = integrate(model, x, 0.0, 0.255, 0.01)
    assert type(end.grad_fn).__name__ == "_HostFlowBackward"
    (grad,) = torch.autograd.grad(end, x, upstream)

    ref = x0.clone().requires_grad_(True)
    y = ref
    for h in [0.01] * 25 + [0.005]:
        y = model.step(y, h)
    (ref_grad,) = torch.autograd.grad(y, ref, upstream)
    torch.testing.assert_close(end, y, rtol=1e-12, atol=1e-11)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-10, atol=1e-10)


def test_lorenz63_compiled_flow_rounds_as_its_steps() -> None:
    """The host path integrates a float64 Lorenz-63 state in one compiled call: bit for bit
    what `step_numpy` gives step by step."""
    model = Lorenz63()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 7, 3)) * 5 + np.array([0.0, 0.0, 25.0])
    steps = step_sizes(0.0, 0.254, 0.01)  # 25 of 0.01, then a shorter one
    want = x
    for h in steps:
        want = model.step_numpy(want, h)
    got = model.flow_numpy(x, steps)
    assert got.shape == x.shape and np.array_equal(got, want)
    via = integrate(model, torch.from_numpy(x), 0.0, 0.254, 0.01).numpy()
    assert np.array_equal(via, want)
