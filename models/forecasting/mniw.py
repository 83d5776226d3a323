"""Conjugate Matrix-Normal-Inverse-Wishart (MNIW) regression: update, evidence, sampling.

Model: Y = X B + E, rows of E ~ N(0, Sigma) i.i.d.; prior B | Sigma ~ MN(0, V0, Sigma),
Sigma ~ IW(Psi0, nu0). With d = 1 this is the Normal-Inverse-Gamma linear model.
Refs: Zellner 1971, "An Introduction to Bayesian Inference in Econometrics", ch. 8;
Karlsson 2013, "Forecasting with Bayesian VAR models", Handbook of Economic Forecasting
2B, sec. 3.2.1 (posterior and marginal likelihood); Smith & Hocking 1972 (Bartlett
sampling of the Wishart).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.linalg import cho_solve, cholesky, solve_triangular
from scipy.special import multigammaln

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class MNIWPrior:
    """v0: (k,) prior variances (V0 = diag(v0), prior mean 0); Psi0: (d, d); nu0 > d - 1."""

    v0: FloatArray
    Psi0: FloatArray
    nu0: float


@dataclass(frozen=True, eq=False)
class MNIWPosterior:
    """M: (k, d) mean of B; L: (k, k) lower Cholesky factor of the precision Vn^-1;
    Psi: (d, d) scale and nu the degrees of freedom of Sigma ~ IW(Psi, nu)."""

    M: FloatArray
    L: FloatArray
    Psi: FloatArray
    nu: float

    @property
    def Sigma_mean(self) -> FloatArray:
        """E[Sigma | Y]: (d, d) (finite when nu > d + 1)."""
        d = self.Psi.shape[0]
        return np.asarray(self.Psi / (self.nu - d - 1.0), dtype=np.float64)

    @property
    def coef_var(self) -> FloatArray:
        """Marginal posterior variance of each entry of B: (k, d), diag(Vn) x diag(E Sigma)."""
        # k is small (tens), so a triangular inverse for diag(Vn) is cheap and exact enough.
        Linv = solve_triangular(self.L, np.eye(self.L.shape[0]), lower=True)
        diag_Vn = np.sum(Linv**2, axis=0)
        return np.outer(diag_Vn, np.diag(self.Sigma_mean))


def mniw_update(
    prior: MNIWPrior,
    X: FloatArray,
    Y: FloatArray,
    XtX: FloatArray | None = None,
    XtY: FloatArray | None = None,
) -> MNIWPosterior:
    """Exact posterior for X: (n, k), Y: (n, d); XtX (k, k), XtY (k, d) may be precomputed.

    Vn^-1 = V0^-1 + X'X,  Mn = Vn X'Y,  nu_n = nu0 + n,
    Psi_n = Psi0 + (Y - X Mn)'(Y - X Mn) + Mn' V0^-1 Mn.
    """
    G = X.T @ X if XtX is None else XtX
    XY = X.T @ Y if XtY is None else XtY
    Lam = G + np.diag(1.0 / prior.v0)
    L: FloatArray = cholesky(Lam, lower=True)
    M = cho_solve((L, True), XY)
    # Residual form rather than Psi0 + Y'Y - Mn' Vn^-1 Mn: no cancellation when the fit is tight.
    R = Y - X @ M
    Psi = prior.Psi0 + R.T @ R + M.T @ (M / prior.v0[:, None])
    Psi = 0.5 * (Psi + Psi.T)
    return MNIWPosterior(M=M, L=L, Psi=Psi, nu=prior.nu0 + X.shape[0])


def mniw_log_evidence(prior: MNIWPrior, post: MNIWPosterior, n: int) -> float:
    """log p(Y) for n rows:
    -(n d/2) log pi + (d/2)(log|Vn| - log|V0|) + (nu0/2) log|Psi0| - (nu_n/2) log|Psi_n|
    + log Gamma_d(nu_n/2) - log Gamma_d(nu0/2)."""
    logdet_Vn = -2.0 * float(np.sum(np.log(np.diag(post.L))))
    logdet_V0 = float(np.sum(np.log(prior.v0)))
    logdet_Psin = float(np.linalg.slogdet(post.Psi)[1])
    return float(_log_evidence(prior, n, logdet_Vn - logdet_V0, logdet_Psin))


def _log_evidence(prior: MNIWPrior, n: int, logdet_ratio: Any, logdet_Psin: Any) -> Any:
    """`mniw_log_evidence` from log|Vn| - log|V0| and log|Psi_n| (floats or arrays alike)."""
    d = prior.Psi0.shape[0]
    nu_n = prior.nu0 + n
    return (
        -0.5 * n * d * np.log(np.pi)
        + 0.5 * d * logdet_ratio
        + 0.5 * prior.nu0 * float(np.linalg.slogdet(prior.Psi0)[1])
        - 0.5 * nu_n * logdet_Psin
        + multigammaln(0.5 * nu_n, d)
        - multigammaln(0.5 * prior.nu0, d)
    )


def mniw_nested_log_evidence(
    prior: MNIWPrior,
    XtX: FloatArray,
    XtY: FloatArray,
    YtY: FloatArray,
    n: int,
    sizes: Sequence[int],
) -> FloatArray:
    """`mniw_log_evidence` of the regressions on the first k columns of X, for each k in
    `sizes`, each under the prior's first k variances (the same Psi0 and nu0), from the Gram
    matrices of n rows and one Cholesky factor: the precision of the first k columns is the
    leading block of the whole one, so its factor is the leading block of the whole factor,
    and with W = L^-1 X'Y, Psi_n = Psi0 + Y'Y - W_k' W_k over W's first k rows. This Gram
    form may lose digits on a very tight fit (`mniw_update` keeps the residual form for
    that), which scoring many orders at once can afford: Psi0 dominates such losses."""
    L = cholesky(XtX + np.diag(1.0 / prior.v0), lower=True)
    W = solve_triangular(L, XtY, lower=True)
    at = np.asarray(sizes) - 1
    logdet_Vn = -2.0 * np.cumsum(np.log(np.diag(L)))[at]
    logdet_V0 = np.cumsum(np.log(prior.v0))[at]
    Psi = prior.Psi0 + YtY - np.cumsum(W[:, :, None] * W[:, None, :], axis=0)[at]
    logdet_Psin = np.linalg.slogdet(0.5 * (Psi + Psi.transpose(0, 2, 1)))[1]
    out: FloatArray = _log_evidence(prior, n, logdet_Vn - logdet_V0, logdet_Psin)
    return out


def mniw_sample(
    post: MNIWPosterior, S: int, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray]:
    """Draw S pairs (B_s, Sigma_s) from the posterior, vectorised over s.

    Returns B: (S, k, d) and U: (S, d, d) with U_s U_s' = Sigma_s (a square root used for
    both the coefficient draw and the noise). Sigma_s = C (A A')^-1 C' with Psi = C C' and
    A the lower Bartlett factor of W_d(I, nu), so U_s = C A_s^-T.
    """
    k, d = post.M.shape
    C: FloatArray = cholesky(post.Psi, lower=True)
    A = np.zeros((S, d, d))
    i = np.arange(d)
    A[:, i, i] = np.sqrt(rng.chisquare(post.nu - i, size=(S, d)))
    low = np.tril_indices(d, -1)
    A[:, low[0], low[1]] = rng.standard_normal((S, len(low[0])))
    # A is tiny (d x d) and triangular: a batched inverse is cheaper than S solves.
    U = C @ np.linalg.inv(A).transpose(0, 2, 1)
    # B_s = Mn + L^-T Z_s U_s' has cov Sigma_s (x) Vn since L^-T L^-1 = Vn.
    Z = rng.standard_normal((k, S * d))
    W = solve_triangular(post.L, Z, lower=True, trans="T").reshape(k, S, d).transpose(1, 0, 2)
    B = post.M + W @ U.transpose(0, 2, 1)
    return B, U
