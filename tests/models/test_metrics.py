"""Scoring rules against brute force and closed forms."""

import numpy as np
import pytest
from scipy import stats

from models.metrics import crps_from_samples, interval_coverage, mase, rmse, smape, winkler_score


def test_crps_matches_brute_force_energy_form() -> None:
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((50, 3, 2)), rng.standard_normal((3, 2))
    brute = np.abs(X - y).mean(0) - 0.5 * np.abs(X[:, None] - X[None, :]).mean((0, 1))
    np.testing.assert_allclose(crps_from_samples(X, y), brute, rtol=1e-12, atol=1e-12)


def test_crps_gaussian_closed_form_and_point_mass() -> None:
    mu, sigma, y = 1.0, 2.0, 2.5
    z = (y - mu) / sigma
    exact = sigma * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / np.sqrt(np.pi))
    X = mu + sigma * np.random.default_rng(1).standard_normal(50_000)
    assert np.isclose(crps_from_samples(X, np.array(y)), exact, rtol=0.02)
    assert np.isclose(crps_from_samples(np.full((5, 1), 3.0), np.array([1.0]))[0], 2.0)
    with pytest.raises(ValueError):
        crps_from_samples(np.zeros((5, 2)), np.zeros(3))


def test_interval_metrics() -> None:
    lo, hi, y = (
        np.array([0.0, 0.0, 0.0, 0.0]),
        np.array([1.0, 1.0, 1.0, 1.0]),
        np.array([0.5, 1.0, -1.0, 3.0]),
    )
    assert interval_coverage(lo, hi, y) == 0.5
    # alpha = 0.2 -> penalty 2/alpha = 10 per unit outside.
    np.testing.assert_allclose(winkler_score(lo, hi, y, 80), [1.0, 1.0, 11.0, 21.0])
    with pytest.raises(ValueError):
        winkler_score(lo, hi, y, 100)


def test_point_metrics() -> None:
    y_train = np.array([1.0, 3.0, 2.0, 4.0])  # naive |diff| mean = (2 + 1 + 2)/3 = 5/3
    assert np.isclose(mase([5.0, 6.0], [4.0, 6.0], y_train), 0.5 / (5 / 3))
    assert np.isclose(mase([5.0], [4.0], y_train, m=2), 1.0)  # lag-2 diffs: 1, 1
    assert mase([1.0], [2.0], np.ones(5)) == np.inf
    with pytest.raises(ValueError):
        mase([1.0], [1.0], [1.0], m=1)
    assert np.isclose(smape([100.0, 0.0], [110.0, 0.0]), 200 * (10 / 210) / 2)
    assert smape([1.0], [-1.0]) == 200.0
    assert np.isclose(rmse([1.0, 2.0], [2.0, 4.0]), np.sqrt(2.5))
