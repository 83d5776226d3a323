"""Stochastic EnKF with perturbed observations (centred perturbations).

Each member assimilates its own perturbed observation y + D_k, D (N, m) ~ N(0, R) shifted
to mean zero over the members so that the analysis mean is exactly the Kalman update of
the ensemble mean with the sample covariance:
    E_a = E + (y + D - H E) K^T,  K = A^T Y (Y^T Y + N1 R)^{-1}.
Computed in whitened form, solving in whichever of the (N, N) or (m, m) spaces is smaller:
    E_a = E + Dw (S + N1 I)^{-1} Yw^T A = E + (Dw Yw^T)(G + N1 I)^{-1} A,
with Dw the whitened perturbed innovations, S = Yw^T Yw, G = Yw Yw^T.
Fixed inflation is applied to the analysis anomalies.
Refs: Burgers, van Leeuwen & Evensen 1998, MWR 126; Evensen 2003, Ocean Dyn. 53;
Sakov & Oke 2008 (centred perturbations).
"""

from __future__ import annotations

import torch
from torch import Tensor

from models.assimilation.inflation import inflate
from models.assimilation.observation import LinearObs, whitened_anomalies
from models.assimilation.rotation import rotate_anomalies


def enkf_analysis(
    E: Tensor,
    y: Tensor,
    obs: LinearObs,
    generator: torch.Generator | None = None,
    *,
    infl: float = 1.0,
    rotate: bool = False,
) -> Tensor:
    """Perturbed-observation EnKF: E (N, n), y (m,) -> E_a (N, n).

    `generator` (on E's device) draws the observation perturbations (and the rotation).
    """
    if (
        isinstance(infl, bool)
        or not isinstance(infl, int | float)
        or not 1.0 <= infl < float("inf")
    ):
        raise ValueError(f"the stochastic EnKF takes a fixed inflation >= 1, got {infl!r}")
    xbar, A, Yw, dyw = whitened_anomalies(E, y, obs)
    N, m = Yw.shape
    N1 = N - 1
    Z = torch.randn((N, m), generator=generator, device=E.device, dtype=E.dtype)
    Z = Z - Z.mean(dim=0)  # centred whitened perturbations D R^{-1/2}
    Dw = dyw + Z - Yw  # whitened (y + D - H E_k) for each member k
    if m >= N:
        G = Yw @ Yw.T
        G.diagonal().add_(N1)
        E_a: Tensor = E + (Dw @ Yw.T) @ torch.linalg.solve(G, A)
    else:
        S = Yw.T @ Yw
        S.diagonal().add_(N1)
        E_a = E + Dw @ torch.linalg.solve(S, Yw.T @ A)
    if rotate:
        E_a = rotate_anomalies(E_a, generator)
    if infl != 1.0:
        E_a = inflate(E_a, float(infl))
    return E_a
