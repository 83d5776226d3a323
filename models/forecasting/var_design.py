"""Design matrices and Monte Carlo rollouts of a VAR(p) with deterministic terms.

z_t = D_t beta + sum_{i=1..p} A_i z_{t-i} + e_t, with D_t = [1, t/T, sin/cos(2 pi k t/m)];
used by `bayes_ar.BayesianAR`. Refs: Luetkepohl 2005, "New Introduction to Multiple Time
Series Analysis", sec. 3.5 (forecasting a VAR by recursion); Harvey 1989 ch. 2.
"""

from __future__ import annotations

import numpy as np

from models.forecasting.base import FloatArray


def deterministic_terms(t: FloatArray, T: int, trend: bool, m: float | None, K: int) -> FloatArray:
    """Columns [1, t/T (if trend), sin/cos(2 pi k t/m) for k = 1..K]: t (n,) -> (n, n_det)."""
    cols = [np.ones_like(t)]
    if trend:
        cols.append(t / T)
    if K > 0 and m is not None:
        for k in range(1, K + 1):
            w = 2.0 * np.pi * k * t / m
            cols += [np.sin(w), np.cos(w)]
    return np.stack(cols, axis=1)


def lagged_design(z: FloatArray, P: int, D: FloatArray) -> tuple[FloatArray, FloatArray]:
    """X = [D, z_{t-1}, ..., z_{t-P}]: (T-P, n_det + P d) and Y = z_t: (T-P, d), t = P..T-1.

    Lag 1 comes first, so the design of any order p <= P is a column prefix of X.
    z: (T, d); D: (T-P, n_det) deterministic terms for the same rows.
    """
    T = z.shape[0]
    X = np.hstack([D, *(z[P - i : T - i] for i in range(1, P + 1))])
    return X, z[P:]


def feasible(T: int, p: int, n_det: int, d: int) -> bool:
    """Enough rows for order p: p <= (T-1)//3 and n_rows > n_regressors + 2."""
    return 1 <= p <= (T - 1) // 3 and T - p > n_det + p * d + 2


def rollout(
    B: FloatArray, U: FloatArray, z_tail: FloatArray, D: FloatArray, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray]:
    """Roll out S draws h steps ahead in standardised units (loop over steps only).

    B: (S, k, d) coefficients; U: (S, d, d) noise roots; z_tail: (p, d) last p observations,
    oldest first; D: (h, n_det) future deterministic terms.
    Returns the noisy paths and the conditional-mean paths E[z | B_s, Sigma_s], both (S, h, d).
    """
    S, _, d = B.shape
    h, n_det = D.shape
    p = z_tail.shape[0]
    B_lag = B[:, n_det:]  # (S, p d, d)
    base = D @ B[:, :n_det]  # (S, h, d)
    E = rng.standard_normal((S, h, d)) @ U.transpose(0, 2, 1)
    # Row 0 carries the noisy path, row 1 the noiseless one, so one product serves both.
    # History is stored newest-first, so each step's lag vector [z_{t-1}, ..., z_{t-p}] is a
    # contiguous slice (no copying) and the new value is written just in front of it.
    H = np.empty((S, 2, (h + p) * d))
    H[:, :, h * d :] = z_tail[::-1].reshape(-1)
    for j in range(h):
        s = (h - j) * d
        m = base[:, None, j] + np.einsum("sck,skd->scd", H[:, :, s : s + p * d], B_lag)
        m[:, 0] += E[:, j]
        H[:, :, s - d : s] = m
    out = H[:, :, : h * d].reshape(S, 2, h, d)[:, :, ::-1]
    return out[:, 0], out[:, 1]
