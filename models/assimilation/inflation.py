"""Multiplicative inflation of ensemble anomalies: a fixed factor, or one solved for each analysis.

Two adaptive schemes, both the EnKF-N below and differing only in the hyperprior's
certainty xN (`hyperprior_certainty`):
* "enkf_n": Bocquet's EnKF-N as published (xN = 1, the Jeffreys hyperprior) everywhere;
* "adaptive": xN = 2 for a global analysis, 1 for the LETKF's local ones. The Jeffreys
  hyperprior assumes the ensemble is as noisy as a random sample; an ensemble carried by a
  deterministic transform through chaotic dynamics has less sampling error along the
  directions that matter (Raanes et al. 2019, sec. 2.1; Bocquet et al. 2015, fig. 3), and the
  EnKF-N over-inflates a global analysis (L96, ETKF N=24: RMSE 0.216 and spread/RMSE 1.22
  with xN = 1, 0.176 and 1.07 with xN = 2; the best fixed factor 0.177). A local analysis
  solves a small problem from few members and tapered observations, where the full
  sampling error holds: xN = 2 there starves the spread (L96, LETKF N=7: 0.264 over 3
  seeds, against 0.217 with xN = 1 and 0.213 for the best fixed factor over 10). Measured
  by bench/inflation.py (xN = 2 on the LETKF: a one-off run of its setups).

The EnKF-N (finite-size EnKF) treats the prior covariance as unknown, with a Jeffreys
hyperprior, and marginalises over it; in its dual form this reduces to a 1-D minimisation
over the prior inflation l1 (= sqrt((N-1)/zeta)) of

    J(l1) = sum_i du_i^2 / (l1^2 s_i^2 + N-1) + eN / l1^2 + cL log(l1^2),

where s_i are the singular values of the whitened observation anomalies Yw = Y R^{-1/2}
(N, m) and du its left-projected whitened innovation. In terms of the eigenpairs
(lam_i, v_i) of G = Yw Yw^T (N, N) and b = Yw dyw, s_i^2 du_i^2 = (v_i^T b)^2 =: b2_i.
eN = (N+1)/N, cL = (N+g)/(N-1), with the mode correction of Bocquet et al. 2015 (eq. 36)
that pulls the prior mode of l1 to 1 when the observations carry no information, and an
optional boost xN of the hyperprior's certainty (as in DAPPER's `hyperprior_coeffs`).
Refs: Bocquet 2011, "Ensemble Kalman filtering without the intrinsic need for inflation",
NPG 18; Bocquet, Raanes & Hannart 2015, "Expanding the validity of the ensemble Kalman
filter without the intrinsic need for inflation", NPG 22; Raanes et al. 2019 (xN);
DAPPER's `EnKF_N` (Raanes et al., nansencenter/DAPPER).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

ADAPTIVE_SCHEMES = ("adaptive", "enkf_n")
_L1_BRACKET = (1e-3, 1e3)  # prior inflation factors searched (then clamped to)
_MAX_ITER = 60
_TOL = 1e-12  # relative step at which to stop (Newton's error is then at round-off)


def inflate(E: Tensor, factor: float | Tensor) -> Tensor:
    """Scale the anomalies about the mean: E (N, n) -> xbar + factor (E - xbar).

    `factor` is a scalar or broadcasts against (n,) (e.g. one factor per grid point).
    """
    xbar = E.mean(dim=0)
    return xbar + (E - xbar) * factor


def hyperprior_certainty(scheme: str, *, local: bool) -> float:
    """The EnKF-N hyperprior boost xN of an adaptive scheme (see the module docstring)."""
    if scheme not in ADAPTIVE_SCHEMES:
        raise ValueError(f"adaptive scheme must be one of {ADAPTIVE_SCHEMES}, got {scheme!r}")
    return 2.0 if scheme == "adaptive" and not local else 1.0


def _check(N: int, xN: float, g: int) -> None:
    if N < 2:
        raise ValueError(f"EnKF-N needs N >= 2 members, got {N}")
    if xN <= 0:
        raise ValueError(f"xN must be positive, got {xN}")
    if N + g <= 0:
        raise ValueError(f"EnKF-N needs N + g > 0, got N={N}, g={g}")


def enkf_n_factor(
    lam: Sequence[float], b2: Sequence[float], N: int, *, xN: float = 1.0, g: int = 0
) -> float:
    """The single (global) EnKF-N prior inflation l1, solved on the host in Python floats.

    Same problem and the same safeguarded Newton iteration as `enkf_n_inflation` (which is
    the batched, on-device version), for one factor: lam and b2 are the k <= N eigenvalues
    of G and squared projections (Python floats, e.g. from `Tensor.tolist()`). A handful
    of scalar iterations on k values are far cheaper in Python than as tiny tensor ops with
    a device sync each. Agrees with `enkf_n_inflation` to round-off (sums in another order).
    """
    _check(N, xN, g)
    N1 = float(N - 1)
    if len(b2) != len(lam):
        raise ValueError(f"lam and b2 must have the same length, got {len(lam)} and {len(b2)}")
    lam_c = [max(v, 0.0) for v in lam]  # (NaN stays NaN, as with Tensor.clamp)
    k = len(lam_c)
    eN = (N + 1) / N
    cL = (N + g) / N1
    tr = 0.0
    for v in lam_c:
        tr += 1.0 / (v + N1)
    I_KH = N1 / N * (tr + (N - k) / N1)
    mc = math.sqrt((eN / cL) ** I_KH)
    eN_t = xN * eN / mc
    cL_t = xN * cL * mc
    lo, hi = _L1_BRACKET
    l1 = 1.0
    for _ in range(_MAX_ITER):
        l2 = l1 * l1
        il2 = 1.0 / l2
        s1 = s2 = 0.0  # sum b2 / d^2, sum lam b2 / d^3 with d = l2 lam + N1
        for la, bb in zip(lam_c, b2, strict=True):
            d = l2 * la + N1
            r = bb / (d * d)
            s1 += r
            s2 += r * la / d
        Jp = (-2.0 * l2 * s1 - 2.0 * eN_t * il2 + 2.0 * cL_t) / l1
        Jpp = -2.0 * s1 + 8.0 * l2 * s2 + il2 * (6.0 * eN_t * il2 - 2.0 * cL_t)
        if Jp < 0:
            lo = l1
        else:  # also for a NaN slope, as in the batched version
            hi = l1
        new = l1 - Jp / Jpp if Jpp > 0 else math.nan
        if not lo <= new <= hi:
            new = math.sqrt(lo * hi)
        done = abs(new - l1) <= _TOL * l1
        l1 = new
        if done:
            break
    return min(max(l1, _L1_BRACKET[0]), _L1_BRACKET[1])


def enkf_n_inflation(lam: Tensor, b2: Tensor, N: int, *, xN: float = 1.0, g: int = 0) -> Tensor:
    """Prior inflation l1 (...) minimising the dual EnKF-N cost, batched over leading dims.

    lam: (..., k) eigenvalues of G = Yw Yw^T (k <= N; the N - k missing ones are zero);
    b2: (..., k) squared projections (v_i^T Yw dyw)^2 on the matching eigenvectors.
    Solved by Newton's method safeguarded with bisection in log(l1) on a bracket where
    J' changes sign (so it converges to a local minimum), to 1e-12 relative. A single
    problem (1-D lam) is solved on the host by `enkf_n_factor` instead.
    """
    _check(N, xN, g)
    if lam.ndim == 1:
        l1_host = enkf_n_factor(lam.tolist(), b2.tolist(), N, xN=xN, g=g)
        return torch.tensor(l1_host, dtype=lam.dtype, device=lam.device)
    N1 = float(N - 1)
    lam = lam.clamp(min=0.0)
    k = lam.shape[-1]
    eN = (N + 1) / N
    cL = (N + g) / N1
    prior_mode = eN / cL  # mode of l1^2 before correction
    # I - KH (scalar proxy): N1 * mean over the N eigenvalues of 1 / (lam + N1)
    I_KH = N1 / N * ((1.0 / (lam + N1)).sum(dim=-1) + (N - k) / N1)
    mc = torch.sqrt(prior_mode**I_KH)
    eN_t = xN * eN / mc
    cL_t = xN * cL * mc

    def derivatives(l1: Tensor) -> tuple[Tensor, Tensor]:
        l2 = l1 * l1
        il2 = 1.0 / l2
        r = b2 / ((l2[..., None] * lam + N1) ** 2)  # b2 / d^2
        s1 = r.sum(-1)
        s2 = (r * lam / (l2[..., None] * lam + N1)).sum(-1)  # sum lam b2 / d^3
        Jp = (-2.0 * l2 * s1 - 2.0 * eN_t * il2 + 2.0 * cL_t) / l1
        # (DAPPER's Newton_m Hessian omits the -2 s1 term, which only slows convergence.)
        Jpp = -2.0 * s1 + 8.0 * l2 * s2 + il2 * (6.0 * eN_t * il2 - 2.0 * cL_t)
        return Jp, Jpp

    shape = lam.shape[:-1]
    lo = torch.full(shape, _L1_BRACKET[0], dtype=lam.dtype, device=lam.device)
    hi = torch.full(shape, _L1_BRACKET[1], dtype=lam.dtype, device=lam.device)
    l1 = torch.ones(shape, dtype=lam.dtype, device=lam.device)
    for _ in range(_MAX_ITER):
        Jp, Jpp = derivatives(l1)
        lo = torch.where(Jp < 0, l1, lo)
        hi = torch.where(Jp < 0, hi, l1)
        newton = l1 - Jp / Jpp
        ok = (Jpp > 0) & (newton >= lo) & (newton <= hi)
        new = torch.where(ok, newton, torch.sqrt(lo * hi))
        done = bool(((new - l1).abs() <= _TOL * l1).all())
        l1 = new
        if done:
            break
    return l1.clamp(*_L1_BRACKET)
