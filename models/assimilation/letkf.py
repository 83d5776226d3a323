"""Local ETKF: one ETKF per grid point with distance-tapered observation precision.

For grid point i the observation precision R^{-1} is multiplied by rho_i (m,) =
GC(dist(i, obs)) (see `localization`), i.e. Yw and dyw are scaled by sqrt(rho_i); the
(N, N) matrices G_i = Yw diag(rho_i) Yw^T of all n grid points are eigendecomposed in one
batched call and each point takes the i-th column of its own transform:
    E_a[:, i] = xbar_i + (1 w_i^T + T_i) A[:, i].
With an infinite radius every local analysis is the global ETKF.
Adaptive inflation (either scheme; xN = 1 for these local problems, see `inflation`, unless
the radius is infinite and the analysis global): the EnKF-N is solved per grid point on its
tapered local problem (batched; a point with no observations in reach gets l1 = 1 through
the mode correction), which is DAPPER's local variant. Fixed inflation and rotation are
applied globally to the analysis anomalies. Memory is O(n N (N + m)).
Refs: Hunt, Kostelich & Szunyogh 2007, Physica D 230 (LETKF); Gaspari & Cohn 1999;
Bocquet 2011 (EnKF-N); DAPPER's `LETKF`/`local_analyses`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from models.assimilation.etkf import Inflation, check_inflation, is_adaptive
from models.assimilation.inflation import enkf_n_inflation, hyperprior_certainty, inflate
from models.assimilation.localization import taper_matrix
from models.assimilation.observation import LinearObs, whitened_anomalies
from models.assimilation.rotation import rotate_anomalies


def letkf_step(
    E: Tensor,
    y: Tensor,
    obs: LinearObs,
    *,
    radius: float = math.inf,
    periodic: bool = False,
    infl: Inflation = 1.0,
    rotate: bool = False,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """LETKF analysis E (N, n), y (m,) -> (E_a (N, n), inflation used).

    radius: localisation length l in grid units (Gaspari-Cohn half-width sqrt(10/3) l, zero
    beyond 2 sqrt(10/3) l); periodic: whether grid distance wraps around n.
    The inflation returned is (n,) per grid point for an adaptive scheme, else a scalar.
    """
    check_inflation(infl)
    xbar, A, Yw, dyw = whitened_anomalies(E, y, obs)
    N, n = A.shape
    N1 = N - 1
    rho = taper_matrix(
        n, obs.positions, radius, periodic=periodic, device=E.device, dtype=E.dtype
    )  # (n, m)
    Yr = Yw[None, :, :] * rho[:, None, :]  # (n, N, m): Yw diag(rho_i)
    G = Yr @ Yw.T  # (n, N, N)
    b = Yr @ dyw  # (n, N): Yw diag(rho_i) dyw
    lam, V = torch.linalg.eigh(G)
    lam = lam.clamp(min=0.0)
    vb = (V.transpose(1, 2) @ b[:, :, None])[:, :, 0]  # (n, N)
    adaptive = is_adaptive(infl)
    if adaptive:
        xN = hyperprior_certainty(str(infl), local=math.isfinite(radius))
        l1 = enkf_n_inflation(lam, vb**2, N, xN=xN)  # (n,)
    else:
        l1 = torch.ones(n, dtype=E.dtype, device=E.device)
    lam_i = l1[:, None] ** 2 * lam
    w = l1[:, None] * (V @ (vb / (lam_i + N1))[:, :, None])[:, :, 0]  # (n, N)
    T = (V * torch.sqrt(N1 / (lam_i + N1))[:, None, :]) @ V.transpose(1, 2)  # (n, N, N)
    W = l1[:, None, None] * (w[:, None, :] + T)  # (n, N, N), rows: members after analysis
    E_a = xbar + torch.einsum("ikj,ji->ki", W, A)
    if rotate:
        E_a = rotate_anomalies(E_a, generator)
    if not adaptive and infl != 1.0:
        E_a = inflate(E_a, float(infl))
    used = l1 if adaptive else torch.full((), float(infl), dtype=E.dtype, device=E.device)
    return E_a, used


def letkf_analysis(
    E: Tensor,
    y: Tensor,
    obs: LinearObs,
    *,
    radius: float = math.inf,
    periodic: bool = False,
    infl: Inflation = 1.0,
    rotate: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """LETKF analysis ensemble E_a (N, n); see letkf_step."""
    return letkf_step(
        E, y, obs, radius=radius, periodic=periodic, infl=infl, rotate=rotate, generator=generator
    )[0]
