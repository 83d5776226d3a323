"""Rolling-origin backtests: fold layout, metrics against brute force, VPT, validation (and the
metric helpers they use)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np
import pytest
from scipy import stats

from models.forecasting.backtest import rolling_origin
from models.forecasting.base import Forecast, summarize_samples
from models.forecasting.bayes_ar import BayesianAR
from models.metrics import (
    crps_from_samples,
    crps_gaussian,
    nrmse,
    smape,
    smape_terms,
    valid_prediction_steps,
)


@dataclass
class LastPlusOffsets:
    """Sample s = last training value + offsets[s] + slope * step: a known forecast."""

    offsets: tuple[float, ...] = (-2.0, -0.5, 0.0, 1.0, 3.0)
    slope: float = 0.0
    seen: list[int] = field(default_factory=list)  # training lengths, shared across copies

    def fit(self, y: Any) -> Self:
        self.y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        self.seen.append(len(y))
        return self

    def paths(self, horizon: int) -> np.ndarray:
        steps = np.arange(1, horizon + 1)[None, :, None]
        return self.y[-1] + np.asarray(self.offsets)[:, None, None] + self.slope * steps

    def predict(
        self,
        horizon: int,
        *,
        levels: Sequence[float] = (80, 95),
        quantiles: Sequence[float] = (),
        num_samples: int = 1000,
        seed: int = 0,
        return_samples: bool = False,
    ) -> Forecast:
        P = self.paths(horizon)
        return summarize_samples(P, P, levels, quantiles, return_samples)

    @property
    def params_(self) -> dict[str, Any]:
        return {}


@dataclass
class Oracle:
    """Predicts the true continuation exactly for `good[k]` steps of fold k, then truth + 100."""

    truth: np.ndarray  # (T, d)
    good: list[int]
    fold: list[int]  # [index of the next fold], shared across the fresh copies

    def fit(self, y: Any) -> Self:
        self.o = len(y)
        return self

    def predict(self, horizon: int, **kw: Any) -> Forecast:
        P = self.truth[self.o : self.o + horizon].copy()
        P[self.good[self.fold[0]] :] += 100.0
        self.fold[0] += 1
        P = np.stack([P - 1.0, P, P + 1.0])
        return summarize_samples(P, P, kw["levels"], (), kw["return_samples"])

    @property
    def params_(self) -> dict[str, Any]:
        return {}


def test_origins_tile_the_end_and_each_fold_sees_only_its_past() -> None:
    y = np.arange(30, dtype=np.float64)
    seen: list[int] = []
    fractions: list[float] = []
    r = rolling_origin(
        y,
        lambda: LastPlusOffsets(seen=seen),
        horizon=4,
        folds=3,
        num_samples=5,
        progress=fractions.append,
    )
    assert r.origins == (18, 22, 26) and seen == [18, 22, 26]
    assert fractions == pytest.approx([1 / 3, 2 / 3, 1.0])
    r2 = rolling_origin(y, LastPlusOffsets, horizon=4, folds=3, step=2, num_samples=5)
    assert r2.origins == (22, 24, 26)


def test_metrics_match_brute_force() -> None:
    rng = np.random.default_rng(3)
    T, h, F, d = 25, 3, 2, 2
    y = 5.0 + rng.standard_normal((T, d)).cumsum(axis=0)
    offsets = (-1.5, -0.2, 0.3, 0.9, 2.0, 2.5)
    r = rolling_origin(
        y,
        lambda: LastPlusOffsets(offsets=offsets, slope=0.1),
        horizon=h,
        folds=F,
        levels=(50, 80),
        num_samples=len(offsets),
    )
    crps, ase, sm = np.zeros((F, h, d)), np.zeros((F, h, d)), np.zeros((F, h, d))
    cov = {50.0: np.zeros((F, h, d)), 80.0: np.zeros((F, h, d))}
    wink = {50.0: np.zeros((F, h, d)), 80.0: np.zeros((F, h, d))}
    for f, o in enumerate((T - 2 * h, T - h)):
        for j in range(h):
            for i in range(d):
                x = y[o - 1, i] + np.array(offsets) + 0.1 * (j + 1)
                obs = y[o + j, i]
                crps[f, j, i] = np.mean(np.abs(x - obs)) - 0.5 * np.mean(
                    np.abs(x[:, None] - x[None, :])
                )
                med = np.median(x)
                scale = np.mean(np.abs(np.diff(y[:o, i])))
                ase[f, j, i] = abs(obs - med) / scale
                sm[f, j, i] = 200 * abs(obs - med) / (abs(obs) + abs(med))
                for L in (50.0, 80.0):
                    a = (1 - L / 100) / 2
                    lo, hi = np.quantile(x, [a, 1 - a])
                    cov[L][f, j, i] = lo <= obs <= hi
                    wink[L][f, j, i] = (hi - lo) + (2 / (1 - L / 100)) * (
                        max(lo - obs, 0) + max(obs - hi, 0)
                    )
                    assert r.scores[L][f * d + i, j] == pytest.approx(max(lo - obs, obs - hi))
                assert r.residuals[f, j, i] == pytest.approx(obs - med)
    np.testing.assert_allclose(r.crps, crps.mean(axis=(0, 2)), rtol=1e-12)
    np.testing.assert_allclose(r.mase, ase.mean(axis=(0, 2)), rtol=1e-12)
    np.testing.assert_allclose(r.smape, sm.mean(axis=(0, 2)), rtol=1e-12)
    for L in (50.0, 80.0):
        np.testing.assert_allclose(r.coverage[L], cov[L].mean(axis=(0, 2)), rtol=1e-12)
        np.testing.assert_allclose(r.interval_score[L], wink[L].mean(axis=(0, 2)), rtol=1e-12)
    assert r.overall["crps"] == pytest.approx(crps.mean())
    assert r.overall["coverage_80"] == pytest.approx(cov[80.0].mean())
    assert r.scores[80.0].shape == (F * d, h) and r.residuals.shape == (F, h, d)
    assert r.vpt is None
    saved = json.loads(json.dumps(r.to_dict()))
    assert saved["origins"] == [T - 2 * h, T - h] and len(saved["per_step"]["crps"]) == h


def test_valid_prediction_time_on_a_constructed_example() -> None:
    # Positive series; the "forecast" is exact for good[k] steps, then off by 100 (sMAPE >> 30).
    T, h = 40, 8
    truth = 10.0 + np.sin(np.arange(T))[:, None]
    fold = [0]  # shared by the fresh model of every fold
    r = rolling_origin(
        truth[:, 0],
        lambda: Oracle(truth, good=[3, 0, 8], fold=fold),
        horizon=h,
        folds=3,
        num_samples=3,
        lyapunov_time=2.0,
        dt=0.5,
    )
    # steps 3, 0 and 8 (never fails: censored at h) -> times steps * dt / lyapunov_time
    np.testing.assert_allclose(r.vpt_folds, np.array([3, 0, 8]) * 0.5 / 2.0)
    assert r.vpt == pytest.approx(np.mean([3, 0, 8]) * 0.25)
    assert r.overall["vpt"] == r.vpt


def test_vpt_averages_smape_over_dimensions() -> None:
    # dim 0 exact; dim 1 has sMAPE 70 (fails alone) from step 2, and 50 from step 0.
    # Mean over dims: 25 (valid) for steps 0-1, then 35 (> 30) from step 2 -> VPT = 2 steps.
    T, h = 20, 5
    truth = np.full((T, 2), 10.0)

    @dataclass
    class Fixed:
        def fit(self, y: Any) -> Self:
            return self

        def predict(self, horizon: int, **kw: Any) -> Forecast:
            # 200 (r - 10) / (r + 10) = s  <=>  r = 10 (200 + s) / (200 - s)
            r50 = 10.0 * (200 + 50) / (200 - 50)
            r70 = 10.0 * (200 + 70) / (200 - 70)
            P = np.full((horizon, 2), 10.0)
            P[:, 1] = r50
            P[2:, 1] = r70
            P = np.stack([P, P])
            return summarize_samples(P, P, kw["levels"], (), kw["return_samples"])

    r = rolling_origin(truth, Fixed, horizon=h, folds=1, num_samples=2, lyapunov_time=1.0)
    assert r.vpt == pytest.approx(2.0)


def test_validation_messages() -> None:
    y = np.random.default_rng(0).standard_normal(50)
    with pytest.raises(ValueError, match="not enough data"):
        rolling_origin(y, BayesianAR, horizon=10, folds=5)
    with pytest.raises(ValueError, match=r"fold 1/2 \(origin 30\).*series too short"):
        rolling_origin(y, lambda: BayesianAR(lags=12), horizon=10, folds=2)
    with pytest.raises(ValueError, match="horizon"):
        rolling_origin(y, BayesianAR, horizon=0, folds=2)
    with pytest.raises(ValueError, match="folds"):
        rolling_origin(y, BayesianAR, horizon=2, folds=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="levels"):
        rolling_origin(y, BayesianAR, horizon=2, folds=2, levels=(100,))
    with pytest.raises(ValueError, match="lyapunov_time"):
        rolling_origin(y, BayesianAR, horizon=2, folds=2, lyapunov_time=0.0)
    with pytest.raises(ValueError, match="infinite"):  # NaN is a missing value, scored as such
        rolling_origin(np.r_[y, np.inf], BayesianAR, horizon=2, folds=2)
    with pytest.raises(ValueError, match="min_train|not enough"):
        rolling_origin(y, BayesianAR, horizon=10, folds=2, min_train=40)


def test_progress_may_cancel() -> None:
    y = np.random.default_rng(0).standard_normal(100)
    calls: list[float] = []

    def progress(frac: float) -> None:
        calls.append(frac)
        if frac >= 0.5:
            raise KeyboardInterrupt("cancelled")

    with pytest.raises(KeyboardInterrupt):
        rolling_origin(y, BayesianAR, horizon=5, folds=4, num_samples=50, progress=progress)
    assert calls == [0.25, 0.5]


def test_bayes_ar_backtest_is_calibrated_on_its_own_model() -> None:
    # AR(2) data, model family contains the truth: coverage near nominal, MASE < naive-ish.
    rng = np.random.default_rng(7)
    e = rng.standard_normal(1200)
    y = np.zeros(1200)
    for t in range(2, 1200):
        y[t] = 0.6 * y[t - 1] - 0.3 * y[t - 2] + e[t]
    r = rolling_origin(y, lambda: BayesianAR(max_lag=4), horizon=5, folds=150, num_samples=300)
    assert abs(r.overall["coverage_80"] - 0.80) < 0.05
    assert abs(r.overall["coverage_95"] - 0.95) < 0.03
    assert r.scores[95.0].shape == (150, 5)


def test_metric_helpers_used_by_the_backtest() -> None:
    y, yhat = np.array([100.0, 0.0, 1.0]), np.array([110.0, 0.0, -1.0])
    np.testing.assert_allclose(smape_terms(y, yhat), [200 * 10 / 210, 0.0, 200.0])
    assert np.mean(smape_terms(y, yhat)) == pytest.approx(smape(y, yhat))
    # Gaussian CRPS: closed form equals the sample CRPS of a fine quantile grid; sigma 0 -> |e|.
    grid = stats.norm.ppf((np.arange(4000) + 0.5) / 4000)
    for obs in (0.0, 0.7, 3.0):
        exact = crps_gaussian(1.0, 2.0, obs)
        assert exact == pytest.approx(crps_from_samples(1 + 2 * grid, np.array(obs)), rel=1e-4)
    np.testing.assert_allclose(crps_gaussian([0.0, 1.0], [0.0, 1.0], [2.0, 1.0])[0], 2.0)
    with pytest.raises(ValueError):
        crps_gaussian(0.0, -1.0, 0.0)
    # VPT steps: first step whose mean sMAPE over dims exceeds 30 (censored at h).
    truth = np.full((4, 2), 10.0)
    assert valid_prediction_steps(truth, truth) == 4
    bad = truth.copy()
    bad[2:, 0] = 30.0  # sMAPE 100 in dim 0, 0 in dim 1 -> 50 > 30 from step 2
    assert valid_prediction_steps(truth, bad) == 2
    assert nrmse([1.0, 2.0], [2.0, 4.0], 2.0) == pytest.approx(np.sqrt(2.5) / 2)


def test_a_missing_test_value_is_left_out_not_counted_as_a_miss() -> None:
    from models.forecasting.backtest import score_fold
    from models.forecasting.base import summarize_samples

    rng = np.random.default_rng(0)
    paths = rng.normal(size=(400, 3, 1))
    fc = summarize_samples(paths, paths, levels=(80,), return_samples=True)
    y_test = np.array([[0.0], [np.nan], [0.1]])
    scores = score_fold(fc, y_test, rng.normal(size=(50, 1)), (80,), 1)
    assert np.isnan(scores.covered[80.0][1, 0]) and scores.covered[80.0][0, 0] == 1.0
    assert np.isnan(scores.crps[1, 0]) and np.isnan(scores.smape[1, 0])
    assert np.isfinite(scores.crps[[0, 2]]).all()
