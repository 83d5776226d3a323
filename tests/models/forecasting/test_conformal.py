"""Split-conformal recalibration: the quantile rule, pooling, and coverage on fresh data."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import pytest

from models.forecasting.backtest import rolling_origin
from models.forecasting.base import Forecast, summarize_samples
from models.forecasting.bayes_ar import BayesianAR
from models.forecasting.conformal import (
    calibration_backtest,
    conformal_adjust,
    conformal_quantile,
    cqr_scores,
    min_calibration_size,
    stepwise_margins,
)


@dataclass
class Shrunk:
    """A deliberately overconfident forecaster: BayesianAR paths shrunk towards the median."""

    factor: float = 0.5
    fits: int = 0

    def fit(self, y: Any) -> Self:
        self.inner = BayesianAR(lags=1).fit(y)
        self.fits += 1
        return self

    def predict(
        self,
        horizon: int,
        *,
        levels: Sequence[float] = (80, 95),
        quantiles: Sequence[float] = (),
        num_samples: int = 1000,
        seed: int = 0,
        return_samples: bool = False,
        context: Any = None,
    ) -> Forecast:
        f = self.inner.predict(
            horizon, num_samples=num_samples, seed=seed, return_samples=True, context=context
        )
        assert f.samples is not None
        P = f.median + self.factor * (f.samples - f.median)
        return summarize_samples(P, P, levels, quantiles, return_samples)

    @property
    def params_(self) -> dict[str, Any]:
        return {"factor": self.factor}

    @property
    def window_shape_(self) -> tuple[int, int]:
        return self.inner.window_shape_


def ar1(n: int, rng: np.random.Generator, phi: float = 0.7) -> np.ndarray:
    e = rng.standard_normal(n + 100)
    y = np.zeros(n + 100)
    for t in range(1, n + 100):
        y[t] = phi * y[t - 1] + e[t]
    return 3.0 + y[100:]


def test_quantile_rule_and_minimum_size() -> None:
    s = np.arange(1.0, 20.0)  # 19 scores
    assert conformal_quantile(s, 95) == 19.0  # k = ceil(20 * 0.95) = 19
    assert conformal_quantile(s[:18], 95) == math.inf  # k = ceil(19 * 0.95) = 19 > 18
    assert conformal_quantile(s, 80) == 16.0  # k = ceil(16.0) = 16
    assert conformal_quantile(s[::-1], 50) == 10.0  # order does not matter
    assert [min_calibration_size(L) for L in (50, 80, 90, 95)] == [1, 4, 9, 19]
    with pytest.raises(ValueError):
        min_calibration_size(100)
    np.testing.assert_allclose(
        cqr_scores([0.0, 0.0, 0.0], [2.0, 2.0, 2.0], [-1, 1.5, 3]), [1, -0.5, 1]
    )


def test_pooling_widens_the_window_of_steps_until_enough_scores() -> None:
    S = np.array([[1.0, 2.0, 3.0, 4.0, 5.0], [1.5, 2.5, 3.5, 4.5, 5.5]])  # 2 scores per step
    q, used = stepwise_margins(S, 80)  # needs 4 scores: one step either side
    np.testing.assert_array_equal(used, [4, 6, 6, 6, 4])
    # step 0 pools {1, 1.5, 2, 2.5}: k = ceil(5 * 0.8) = 4 -> 2.5
    # step 2 pools {2, 2.5, 3, 3.5, 4, 4.5}: k = ceil(7 * 0.8) = 6 -> 4.5
    np.testing.assert_allclose(q, [2.5, 3.5, 4.5, 5.5, 5.5])
    q50, used50 = stepwise_margins(S, 50)  # 1 score is enough at 50%: no pooling
    np.testing.assert_array_equal(used50, 2)
    np.testing.assert_allclose(q50, S.max(axis=0))  # k = ceil(3 * 0.5) = 2 of 2
    q_all, used_all = stepwise_margins(S[:, :2], 95)  # 4 < 19 even with all steps: unbounded
    assert np.all(np.isinf(q_all)) and np.all(used_all == 4)
    _, used_many = stepwise_margins(S, 80, min_scores=10)
    np.testing.assert_array_equal(used_many, 10)


def test_adjust_shifts_each_bound_and_leaves_the_forecast_alone() -> None:
    rng = np.random.default_rng(0)
    P = rng.standard_normal((200, 3, 2))
    f = summarize_samples(P, P, levels=(80, 95))
    lo80 = f.intervals[80.0][0].copy()
    S80 = np.tile([[0.5, -0.1, 2.0]], (10, 1))  # constant scores per step -> q = that score
    S95 = np.full((10, 4), -50.0)  # pooled over 2 steps (19 needed); collapses to the midpoint
    out = conformal_adjust(f, {80: S80, 95.0: S95}, min_scores=1)
    np.testing.assert_allclose(out[80.0][0], lo80 - np.array([0.5, -0.1, 2.0])[:, None])
    np.testing.assert_allclose(
        out[80.0][1], f.intervals[80.0][1] + np.array([0.5, -0.1, 2])[:, None]
    )
    np.testing.assert_array_equal(f.intervals[80.0][0], lo80)  # not overwritten
    mid = 0.5 * (f.intervals[95.0][0] + f.intervals[95.0][1])
    np.testing.assert_allclose(out[95.0][0], mid)
    np.testing.assert_allclose(out[95.0][1], mid)
    with pytest.raises(ValueError, match="steps"):
        conformal_adjust(f, {80: S80[:, :2]})
    with pytest.raises(ValueError, match="50% interval"):
        conformal_adjust(f, {50: S80})


def test_normalised_scores_rescale_the_interval() -> None:
    P = np.random.default_rng(1).standard_normal((400, 3, 1))
    f = summarize_samples(P, P, levels=(80,))
    lo, hi = f.intervals[80.0]
    W = np.full((10, 3), 2.0)  # backtest half-widths
    S = np.tile([[1.0, -0.5, 0.0]], (10, 1))  # -> normalised scores 0.5, -0.25, 0
    out = conformal_adjust(f, {80: S}, half_widths={80: W})[80.0]
    half = (hi - lo) / 2
    np.testing.assert_allclose(out[0], lo - np.array([0.5, -0.25, 0.0])[:, None] * half)
    np.testing.assert_allclose(out[1], hi + np.array([0.5, -0.25, 0.0])[:, None] * half)
    # a zero-width backtest interval: a miss counts as +inf, a hit on it as 0
    W0, S0 = W.copy(), S.copy()
    W0[:, 0], S0[:, 0] = 0.0, 0.0
    out0 = conformal_adjust(f, {80: S0}, half_widths={80: W0})[80.0]
    np.testing.assert_allclose(out0[0][0], lo[0])
    S0[:, 0] = 1.0
    out1 = conformal_adjust(f, {80: S0}, half_widths={80: W0})[80.0]
    assert np.isinf(out1[1][0, 0])
    with pytest.raises(ValueError, match="disagree"):
        conformal_adjust(f, {80: S}, half_widths={80: W[:, :2]})


def test_calibrated_coverage_is_nominal_on_fresh_data_where_the_raw_is_not() -> None:
    # Calibrate on backtest folds of one AR(1) series; check on the same origins of an
    # independent series (so calibration and test folds are exchangeable).
    h, F, T0 = 3, 400, 60
    y_cal = ar1(T0 + F * h, np.random.default_rng(1))
    cal = rolling_origin(y_cal, Shrunk, horizon=h, folds=F, num_samples=200)
    y_new = ar1(T0 + F * h, np.random.default_rng(2))
    hits: dict[str, dict[float, list[float]]] = {
        k: {80.0: [], 95.0: []} for k in ("raw", "cqr", "normalised")
    }
    for k, o in enumerate(cal.origins):
        f = Shrunk().fit(y_new[:o]).predict(h, num_samples=200, seed=k)
        truth = y_new[o : o + h, None]
        intervals = {
            "raw": f.intervals,
            "cqr": conformal_adjust(f, cal.scores),
            "normalised": conformal_adjust(f, cal.scores, half_widths=cal.half_widths),
        }
        for name, ivs in intervals.items():
            for L in (80.0, 95.0):
                lo, hi = ivs[L]
                hits[name][L].append(np.mean((lo <= truth) & (truth <= hi)))
    cov = {name: {L: float(np.mean(v)) for L, v in d.items()} for name, d in hits.items()}
    assert cov["raw"][80.0] < 0.65 and cov["raw"][95.0] < 0.85, cov
    for name in ("cqr", "normalised"):
        assert abs(cov[name][80.0] - 0.80) < 0.05, cov
        assert abs(cov[name][95.0] - 0.95) < 0.03, cov


def test_calibration_backtest_reuses_the_fitted_model_from_origins_across_the_series() -> None:
    y = ar1(300, np.random.default_rng(0))
    model = Shrunk().fit(y)
    bt = calibration_backtest(model, y, horizon=5, folds=10, num_samples=50)
    assert model.fits == 1  # no refit per fold
    assert bt.folds == 10 and bt.origins[-1] == 295 and bt.origins[0] >= 2
    assert len(set(np.diff(bt.origins))) == 1 and bt.origins[0] - 2 < np.diff(bt.origins)[0]
    # each fold forecasts from its own history: the first fold's forecast is the model's
    # prediction from y[:origin]
    o = bt.origins[0]
    f = model.predict(5, num_samples=50, seed=0, context=y[:o], return_samples=True)
    np.testing.assert_allclose(bt.residuals[0, :, 0], y[o : o + 5] - f.median[:, 0])
    with pytest.raises(ValueError, match="not enough data to calibrate.*T >= 16"):
        calibration_backtest(model, y[:15], horizon=5, folds=10)


def test_conditioned_calibration_makes_an_overconfident_model_nominal() -> None:
    # Scores from the fitted model's own backtests on its training series; coverage checked on
    # forecasts of an independent series of the same process, conditioned on its history.
    h = 3
    y_fit = ar1(1500, np.random.default_rng(3))
    model = Shrunk().fit(y_fit)
    cal = calibration_backtest(model, y_fit, horizon=h, folds=400, num_samples=200)
    y_new = ar1(1500, np.random.default_rng(4))
    hits: dict[str, dict[float, list[float]]] = {k: {80.0: [], 95.0: []} for k in ("raw", "cf")}
    for k, o in enumerate(range(50, 1500 - h, 5)):
        f = model.predict(h, num_samples=200, seed=k, context=y_new[:o])
        truth = y_new[o : o + h, None]
        for name, ivs in (("raw", f.intervals), ("cf", conformal_adjust(f, cal.scores))):
            for L in (80.0, 95.0):
                lo, hi = ivs[L]
                hits[name][L].append(np.mean((lo <= truth) & (truth <= hi)))
    cov = {name: {L: float(np.mean(v)) for L, v in d.items()} for name, d in hits.items()}
    assert cov["raw"][80.0] < 0.65 and cov["raw"][95.0] < 0.85, cov
    assert abs(cov["cf"][80.0] - 0.80) < 0.04 and abs(cov["cf"][95.0] - 0.95) < 0.025, cov
