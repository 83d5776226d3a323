"""LETKF: equals the ETKF without localisation; Gaspari-Cohn taper; locality of updates."""

from __future__ import annotations

import math

import pytest
import torch

from models.assimilation import LinearObs, etkf_step, gaspari_cohn, letkf_step, taper_matrix

F64 = torch.float64


def ensemble(N: int, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    E = 3 * torch.randn(N, n, generator=g, dtype=F64) + torch.linspace(0, 5, n, dtype=F64)
    return E, torch.randn(n, generator=g, dtype=F64) * 2


@pytest.mark.parametrize(
    ("radius", "infl"),
    [(r, i) for r in (math.inf, 1e9) for i in (1.0, 1.07, "enkf_n")] + [(math.inf, "adaptive")],
)
@pytest.mark.parametrize(("N", "obs_idx"), [(10, list(range(0, 20, 2))), (16, [3, 9, 15])])
def test_infinite_radius_equals_etkf(
    radius: float, infl: float | str, N: int, obs_idx: list[int]
) -> None:
    """Without localisation (an infinite radius) the analysis is global under either
    adaptive scheme; a finite radius, however large, makes it local ("adaptive": xN = 1)."""
    E, y = ensemble(N, 20, seed=N)
    obs = LinearObs.subset(20, obs_idx, noise_std=0.8)
    y = y[obs_idx]
    E_l, used_l = letkf_step(E, y, obs, radius=radius, periodic=True, infl=infl)  # type: ignore[arg-type]
    E_g, used_g = etkf_step(E, y, obs, infl=infl)  # type: ignore[arg-type]
    assert torch.allclose(E_l, E_g, rtol=0, atol=1e-8)
    assert torch.allclose(used_l, used_g.expand_as(used_l), atol=1e-8)


def test_gaspari_cohn_shape() -> None:
    c = 2.0
    d = torch.linspace(0, 5, 501, dtype=F64)
    rho = gaspari_cohn(d, c)
    assert rho[0].item() == 1.0
    assert torch.all(rho[d >= 2 * c] == 0) and torch.all(rho[d < 2 * c] > 0)
    assert torch.all(torch.diff(rho) <= 1e-15)  # non-increasing
    near = torch.tensor([c - 1e-9, c + 1e-9], dtype=F64)
    assert abs(gaspari_cohn(near, c)[0] - gaspari_cohn(near, c)[1]) < 1e-8  # continuous at c
    assert gaspari_cohn(torch.tensor(c, dtype=F64), c).item() == pytest.approx(5 / 24, abs=1e-15)


def test_radius_convention_matches_gaussian_length() -> None:
    """radius l: GC half-width sqrt(10/3) l, so the taper is ~0.64 at l (the Gaussian of
    the same curvature at 0, exp(-d^2 / 2 l^2), gives exp(-1/2) ~ 0.61) and zero beyond
    2 sqrt(10/3) l (DAPPER's convention)."""
    pos = torch.tensor([0.0], dtype=F64)
    rho = taper_matrix(40, pos, 4.0, periodic=True, device=torch.device("cpu"), dtype=F64)[:, 0]
    assert rho[4].item() == pytest.approx(math.exp(-0.5), abs=0.03)
    assert rho[36].item() == rho[4].item()  # periodic distance
    # support 2 sqrt(10/3) * 4 ~ 14.6
    assert rho[14].item() > 0 and rho[15].item() == 0


def test_unobserved_far_points_are_untouched_and_local_points_updated() -> None:
    E, y = ensemble(8, 30, seed=2)
    obs = LinearObs.subset(30, [5], noise_std=0.5)
    E_a, used = letkf_step(E, y[[5]], obs, radius=2.0, periodic=False, infl="adaptive")
    far = slice(13, 30)  # beyond 2 sqrt(10/3) * 2 ~ 7.3 from index 5
    assert torch.allclose(E_a[:, far], E[:, far], rtol=0, atol=1e-12)
    assert torch.allclose(used[far], torch.ones(17, dtype=F64))  # no data: no inflation
    assert (E_a[:, 5] - E[:, 5]).abs().max() > 1e-3
