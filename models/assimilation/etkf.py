"""Ensemble transform Kalman filter (ETKF) with the symmetric square root.

With whitened observation anomalies Yw = Y R^{-1/2} (N, m), innovation dyw (m,) and
N1 = N - 1, the analysis in ensemble space (Hunt et al. 2007, eqs. 22-24) is
    Pw = (Yw Yw^T + N1 I)^{-1},  w = Pw Yw dyw,  T = sqrt(N1) Pw^{1/2} (symmetric),
    E_a = xbar + (1 w^T + T) A.
T is symmetric with T 1 = 1, so the analysis anomalies sum to zero (mean-preserving;
Wang, Bishop & Julier 2004; Sakov & Oke 2008). The eigendecomposition is of the
(N, N) matrix G = Yw Yw^T when N <= m, else of the (m, m) matrix S = Yw^T Yw (same
non-zero spectrum), so a large ensemble with few observations costs O(N m n), not O(N^3).
Adaptive inflation (`infl="adaptive"`) is the dual EnKF-N (Bocquet 2011, Bocquet et al.
2015): a prior inflation l1 of A and Yw chosen by 1-D minimisation. A fixed factor is
applied to the analysis anomalies (posterior inflation, as in DAPPER and the Sakov & Oke
2008 tables).
Refs: Bishop, Etherton & Majumdar 2001 (ETKF); Hunt, Kostelich & Szunyogh 2007, Physica D
230; Sakov & Oke 2008, MWR 136.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from models.assimilation.inflation import enkf_n_inflation, inflate
from models.assimilation.observation import LinearObs, whitened_anomalies
from models.assimilation.rotation import rotate_anomalies

Inflation = float | Literal["adaptive"]


def check_inflation(infl: Inflation) -> None:
    """ValueError unless infl is "adaptive" or a finite float >= 1."""
    if infl == "adaptive":
        return
    if (
        isinstance(infl, bool)
        or not isinstance(infl, int | float)
        or not 1.0 <= infl < float("inf")
    ):
        raise ValueError(f"inflation must be a finite number >= 1 or 'adaptive', got {infl!r}")


def etkf_step(
    E: Tensor,
    y: Tensor,
    obs: LinearObs,
    *,
    infl: Inflation = 1.0,
    rotate: bool = False,
    generator: torch.Generator | None = None,
    xN: float = 1.0,
) -> tuple[Tensor, Tensor]:
    """ETKF analysis E (N, n), y (m,) -> (E_a (N, n), inflation used (scalar tensor)).

    The inflation returned is the EnKF-N prior factor l1 when infl == "adaptive", else infl.
    `xN` is the EnKF-N hyperprior boost (1 = Bocquet's original Jeffreys hyperprior).
    """
    check_inflation(infl)
    xbar, A, Yw, dyw = whitened_anomalies(E, y, obs)
    N, m = Yw.shape
    N1 = N - 1
    adaptive = infl == "adaptive"
    one = torch.ones((), dtype=E.dtype, device=E.device)
    if m >= N:  # ensemble space: G = Yw Yw^T = V diag(lam) V^T
        lam, V = torch.linalg.eigh(Yw @ Yw.T)
        lam = lam.clamp(min=0.0)
        vb = V.T @ (Yw @ dyw)  # (N,)
        l1 = enkf_n_inflation(lam, vb**2, N, xN=xN) if adaptive else one
        lam_i = l1**2 * lam  # spectrum of the inflated G
        w = l1 * (V @ (vb / (lam_i + N1)))
        T = (V * torch.sqrt(N1 / (lam_i + N1))) @ V.T
        Xa = l1 * (w[None, :] + T) @ A  # (1 w^T + T) applied to the inflated anomalies
    else:  # observation space: S = Yw^T Yw = U diag(lam) U^T, G's non-zero spectrum
        lam, U = torch.linalg.eigh(Yw.T @ Yw)
        lam = lam.clamp(min=0.0)
        ud = U.T @ dyw  # (m,)
        l1 = enkf_n_inflation(lam, lam * ud**2, N, xN=xN) if adaptive else one
        lam_i = l1**2 * lam
        Yi, Ai = l1 * Yw, l1 * A
        w = Yi @ (U @ (ud / (lam_i + N1)))  # Pw Yw dyw = Yw (S + N1 I)^{-1} dyw
        a = torch.sqrt(N1 / (lam_i + N1))
        f = -1.0 / ((lam_i + N1) * (a + 1.0))  # (a - 1) / lam without the 0/0
        TA = Ai + Yi @ (U @ (f[:, None] * (U.T @ (Yi.T @ Ai))))  # T = I + Yw U f U^T Yw^T
        Xa = (w @ Ai)[None, :] + TA
    E_a = xbar + Xa
    if rotate:
        E_a = rotate_anomalies(E_a, generator)
    if not adaptive and infl != 1.0:
        E_a = inflate(E_a, float(infl))
    return E_a, (l1 if adaptive else one * float(infl))


def etkf_analysis(
    E: Tensor,
    y: Tensor,
    obs: LinearObs,
    *,
    infl: Inflation = 1.0,
    rotate: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """ETKF analysis ensemble E_a (N, n) from the forecast E (N, n) and y (m,); see etkf_step."""
    return etkf_step(E, y, obs, infl=infl, rotate=rotate, generator=generator)[0]
