"""Forecast accuracy and scoring rules (pure functions on numpy arrays).

Refs: Gneiting & Raftery 2007, "Strictly proper scoring rules, prediction, and estimation"
(CRPS energy form, Gaussian closed form, interval score); Winkler 1972; Hyndman & Koehler 2006
(MASE, sMAPE); Gilpin 2023 (valid prediction time of chaotic forecasts).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import norm

FloatArray = NDArray[np.float64]


def crps_from_samples(samples: ArrayLike, y: ArrayLike) -> FloatArray:
    """CRPS of the empirical forecast distribution: samples (S, ...), y (...) -> (...).

    Energy form CRPS = E|X - y| - E|X - X'|/2, with the pair term from the sorted sample,
    sum_ij |x_i - x_j| = 2 sum_i (2i - S - 1) x_(i), so O(S log S) rather than O(S^2).
    """
    X = np.asarray(samples, dtype=np.float64)
    Y = np.asarray(y, dtype=np.float64)
    if X.shape[1:] != Y.shape:
        raise ValueError(f"samples (S, ...) and y (...) disagree: {X.shape} vs {Y.shape}")
    S = X.shape[0]
    if S < 1:
        raise ValueError("need at least one sample")
    Xs = np.sort(X, axis=0)
    w = (2.0 * np.arange(1, S + 1) - S - 1.0).reshape((S,) + (1,) * Y.ndim)
    return np.asarray(np.mean(np.abs(X - Y), axis=0) - np.sum(w * Xs, axis=0) / S**2)


def interval_coverage(lower: ArrayLike, upper: ArrayLike, y: ArrayLike) -> float:
    """Fraction of y inside [lower, upper] (inclusive), pooled over all entries."""
    lo, hi, Y = (np.asarray(a, dtype=np.float64) for a in (lower, upper, y))
    return float(np.mean((lo <= Y) & (hi >= Y)))


def winkler_score(lower: ArrayLike, upper: ArrayLike, y: ArrayLike, level: float) -> FloatArray:
    """Winkler (interval) score per entry for a central level-% interval (lower is better):
    (u - l) + (2/alpha)(l - y)[y < l] + (2/alpha)(y - u)[y > u], alpha = 1 - level/100."""
    if not 0.0 < level < 100.0:
        raise ValueError(f"level must lie in (0, 100), got {level}")
    lo, hi, Y = (np.asarray(a, dtype=np.float64) for a in (lower, upper, y))
    alpha = 1.0 - level / 100.0
    below = np.maximum(lo - Y, 0.0)
    above = np.maximum(Y - hi, 0.0)
    return np.asarray((hi - lo) + (2.0 / alpha) * (below + above))


def mase(y_true: ArrayLike, y_pred: ArrayLike, y_train: ArrayLike, m: int = 1) -> float:
    """Mean absolute scaled error: MAE / in-sample MAE of the seasonal naive forecast (lag m).

    y_train: (T,) or (T, d), differenced along axis 0. Returns inf (or nan for 0/0) when the
    training series is constant at lag m.
    """
    Yt, Yp, Ytr = (np.asarray(a, dtype=np.float64) for a in (y_true, y_pred, y_train))
    if m < 1 or Ytr.shape[0] <= m:
        raise ValueError(f"need m >= 1 and more than m={m} training points, got {Ytr.shape[0]}")
    scale = np.mean(np.abs(Ytr[m:] - Ytr[:-m]))
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.mean(np.abs(Yt - Yp)) / scale)


def smape(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Symmetric MAPE on a 0-200 scale: 200 mean(|y - yhat| / (|y| + |yhat|)); 0/0 terms count 0."""
    Yt, Yp = (np.asarray(a, dtype=np.float64) for a in (y_true, y_pred))
    den = np.abs(Yt) + np.abs(Yp)
    ratio = np.divide(np.abs(Yt - Yp), den, out=np.zeros(np.broadcast(Yt, Yp).shape), where=den > 0)
    return float(200.0 * np.mean(ratio))


def rmse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Root mean squared error, pooled over all entries."""
    Yt, Yp = (np.asarray(a, dtype=np.float64) for a in (y_true, y_pred))
    return float(np.sqrt(np.mean((Yt - Yp) ** 2)))


def smape_terms(y_true: ArrayLike, y_pred: ArrayLike) -> FloatArray:
    """Per-entry sMAPE terms on the 0-200 scale, 200 |y - yhat| / (|y| + |yhat|); 0/0 -> 0.

    `smape(y, yhat)` is the mean of these terms.
    """
    Yt, Yp = (np.asarray(a, dtype=np.float64) for a in (y_true, y_pred))
    den = np.abs(Yt) + np.abs(Yp)
    out = np.zeros(np.broadcast(Yt, Yp).shape)
    return np.asarray(200.0 * np.divide(np.abs(Yt - Yp), den, out=out, where=den > 0))


def crps_gaussian(mu: ArrayLike, sigma: ArrayLike, y: ArrayLike) -> FloatArray:
    """Closed-form CRPS of N(mu, sigma^2) at y, elementwise (Gneiting & Raftery 2007, eq. 21):
    sigma (z (2 Phi(z) - 1) + 2 phi(z) - 1/sqrt(pi)), z = (y - mu)/sigma; sigma = 0 gives |y - mu|.
    """
    M, Sd, Y = (np.asarray(a, dtype=np.float64) for a in (mu, sigma, y))
    if np.any(Sd < 0):
        raise ValueError("sigma must be >= 0")
    safe = np.where(Sd > 0, Sd, 1.0)
    z = (Y - M) / safe
    crps = safe * (z * (2.0 * norm.cdf(z) - 1.0) + 2.0 * norm.pdf(z) - 1.0 / np.sqrt(np.pi))
    return np.asarray(np.where(Sd > 0, crps, np.abs(Y - M)))


def valid_prediction_steps(y_true: ArrayLike, y_pred: ArrayLike, threshold: float = 30.0) -> int:
    """Number of leading steps whose sMAPE (0-200, averaged over dims) stays <= threshold.

    y_true, y_pred: (h,) or (h, d). Returns the 0-based index of the first step whose sMAPE
    exceeds `threshold`, or h when none does (right-censored at the horizon). Times valid
    prediction time (VPT) = steps * dt / lyapunov_time. Ref: Gilpin 2023, "Model scale versus
    domain knowledge in statistical forecasting of chaotic systems" (VPT at sMAPE > 30).
    """
    T = smape_terms(y_true, y_pred)
    per_step = T.reshape(T.shape[0], -1).mean(axis=1) if T.ndim > 1 else T
    bad = np.flatnonzero(per_step > threshold)
    return int(bad[0]) if bad.size else int(per_step.shape[0])


def nrmse(y_true: ArrayLike, y_pred: ArrayLike, scale: float) -> float:
    """RMSE divided by `scale` (e.g. the std of the training window); inf/nan when scale is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(rmse(y_true, y_pred) / scale)
