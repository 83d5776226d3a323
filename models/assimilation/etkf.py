"""Ensemble transform Kalman filter (ETKF) with the symmetric square root.

With whitened observation anomalies Yw = Y R^{-1/2} (N, m), innovation dyw (m,) and
N1 = N - 1, the analysis in ensemble space (Hunt et al. 2007, eqs. 22-24) is
    Pw = (Yw Yw^T + N1 I)^{-1},  w = Pw Yw dyw,  T = sqrt(N1) Pw^{1/2} (symmetric),
    E_a = xbar + (1 w^T + T) A.
T is symmetric with T 1 = 1, so the analysis anomalies sum to zero (mean-preserving;
Wang, Bishop & Julier 2004; Sakov & Oke 2008). The eigendecomposition is of the
(N, N) matrix G = Yw Yw^T when N <= m, else of the (m, m) matrix S = Yw^T Yw (same
non-zero spectrum), so a large ensemble with few observations costs O(N m n), not O(N^3).
Adaptive inflation (`infl` "adaptive" or "enkf_n", see `inflation`) is the dual EnKF-N
(Bocquet 2011, Bocquet et al. 2015): a prior inflation l1 of A and Yw chosen by 1-D
minimisation. A fixed factor is applied to the analysis anomalies (posterior inflation, as
in DAPPER and the Sakov & Oke 2008 tables). A small CPU ensemble's ensemble-space analysis
runs as compiled code (`etkf_host`): a stream's cycle is otherwise mostly torch's per-op cost.
Refs: Bishop, Etherton & Majumdar 2001 (ETKF); Hunt, Kostelich & Szunyogh 2007, Physica D
230; Sakov & Oke 2008, MWR 136.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import Tensor

from models.assimilation.etkf_host import ensemble_spectrum, transform
from models.assimilation.inflation import ADAPTIVE_SCHEMES, enkf_n_factor, hyperprior_certainty
from models.assimilation.observation import LinearObs, check_shapes, whitened_anomalies
from models.assimilation.rotation import rotate_anomalies
from models.host import fits_host

Inflation = float | Literal["adaptive", "enkf_n"]


def is_adaptive(infl: Inflation) -> bool:
    """Whether infl names an adaptive scheme (solved for at each analysis)."""
    return isinstance(infl, str) and infl in ADAPTIVE_SCHEMES


def check_inflation(infl: Inflation) -> None:
    """ValueError unless infl is an adaptive scheme's name or a finite float >= 1."""
    if is_adaptive(infl):
        return
    if (
        isinstance(infl, bool)
        or not isinstance(infl, int | float)
        or not 1.0 <= infl < float("inf")
    ):
        raise ValueError(
            f"inflation must be a finite number >= 1, 'adaptive' or 'enkf_n', got {infl!r}"
        )


