"""Split-conformal recalibration of a forecaster's own intervals, per horizon step.

Calibration scores come from rolling-origin backtest folds (`backtest.rolling_origin`): for
level L and step j the CQR nonconformity score of fold f, dimension i is
    s = max(lower_L - y, y - upper_L)                   (Romano et al. 2019, eq. 6),
negative inside the interval. With n scores for step j, q_j is their k-th smallest value,
k = ceil((n + 1) L / 100), and the calibrated interval is [lower - q_j, upper + q_j]: it widens
an overconfident model's intervals (q > 0) and narrows an underconfident one's (q < 0). Under
exchangeability of calibration and test scores, coverage is >= L/100 marginally for each step
(Vovk, Gammerman & Shafer 2005, ch. 2 and 4; Romano et al. 2019, thm. 1). Each step is
calibrated on its own, as in Stankeviciute, Alaa & van der Schaar 2021 ("Conformal time-series
forecasting"), whose Bonferroni correction for joint coverage over the horizon is not applied
here: coverage is per step. Rolling-origin folds of one series are only approximately
exchangeable (dependence, growing training windows), so the guarantee is approximate.

Normalised scores (optional): with the half-widths w = (upper - lower)/2 of the backtest
intervals, s / w is calibrated instead and the interval becomes [lower - q w, upper + q w]
with w the forecast's own half-width (Papadopoulos et al. 2008, "Normalized nonconformity
measures for regression conformal prediction"; Lei et al. 2018, "Distribution-free predictive
inference for regression", sec. 5.2). It rescales rather than shifts, so it transfers better
when the backtest models' intervals are systematically wider or narrower than the final
model's (e.g. fitted on less data). Coverage is still >= L/100 under exchangeability.

Pooling: a level-L quantile is finite only when n >= n_min(L), the smallest n with
ceil((n + 1) L / 100) <= n (4 at 80%, 19 at 95%). Scores of all dimensions are pooled. When a
step has fewer than max(n_min(L), min_scores) scores, the window of steps
[j - w, j + w] (clipped to the horizon) is widened one step at a time until it holds enough;
if all steps pooled are still too few, q_j = +inf (the interval is unbounded, honestly).

Where the scores come from (`calibration_backtest`): the fitted model itself, forecasting from
origins spread over the series with each origin's history as context (no refit). Scores from
fresh fits on shorter prefixes are not exchangeable with the final forecast: a model fitted
on 150 of 512 points has other coefficients and wider posteriors than the one that makes the
forecast, and on the chaos benchmark's uncertainty track (bench/chaos.py, 12 systems x 5
starts, horizon 300) such scores took the Bayesian AR's 80/95% coverage to 0.70/0.58. The
model's own rollouts from its own history are what the final forecast is; the price is that
its parameters have seen the folds' futures (in-sample), which flatters a model with many
parameters per data point and matters little for a rollout's error growth. Measured there,
20 such folds gave 0.793/0.942 (clean) and 0.792/0.946 (noisy).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Self

import numpy as np
from numpy.typing import ArrayLike

from models.forecasting.backtest import BacktestResult, rolling_origin
from models.forecasting.base import FloatArray, Forecast, Forecaster


def cqr_scores(lower: ArrayLike, upper: ArrayLike, y: ArrayLike) -> FloatArray:
    """CQR nonconformity max(lower - y, y - upper), elementwise (Romano et al. 2019)."""
    lo, hi, Y = (np.asarray(a, dtype=np.float64) for a in (lower, upper, y))
    return np.asarray(np.maximum(lo - Y, Y - hi))


def min_calibration_size(level: float) -> int:
    """Smallest n for which the level-% conformal quantile of n scores is finite."""
    if not 0.0 < level < 100.0:
        raise ValueError(f"level must lie in (0, 100), got {level}")
    n = 1
    while math.ceil((n + 1) * level / 100.0 - 1e-9) > n:
        n += 1
    return n


def conformal_quantile(scores: ArrayLike, level: float) -> float:
    """The ceil((n + 1) L/100)-th smallest of n scores (+inf when that exceeds n)."""
    s = np.sort(np.asarray(scores, dtype=np.float64).ravel())
    n = s.size
    k = math.ceil((n + 1) * level / 100.0 - 1e-9)  # guard against (n+1)L/100 = 19.000000001
    return float(s[k - 1]) if 1 <= k <= n else math.inf


def stepwise_margins(
    scores: ArrayLike, level: float, min_scores: int | None = None
) -> tuple[FloatArray, FloatArray]:
    """Per-step conformal margins from scores (n, h) (rows: fold x dimension; NaN = missing).

    Returns q (h,) and the number of scores used per step (h,), after pooling the window of
    neighbouring steps needed to reach max(min_scores, min_calibration_size(level)).
    """
    S = np.asarray(scores, dtype=np.float64)
    if S.ndim != 2 or S.shape[1] == 0:
        raise ValueError(f"scores must be (n, h) with h >= 1, got shape {S.shape}")
    if min_scores is not None and min_scores < 1:
        raise ValueError(f"min_scores must be >= 1, got {min_scores}")
    need = max(min_calibration_size(level), int(min_scores or 1))
    h = S.shape[1]
    ok = ~np.isnan(S)
    q, used = np.empty(h), np.empty(h)
    for j in range(h):
        for w in range(h):
            a, b = max(0, j - w), min(h, j + w + 1)
            pooled = S[:, a:b][ok[:, a:b]]
            if pooled.size >= need or (a == 0 and b == h):
                break
        q[j] = conformal_quantile(pooled, level)
        used[j] = pooled.size
    return q, used


def conformal_adjust(
    forecast: Forecast,
    scores: dict[float, FloatArray],
    *,
    min_scores: int | None = None,
    half_widths: dict[float, FloatArray] | None = None,
) -> dict[float, tuple[FloatArray, FloatArray]]:
    """Calibrated intervals {L: (lower - q, upper + q)} for each level L in `scores`.

    forecast: the model's own forecast, intervals (h, d) (left unchanged; report the result
    next to them). scores: L -> (n_folds d, H) CQR scores from backtests with H >= h; margins
    are computed over all H steps (so pooling may borrow from later steps) and the first h are
    used. half_widths: L -> (n_folds d, H) half-widths of the backtest intervals; when given,
    the normalised scores s / w are calibrated and the margin is q times the forecast's own
    half-width. Where the margin is below -(upper - lower)/2 the interval collapses to its
    midpoint.
    """
    out: dict[float, tuple[FloatArray, FloatArray]] = {}
    for L, S in scores.items():
        key = float(L)
        if key not in forecast.intervals:
            raise ValueError(f"the forecast has no {key:g}% interval to calibrate")
        lo, hi = forecast.intervals[key]
        h = lo.shape[0]
        if np.shape(S)[-1] < h:
            raise ValueError(f"scores cover {np.shape(S)[-1]} steps, the forecast has {h}")
        S = np.asarray(S, dtype=np.float64)
        if half_widths is not None:
            W = np.asarray(half_widths[L], dtype=np.float64)
            if W.shape != S.shape:
                raise ValueError(f"half_widths {W.shape} and scores {S.shape} disagree")
            zero_width = np.where(S > 0, np.inf, np.where(S < 0, -np.inf, 0.0))
            S = np.divide(S, W, out=zero_width, where=W > 0)
        q = stepwise_margins(S, key, min_scores)[0][:h].reshape((h,) + (1,) * (lo.ndim - 1))
        if half_widths is not None:
            q = q * (hi - lo) / 2.0
        new_lo, new_hi = lo - q, hi + q
        mid = 0.5 * (lo + hi)
        crossed = new_lo > new_hi
        out[key] = (np.where(crossed, mid, new_lo), np.where(crossed, mid, new_hi))
    return out


class ConditionedOn:
    """A backtest "model" that reuses one fitted forecaster: `fit(y)` only keeps y as the
    context that `predict(..., context=y)` forecasts from."""

    def __init__(self, model: Forecaster) -> None:
        self.model = model
        self.context: FloatArray | None = None

    def fit(self, y: Any, covariates: Any = None) -> Self:
        """Keep y as the context (the model was fitted with its drivers already)."""
        self.context = np.asarray(y, dtype=np.float64)
        return self

    def predict(self, horizon: int, **kw: Any) -> Forecast:
        return self.model.predict(horizon, context=self.context, **kw)


def calibration_backtest(
    model: Forecaster,
    y: Any,
    *,
    horizon: int,
    folds: int,
    levels: Sequence[float] = (80, 95),
    num_samples: int = 500,
    seed: int = 0,
    covariates: Any = None,
) -> BacktestResult:
    """Backtest folds of the fitted `model` on y (the series it was fitted on, or the context
    it forecasts from), for `conformal_adjust`: `folds` origins evenly spaced from p + 1 (p: the
    model's window, e.g. its lag order) to T - horizon, each forecast from
    y[:origin] without refitting (see the module notes on why not refit); covariates: y's
    drivers (T, c), when the model has them, each fold's as its known future."""
    T = np.shape(y)[0]
    window = model.window_shape_[0]
    first = window + 1
    span = T - int(horizon) - first
    if span < 0 or (folds > 1 and span < folds - 1):
        need = first + int(horizon) + max(int(folds) - 1, 0)
        raise ValueError(
            f"not enough data to calibrate: {folds} folds of horizon {horizon} after a "
            f"{window}-point window need T >= {need}, got T={T}"
        )
    step = span // (folds - 1) if folds > 1 else 1
    return rolling_origin(
        y,
        lambda: ConditionedOn(model),
        horizon=horizon,
        folds=folds,
        step=step,
        levels=levels,
        num_samples=num_samples,
        seed=seed,
        min_train=first,
        covariates=covariates,
    )
