"""Bayesian model averaging over scale, differencing and trend (BayesianARAveraged)."""

from __future__ import annotations

import numpy as np
import pytest

from models.forecasting.bayes_ar import BayesianAR
from models.forecasting.bayes_ar_bma import BayesianARAveraged


def _ar1(T: int, phi: float, rng: np.random.Generator) -> np.ndarray:
    e = rng.standard_normal(T)
    x = np.zeros(T)
    for t in range(1, T):
        x[t] = phi * x[t - 1] + e[t]
    return x


def _weight(model: BayesianARAveraged, **kind: bool) -> float:
    return sum(
        c["weight"] for c in model.params_["candidates"] if all(c[k] == v for k, v in kind.items())
    )


def test_evidence_is_in_data_units() -> None:
    """Rescaling y by a changes log p(y) by -n log|a| exactly (the scale's Jacobian)."""
    y = _ar1(200, 0.7, np.random.default_rng(0))
    a, b = BayesianAR(max_lag=6).fit(y), BayesianAR(max_lag=6).fit(3.0 * y + 5.0)
    n_rows = 200 - a.params_["max_lag"]
    assert b.params_["order"] == a.params_["order"]
    assert b.log_evidence_ == pytest.approx(a.log_evidence_ - n_rows * np.log(3.0), abs=1e-8)


def test_the_evidence_finds_the_generating_structure() -> None:
    rng = np.random.default_rng(1)
    T = 300
    growth = np.exp(0.01 * np.arange(T) + 0.05 * _ar1(T, 0.5, rng) + 3.0)
    walk = np.cumsum(0.2 + rng.standard_normal(T))
    stationary = _ar1(T, 0.6, rng)
    for y, kind in (
        (growth, {"log": True}),
        (walk, {"difference": True}),
        (stationary, {"difference": False, "trend": False}),
    ):
        m = BayesianARAveraged(max_lag=6).fit(y)
        assert _weight(m, **kind) > 0.9, (kind, m.params_["candidates"])
        assert sum(c["weight"] for c in m.params_["candidates"]) == pytest.approx(1.0)
    # Values that are not all positive rule the log scale out.
    m = BayesianARAveraged(max_lag=6).fit(stationary)
    assert _weight(m, log=True) == 0.0


def test_log_scale_forecasts_stay_positive_and_need_a_positive_context() -> None:
    rng = np.random.default_rng(2)
    y = np.exp(0.01 * np.arange(200) + 0.1 * _ar1(200, 0.5, rng))
    m = BayesianARAveraged(max_lag=4, difference=False, trend=False).fit(y)
    assert [c["log"] for c in m.params_["candidates"]][0]
    f = m.predict(12, num_samples=300, return_samples=True)
    assert f.samples is not None and np.all(f.samples > 0)
    with pytest.raises(ValueError, match="context must be positive"):
        m.predict(3, context=np.r_[y[:-1], -1.0])


def test_samples_split_across_candidates_by_weight() -> None:
    from models.forecasting.base import allocate_samples

    counts = allocate_samples(np.array([0.5, 0.3, 0.2]), 7)
    assert counts.sum() == 7 and list(counts) == [4, 2, 1]
    assert allocate_samples(np.array([1.0]), 5).tolist() == [5]


def test_too_short_a_series_names_the_minimum() -> None:
    need = BayesianARAveraged.min_length(trend=True)
    with pytest.raises(ValueError, match=f"T >= {need}"):
        BayesianARAveraged().fit(np.arange(1.0, need))
    BayesianARAveraged().fit(np.random.default_rng(0).standard_normal(need))


def test_differencing_undoes_itself() -> None:
    """integrate(apply_difference(x)) continues x exactly, for every operator the kind uses."""
    from models.forecasting.bayes_ar_bma import apply_difference, difference_operator, integrate

    x = np.random.default_rng(3).normal(size=(40, 2)).cumsum(axis=0)
    for first, seasonal in ((True, 0), (False, 4), (True, 4)):
        c = difference_operator(first, seasonal)
        assert c.size - 1 == int(first) + seasonal and c[0] == 1.0 and c.sum() == 0.0
        w = apply_difference(x, c)
        D = c.size - 1
        back = integrate(w[None, 10 - D :], x[10 - D : 10], c)[0]
        np.testing.assert_allclose(back, x[10:], atol=1e-9)


def _evolving_season(T: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """y_t = y_{t-m} + e_t: a seasonal random walk (the pattern drifts from year to year)."""
    y = list(5.0 * np.sin(2 * np.pi * np.arange(m) / m))
    for t in range(m, T):
        y.append(y[t - m] + 0.5 * rng.standard_normal())
    return np.asarray(y)


def test_an_evolving_season_goes_to_the_seasonal_difference() -> None:
    rng = np.random.default_rng(4)
    y = _evolving_season(240, 12, rng)
    m = BayesianARAveraged(max_lag=24, season_length=12, fourier_order=2).fit(y)
    seasonal = sum(c["weight"] for c in m.params_["candidates"] if c["seasonal_difference"] == 12)
    assert seasonal > 0.9, m.params_["candidates"]
    # Without first differences, no candidate takes them (seasonal ones included).
    plain = BayesianARAveraged(max_lag=24, season_length=12, fourier_order=2, difference=False)
    assert not any(c["difference"] for c in plain.fit(y).params_["candidates"])
    assert plain.params_["tried"] == 3  # y only (not all positive): level +- trend, seasonal
    short = BayesianARAveraged(max_lag=12, season_length=12, fourier_order=2).fit(y)
    assert all(c["seasonal_difference"] is None for c in short.params_["candidates"])
    # Its forecast repeats last year's pattern, from the fit and from a context alike.
    f = m.predict(12, num_samples=400, seed=0)
    np.testing.assert_allclose(f.median[:, 0], y[-12:], atol=1.5)
    g = m.predict(12, num_samples=400, seed=0, context=y)
    np.testing.assert_allclose(g.median, f.median, atol=1e-9)


def test_a_version_stored_before_seasonal_differences_loads() -> None:
    """States written before the seasonal candidates (no "seasonal_difference", `last` one
    row) load and forecast as they did."""
    from models.forecasting.serialize import dumps, loads

    y = np.cumsum(0.3 + np.random.default_rng(5).standard_normal(150)) + 50.0
    m = BayesianARAveraged(max_lag=6).fit(y)
    meta, tensors = m.to_state()
    for c in meta["candidates"]:
        del c["seasonal_difference"]
        c["last"] = c["last"][-1]
    old = BayesianARAveraged.from_state(meta, tensors)
    a, b = m.predict(5, num_samples=200, seed=1), old.predict(5, num_samples=200, seed=1)
    np.testing.assert_allclose(a.mean, b.mean)
    assert loads(dumps(old)).params_ == m.params_
