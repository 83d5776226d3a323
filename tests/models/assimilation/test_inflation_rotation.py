"""EnKF-N inflation against a brute-force minimisation; random rotations keep mean/cov."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import minimize_scalar

from models.assimilation import (
    FilterConfig,
    LinearObs,
    analysis,
    enkf_n_factor,
    enkf_n_inflation,
    etkf_step,
    letkf_step,
    random_rotation,
    whitened_anomalies,
)
from models.assimilation.inflation import ADAPTIVE_SCHEMES as SCHEMES
from models.assimilation.inflation import hyperprior_certainty

from .kalman import moments

F64 = torch.float64


def dual_cost_minimiser(Yw: np.ndarray, dyw: np.ndarray, xN: float) -> float:
    """argmin over l1 of the EnKF-N dual cost, written directly in observation space:
    J(l) = dy^T (N1 I + l^2 Yw^T Yw)^{-1} dy + xN (eN / l^2 + cL log l^2) (mode-corrected)."""
    N, m = Yw.shape
    N1 = N - 1
    S = Yw.T @ Yw
    lam = np.concatenate([np.linalg.eigvalsh(S)[-min(N, m) :], np.zeros(max(N - m, 0))])
    eN, cL = (N + 1) / N, N / N1
    I_KH = N1 * np.mean(1 / (np.clip(lam, 0, None) + N1))
    mc = np.sqrt((eN / cL) ** I_KH)
    eN, cL = xN * eN / mc, xN * cL * mc

    def J(l1: float) -> float:
        C = N1 * np.eye(m) + l1**2 * S
        return float(dyw @ np.linalg.solve(C, dyw) + eN / l1**2 + cL * np.log(l1**2))

    return float(
        minimize_scalar(J, bounds=(0.05, 20), method="bounded", options={"xatol": 1e-10}).x
    )


@pytest.mark.parametrize(("scheme", "xN"), [("enkf_n", 1.0), ("adaptive", 2.0)])
@pytest.mark.parametrize(("N", "m", "scale"), [(8, 20, 1.0), (8, 20, 4.0), (25, 5, 2.0)])
def test_enkf_n_matches_brute_force(N: int, m: int, scale: float, scheme: str, xN: float) -> None:
    """Both schemes solve the EnKF-N; a global analysis under "adaptive" with xN = 2."""
    g = torch.Generator().manual_seed(N * m)
    E = torch.randn(N, m, generator=g, dtype=F64)
    y = scale * torch.randn(m, generator=g, dtype=F64)
    obs = LinearObs.identity(m, 0.9)
    _, l1 = etkf_step(E, y, obs, infl=scheme)
    _, _, Yw, dyw = whitened_anomalies(E, y, obs)
    assert l1.item() == pytest.approx(dual_cost_minimiser(Yw.numpy(), dyw.numpy(), xN), abs=1e-6)


def test_local_analyses_take_the_jeffreys_hyperprior_under_either_scheme() -> None:
    g = torch.Generator().manual_seed(4)
    E = torch.randn(7, 30, generator=g, dtype=F64)
    y = 2 * torch.randn(30, generator=g, dtype=F64)
    obs = LinearObs.identity(30)
    runs = [letkf_step(E, y, obs, radius=3.0, periodic=True, infl=s) for s in SCHEMES]
    assert torch.equal(runs[0][0], runs[1][0]) and torch.equal(runs[0][1], runs[1][1])
    assert hyperprior_certainty("adaptive", local=True) == 1.0
    assert hyperprior_certainty("adaptive", local=False) == 2.0
    assert hyperprior_certainty("enkf_n", local=False) == 1.0


def test_enkf_n_without_information_does_not_inflate() -> None:
    lam = torch.zeros(3, 10, dtype=F64)
    assert torch.allclose(
        enkf_n_inflation(lam, torch.zeros_like(lam), 10), torch.ones(3, dtype=F64)
    )


def test_enkf_n_inflates_more_for_larger_innovations() -> None:
    g = torch.Generator().manual_seed(0)
    E = torch.randn(10, 20, generator=g, dtype=F64)
    y = torch.randn(20, generator=g, dtype=F64)
    obs = LinearObs.identity(20)
    factors = [etkf_step(E, s * y, obs, infl="enkf_n")[1].item() for s in (0.5, 2.0, 8.0)]
    assert factors[0] < factors[1] < factors[2]


def test_random_rotation_is_orthogonal_and_mean_preserving() -> None:
    Om = random_rotation(7, generator=torch.Generator().manual_seed(0), dtype=F64)
    assert torch.allclose(Om @ Om.T, torch.eye(7, dtype=F64), atol=1e-12)
    assert torch.allclose(Om @ torch.ones(7, dtype=F64), torch.ones(7, dtype=F64), atol=1e-12)


@pytest.mark.parametrize(
    "config",
    [
        FilterConfig("etkf", 9, 1.03, rotate=True),
        FilterConfig("etkf", 9, "adaptive", rotate=True),
        FilterConfig("letkf", 9, 1.0, 3.0, rotate=True),
        FilterConfig("enkf", 9, 1.0, rotate=True),
    ],
)
def test_rotation_keeps_analysis_mean_and_covariance(config: FilterConfig) -> None:
    g = torch.Generator().manual_seed(1)
    E = 2 * torch.randn(9, 12, generator=g, dtype=F64)
    y = torch.randn(12, generator=g, dtype=F64)
    obs = LinearObs.identity(12, 0.7)
    plain = FilterConfig(config.method, 9, config.inflation, config.localization_radius)
    E_rot, _ = analysis(
        E, y, obs, config, periodic=True, generator=torch.Generator().manual_seed(5)
    )
    E_ref, _ = analysis(E, y, obs, plain, periodic=True, generator=torch.Generator().manual_seed(5))
    (mu_r, P_r), (mu_0, P_0) = moments(E_rot), moments(E_ref)
    assert torch.allclose(mu_r, mu_0, atol=1e-12) and torch.allclose(P_r, P_0, atol=1e-11)
    assert (E_rot - E_ref).abs().max() > 1e-3


@pytest.mark.parametrize(("N", "k"), [(10, 3), (10, 10), (24, 24), (24, 40), (7, 5)])
def test_host_factor_matches_batched_solver(N: int, k: int) -> None:
    """The scalar host solve (ETKF) and the batched torch solve (LETKF) agree to round-off."""
    g = torch.Generator().manual_seed(N + k)
    lam = 10 ** (4 * torch.rand(16, k, generator=g, dtype=F64) - 2)
    b2 = lam * 10 ** (3 * torch.rand(16, k, generator=g, dtype=F64) - 1)
    batched = enkf_n_inflation(lam, b2, N)
    host = [enkf_n_factor(lam[i].tolist(), b2[i].tolist(), N) for i in range(16)]
    assert torch.allclose(batched, torch.tensor(host, dtype=F64), rtol=1e-13, atol=0)
    one = enkf_n_inflation(lam[0], b2[0], N)  # a single problem goes to the host solver
    assert one.shape == () and one.dtype == F64 and one.item() == host[0]


def test_host_factor_without_information_and_bad_input() -> None:
    assert enkf_n_factor([0.0] * 4, [0.0] * 4, 10) == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ValueError, match="same length"):
        enkf_n_factor([1.0, 2.0], [1.0], 10)
    with pytest.raises(ValueError, match="N >= 2"):
        enkf_n_factor([1.0], [1.0], 1)


def test_random_rotation_draws_are_unchanged_by_the_cached_basis() -> None:
    """Same generator state -> the same Omega as building the basis afresh (bit for bit)."""
    N = 9
    Om = [random_rotation(N, generator=torch.Generator().manual_seed(3)) for _ in range(2)]
    g = torch.Generator().manual_seed(3)
    ones = torch.full((N, 1), N**-0.5, dtype=F64)
    eye = torch.eye(N, dtype=F64)
    V = torch.linalg.qr(torch.cat((ones, eye[:, :-1]), dim=1))[0][:, 1:]
    Q, Rz = torch.linalg.qr(torch.randn((N - 1, N - 1), generator=g, dtype=F64))
    want = ones @ ones.T + V @ (Q * torch.sign(torch.diagonal(Rz))) @ V.T
    assert torch.equal(Om[0], want) and torch.equal(Om[1], want)
    assert random_rotation(N, dtype=torch.float32).dtype == torch.float32
