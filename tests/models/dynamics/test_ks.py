"""Kuramoto-Sivashinsky with ETDRK4: mean conservation, 4th order, batching, boundedness."""

import pytest
import torch

from models.dynamics import KuramotoSivashinsky, integrate


def kt_initial(model: KuramotoSivashinsky, shift: float = 0.0) -> torch.Tensor:
    """Kassam & Trefethen's u0 = cos(x/16)(1 + sin(x/16)) (+ a constant)."""
    x = model.grid
    return torch.cos(x / 16) * (1 + torch.sin(x / 16)) + shift


def test_conserves_spatial_mean() -> None:
    model = KuramotoSivashinsky()
    u0 = kt_initial(model, shift=0.7)
    u = integrate(model, u0, 0.0, 50.0)
    assert abs(u.mean().item() - u0.mean().item()) <= 1e-10 * abs(u0.mean().item())


def test_stays_bounded_and_chaotic() -> None:
    """The K&T solution develops chaotic cells of amplitude ~3 and does not blow up."""
    model = KuramotoSivashinsky()
    u = integrate(model, kt_initial(model), 0.0, 150.0)
    assert torch.isfinite(u).all()
    assert 1.0 < u.abs().max().item() < 5.0


def test_etdrk4_fourth_order() -> None:
    model = KuramotoSivashinsky()
    u0 = kt_initial(model)
    ref = integrate(model, u0, 0.0, 4.0, 1 / 128)
    errs = [(integrate(model, u0, 0.0, 4.0, dt) - ref).abs().max().item() for dt in (0.25, 0.125)]
    assert 11 < errs[0] / errs[1] < 20


def test_batched_step_equals_per_member_steps() -> None:
    model = KuramotoSivashinsky(n=64, L=22.0)
    g = torch.Generator().manual_seed(0)
    E = torch.randn(4, 64, generator=g, dtype=torch.float64)
    batched = model.step(E, 0.25)
    for i in range(4):
        assert torch.allclose(batched[i], model.step(E[i], 0.25), rtol=0, atol=1e-13)


def test_dealiased_variant_runs_and_conserves_mean() -> None:
    model = KuramotoSivashinsky(dealias=True)
    u0 = kt_initial(model, shift=0.3)
    u = integrate(model, u0, 0.0, 10.0)
    assert torch.isfinite(u).all()
    assert u.mean().item() == pytest.approx(u0.mean().item(), rel=1e-10)


def test_float32() -> None:
    model = KuramotoSivashinsky()
    u = model.step(kt_initial(model).float(), 0.25)
    assert u.dtype == torch.float32
    want = model.step(kt_initial(model), 0.25)
    assert torch.allclose(u.double(), want, atol=1e-5)


@pytest.mark.parametrize(("kwargs", "match"), [({"n": 33}, "even"), ({"L": -1.0}, "L")])
def test_rejects_bad_parameters(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        KuramotoSivashinsky(**kwargs)  # type: ignore[arg-type]
