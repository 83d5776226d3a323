"""The ensemble filters against the Kalman filter on linear-Gaussian problems.

* ETKF: the analysis mean and covariance are exactly the Kalman update of the forecast
  ensemble's sample mean and covariance, for any N (both the ensemble-space and the
  observation-space eigendecomposition), and the anomalies sum to zero.
* EnKF with centred perturbations: the mean identity is exact; the covariance is right
  in expectation.
* Cycled on a stable linear model, both converge to the Kalman filter as N grows.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor

from models.assimilation import (
    FilterConfig,
    LinearObs,
    assimilate,
    enkf_analysis,
    ensemble_init,
    etkf,
    etkf_step,
)

from .kalman import kalman_update, moments

F64 = torch.float64


def problem(N: int, n: int, obs_idx: list[int], seed: int) -> tuple[Tensor, Tensor, LinearObs]:
    g = torch.Generator().manual_seed(seed)
    L = torch.randn(n, n, generator=g, dtype=F64)
    E = torch.randn(N, n, generator=g, dtype=F64) @ L.T + 1.0
    std = 0.5 + torch.rand(len(obs_idx), generator=g, dtype=F64)
    y = torch.randn(len(obs_idx), generator=g, dtype=F64) * 2
    return E, y, LinearObs.subset(n, obs_idx, std)


@pytest.mark.parametrize(
    ("N", "n", "obs_idx"),
    [
        (6, 10, [0, 2, 3, 5, 7, 8, 9, 1]),  # N <= m: ensemble-space eigh
        (4, 10, [1, 3, 5, 7, 9]),  # N < n, rank-deficient P
        (30, 10, [0, 4, 9]),  # N > m: observation-space eigh
    ],
)
@pytest.mark.parametrize("infl", [1.0, "adaptive"])
@pytest.mark.parametrize("compiled", [True, False], ids=["host", "torch"])
def test_etkf_is_the_kalman_update_of_the_sample_moments(
    N: int, n: int, obs_idx: list[int], infl: float | str, compiled: bool, monkeypatch: Any
) -> None:
    """Both the compiled host analysis (small CPU ensembles, N <= m) and torch's."""
    if not compiled:
        monkeypatch.setattr(etkf, "fits_host", lambda E: False)
    E, y, obs = problem(N, n, obs_idx, seed=N)
    E_a, l1 = etkf_step(E, y, obs, infl=infl)  # type: ignore[arg-type]
    mu, P = moments(E)
    # The EnKF-N inflates the prior by l1 before the update (posterior inflation would
    # multiply the analysis anomalies instead); with infl=1, l1 == 1.
    mu_kf, P_kf = kalman_update(mu, l1**2 * P, y, obs)
    mu_a, P_a = moments(E_a)
    assert torch.allclose(mu_a, mu_kf, atol=1e-10)
    assert torch.allclose(P_a, P_kf, atol=1e-10)
    assert torch.allclose((E_a - mu_a).sum(0), torch.zeros(n, dtype=F64), atol=1e-11)


@pytest.mark.parametrize("compiled", [True, False], ids=["host", "torch"])
def test_etkf_on_an_overflowed_ensemble_raises_torch_linalg_error(
    compiled: bool, monkeypatch: Any
) -> None:
    """Whichever path runs, the same error, which a stream catches to skip the cycle."""
    if not compiled:
        monkeypatch.setattr(etkf, "fits_host", lambda E: False)
    E, y, obs = problem(6, 10, list(range(8)), seed=1)
    E[0, 0] = float("inf")
    with pytest.raises(torch.linalg.LinAlgError):  # type: ignore[attr-defined]
        etkf_step(E, y, obs)


def test_etkf_fixed_inflation_multiplies_analysis_anomalies() -> None:
    E, y, obs = problem(8, 5, [0, 3], seed=3)
    E1 = etkf_step(E, y, obs)[0]
    E2, used = etkf_step(E, y, obs, infl=1.1)
    assert used.item() == 1.1
    assert torch.allclose(E2, E1.mean(0) + 1.1 * (E1 - E1.mean(0)), atol=1e-12)


