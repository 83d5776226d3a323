"""The ETKF analysis in ensemble space as compiled code, for small CPU ensembles.

A stream's cycle on Lorenz-96 (N = 24, n = 40) is a few dozen tiny torch ops, ~4 us each
whatever their size, around one 24 x 24 eigendecomposition (~40 us): the ops cost more
than the arithmetic. Here the same analysis is two numba kernels with the EnKF-N factor
solved between them in Python floats (`inflation.enkf_n_factor`). Same arithmetic as the
torch path of `etkf.etkf_step` (its ensemble-space branch) up to round-off; tests compare.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def ensemble_spectrum(
    E: np.ndarray, HE: np.ndarray, y: np.ndarray, std: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """E (N, n) members, HE (N, m) their observed values, y (m,), std (m,) noise std ->
    xbar (n,), A (N, n) anomalies, lam (N,) clamped eigenvalues and V (N, N) eigenvectors
    of G = Yw Yw^T, vb (N,) = V^T Yw dyw (whitened as in `observation.whitened_anomalies`)."""
    N, m = HE.shape
    xbar = np.empty(E.shape[1])
    for j in range(E.shape[1]):
        xbar[j] = E[:, j].mean()
    A = E - xbar
    Yw = np.empty((N, m))
    dyw = np.empty(m)
    for k in range(m):
        ybar = HE[:, k].mean()
        dyw[k] = (y[k] - ybar) / std[k]
        for i in range(N):
            Yw[i, k] = (HE[i, k] - ybar) / std[k]
    lam, V = np.linalg.eigh(Yw @ Yw.T)
    return xbar, A, np.maximum(lam, 0.0), V, V.T @ (Yw @ dyw)


@numba.njit(cache=True)
def transform(
    xbar: np.ndarray,
    A: np.ndarray,
    lam: np.ndarray,
    V: np.ndarray,
    vb: np.ndarray,
    l1: float,
    post: float,
) -> np.ndarray:
    """The analysis members xbar + (1 w^T + T) A for prior inflation l1 of A and Yw and a
    posterior factor `post` on T A: W = l1^2 1 w^T + l1 post T, with d = l1^2 lam + N1,
    w = V (vb / d) and T = V diag(sqrt(N1 / d)) V^T."""
    N = A.shape[0]
    N1 = N - 1.0
    d = l1 * l1 * lam + N1
    w = V @ (vb / d)
    T = (V * np.sqrt(N1 / d)) @ V.T
    W = np.empty((N, N))
    for i in range(N):
        for k in range(N):
            W[i, k] = l1 * l1 * w[k] + l1 * post * T[i, k]
    E_a: np.ndarray = xbar + W @ A
    return E_a