def etkf_step(
    E: Tensor,
    y: Tensor,
    obs: LinearObs,
    *,
    infl: Inflation = 1.0,
    rotate: bool = False,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """ETKF analysis E (N, n), y (m,) -> (E_a (N, n), inflation used (scalar tensor)).

    The inflation returned is the EnKF-N prior factor l1 for an adaptive scheme, else infl.
    A small CPU ensemble with m >= N runs as compiled code (`etkf_host`), the rest on torch.
    """
    check_inflation(infl)
    adaptive = is_adaptive(infl)
    xN = hyperprior_certainty(str(infl), local=False) if adaptive else None
    post = 1.0 if adaptive else float(infl)  # posterior (fixed) inflation factor
    if obs.m >= E.shape[0] and fits_host(E):
        E_a, l1 = _host_analysis(E, y, obs, xN, post)
    else:
        E_a, l1 = _torch_analysis(E, y, obs, xN, post)
    if rotate:  # mean-preserving and linear in the anomalies: commutes with the factors
        E_a = rotate_anomalies(E_a, generator)
    used = l1 if adaptive else float(infl)
    return E_a, torch.full((), used, dtype=E.dtype, device=E.device)


def _host_analysis(
    E: Tensor, y: Tensor, obs: LinearObs, xN: float | None, post: float
) -> tuple[Tensor, float]:
    """The ensemble-space analysis of `_torch_analysis` as `etkf_host`'s kernels."""
    check_shapes(E, y, obs)
    HE = E if obs.indices is None and obs.H is None else obs.H_apply(E)
    try:
        xbar, A, lam, V, vb = ensemble_spectrum(
            np.ascontiguousarray(E.detach().numpy()),
            np.ascontiguousarray(HE.detach().numpy()),
            y.detach().to(dtype=torch.float64, device="cpu").numpy(),
            obs.std.numpy(),
        )
    except np.linalg.LinAlgError as e:  # the torch path's error, whichever path ran
        raise torch.linalg.LinAlgError(str(e)) from e  # type: ignore[attr-defined]  # not in the stubs
    l1 = 1.0 if xN is None else enkf_n_factor(lam.tolist(), (vb * vb).tolist(), len(lam), xN=xN)
    return torch.from_numpy(transform(xbar, A, lam, V, vb, l1, post)), l1


def _torch_analysis(
    E: Tensor, y: Tensor, obs: LinearObs, xN: float | None, post: float
) -> tuple[Tensor, float]:
    """(E_a, l1): the analysis with EnKF-N hyperprior certainty xN (None: no adaptive
    inflation, l1 = 1) and the posterior factor `post` on the analysis anomalies."""
    xbar, A, Yw, dyw = whitened_anomalies(E, y, obs)
    N, m = Yw.shape
    N1 = N - 1
    adaptive = xN is not None
    # Without adaptive inflation l1 = 1 and every product with it below is skipped (exact).
    l1 = 1.0
    if m >= N:  # ensemble space: G = Yw Yw^T = V diag(lam) V^T
        lam, V = torch.linalg.eigh(Yw @ Yw.T)
        lam = lam.clamp(min=0.0)
        vb = V.T @ (Yw @ dyw)  # (N,)
        lam_i = lam
        if xN is not None:  # solved on the host: one transfer of two N-vectors
            lam_h, vb_h = torch.stack((lam, vb)).tolist()
            l1 = enkf_n_factor(lam_h, [v * v for v in vb_h], N, xN=xN)
            lam_i = (l1 * l1) * lam  # spectrum of the inflated G
        d = lam_i + N1
        w = V @ (vb / d)
        T = (V * torch.sqrt(N1 / d)) @ V.T
        # 1 w^T + T (w broadcast along the rows), applied to the inflated anomalies l1 A; a
        # fixed posterior factor scales T A alone, the analysis anomalies (mean unchanged)
        W = l1 * (l1 * w + T) if adaptive else w + (T if post == 1.0 else post * T)
        Xa = W @ A
    else:  # observation space: S = Yw^T Yw = U diag(lam) U^T, G's non-zero spectrum
        lam, U = torch.linalg.eigh(Yw.T @ Yw)
        lam = lam.clamp(min=0.0)
        ud = U.T @ dyw  # (m,)
        lam_i, Yi, Ai = lam, Yw, A
        if xN is not None:
            lam_h, ud_h = torch.stack((lam, ud)).tolist()
            b2 = [la * (u * u) for la, u in zip(lam_h, ud_h, strict=True)]
            l1 = enkf_n_factor(lam_h, b2, N, xN=xN)
            lam_i = (l1 * l1) * lam
            Yi, Ai = l1 * Yw, l1 * A
        d = lam_i + N1
        w = Yi @ (U @ (ud / d))  # Pw Yw dyw = Yw (S + N1 I)^{-1} dyw
        a = torch.sqrt(N1 / d)
        f = -1.0 / (d * (a + 1.0))  # (a - 1) / lam without the 0/0
        TA = Ai + Yi @ (U @ (f[:, None] * (U.T @ (Yi.T @ Ai))))  # T = I + Yw U f U^T Yw^T
        Xa = (w @ Ai) + (TA if post == 1.0 else post * TA)
    return xbar + Xa, l1


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