def test_etkf_symmetric_transform_keeps_members_close_to_forecast() -> None:
    """The symmetric square root is the transform closest to the identity (Ott et al. 2004)."""
    E, y, obs = problem(10, 6, [0, 1, 2, 3, 4, 5], seed=5)
    obs = LinearObs.subset(6, list(range(6)), noise_std=100.0)  # weak observations
    E_a = etkf_step(E, y, obs)[0]
    A, A_a = E - E.mean(0), E_a - E_a.mean(0)
    assert (A_a - A).norm() < 1e-2 * A.norm()


def test_enkf_mean_identity_is_exact() -> None:
    E, y, obs = problem(12, 6, [0, 2, 5], seed=7)
    E_a = enkf_analysis(E, y, obs, torch.Generator().manual_seed(0))
    mu, P = moments(E)
    assert torch.allclose(E_a.mean(0), kalman_update(mu, P, y, obs)[0], atol=1e-10)


def test_enkf_ensemble_and_observation_space_forms_agree() -> None:
    """The same perturbations through the (N, N) and (m, m) solves give the same ensemble."""
    E, y, obs = problem(5, 12, list(range(12)), seed=1)  # N <= m
    E_ens = enkf_analysis(E, y, obs, torch.Generator().manual_seed(3))
    # Reproduce the observation-space form by hand with the same draws.
    std = obs.std
    Z = torch.randn((5, 12), generator=torch.Generator().manual_seed(3), dtype=F64)
    Z = Z - Z.mean(0)
    mu, P = moments(E)
    H = obs.dense(E)
    K = P @ H.T @ torch.linalg.inv(H @ P @ H.T + torch.diag(std**2))
    want = E + (y + Z * std - E @ H.T) @ K.T
    assert torch.allclose(E_ens, want, atol=1e-10)


class LinearMap:
    """x_{k+1} = M x_k (Q = 0), one step per unit time."""

    periodic, default_dt = False, 1.0

    def __init__(self, M: Tensor) -> None:
        self.M = M
        self.n = M.shape[0]

    def step(self, x: Tensor, dt: float) -> Tensor:
        return x @ self.M.T


def kalman_filter(
    M: Tensor, mu: Tensor, P: Tensor, ys: Tensor, obs: LinearObs
) -> tuple[Tensor, Tensor]:
    for y in ys:
        mu, P = kalman_update(M @ mu, M @ P @ M.T, y, obs)
    return mu, P


@pytest.mark.parametrize("method", ["etkf", "enkf"])
def test_cycled_filters_converge_to_the_kalman_filter(method: str) -> None:
    n, K = 4, 5
    g = torch.Generator().manual_seed(11)
    M = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=F64))[0] * 0.95  # stable
    obs = LinearObs.subset(n, [0, 2], noise_std=[0.7, 1.2])
    mu0, std0 = torch.zeros(n, dtype=F64), 2.0
    x = mu0 + std0 * torch.randn(n, generator=g, dtype=F64)
    ys = []
    for _ in range(K):
        x = M @ x
        ys.append(obs.H_apply(x) + obs.std * torch.randn(2, generator=g, dtype=F64))
    Y = torch.stack(ys)
    mu_kf, P_kf = kalman_filter(M, mu0, std0**2 * torch.eye(n, dtype=F64), Y, obs)

    def error(N: int) -> float:
        cfg = FilterConfig(method, N)  # type: ignore[arg-type]
        gen = torch.Generator().manual_seed(N)
        E0 = ensemble_init(mu0, std0, N, gen)
        res = assimilate(LinearMap(M), E0, [1.0 + k for k in range(K)], Y, obs, cfg, None, gen)
        mu, P = moments(res.E)
        assert torch.allclose(res.mean[-1], mu)
        return max((mu - mu_kf).norm().item(), (P - P_kf).norm().item() / P_kf.norm().item())

    e_small, e_large = error(50), error(10_000)
    assert e_large < 0.05
    assert e_large < 0.25 * e_small
