"""The conjugate AR kinds pooled half and half (BayesianARPool)."""

from __future__ import annotations

import numpy as np
import pytest

from models.forecasting.bayes_ar import BayesianAR, default_max_lag
from models.forecasting.bayes_ar_bma import BayesianARAveraged
from models.forecasting.bayes_ar_pool import BayesianARPool
from models.metrics import crps_from_samples
from models.seeding import derived_seed


def _growth(T: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.exp(0.01 * np.arange(T) + 0.05 * np.cumsum(rng.standard_normal(T)) + 3.0)


def test_the_pool_is_half_of_each_member() -> None:
    y = _growth(160, 0)
    pool = BayesianARPool(max_lag=6).fit(y)
    f = pool.predict(8, num_samples=301, seed=7, return_samples=True)
    ar = (
        BayesianAR(max_lag=6)
        .fit(y)
        .predict(8, num_samples=151, seed=derived_seed(7, 0), return_samples=True)
    )
    bma = (
        BayesianARAveraged(max_lag=6)
        .fit(y)
        .predict(8, num_samples=150, seed=derived_seed(7, 1), return_samples=True)
    )
    assert f.samples is not None and ar.samples is not None and bma.samples is not None
    np.testing.assert_allclose(f.samples, np.concatenate([ar.samples, bma.samples]))
    assert pool.params_["weights"] == {"bayes_ar": 0.5, "bayes_ar_bma": 0.5}
    assert pool.params_["bayes_ar_bma"]["candidates"]


def test_its_crps_is_at_most_the_mean_of_its_members() -> None:
    """CRPS is convex in the predictive distribution: on any outcome the pool scores no worse
    than the average of its members (here on the held-out continuation)."""
    y = _growth(200, 1)
    train, test = y[:170], y[170:]
    pool = BayesianARPool(max_lag=6).fit(train)
    f = pool.predict(30, num_samples=400, seed=2, return_samples=True)
    assert f.samples is not None
    members = f.samples[:200], f.samples[200:]
    scores = [crps_from_samples(s, test[:, None]) for s in (f.samples, *members)]
    assert np.all(scores[0] <= (scores[1] + scores[2]) / 2 + 1e-12)


def test_its_evidence_averages_the_members() -> None:
    y = _growth(150, 3)
    pool = BayesianARPool(max_lag=6).fit(y)
    ar, bma = BayesianAR(max_lag=6).fit(y), BayesianARAveraged(max_lag=6).fit(y)
    mean = np.logaddexp(ar.log_evidence_, bma.log_evidence_) - np.log(2.0)
    assert pool.log_evidence_ == pytest.approx(mean)


def test_the_default_max_lag_spans_two_seasons() -> None:
    assert default_max_lag(None) == 12 and default_max_lag(4) == 12
    assert default_max_lag(12) == 24 and default_max_lag(7.0) == 14
    assert default_max_lag(168) == 64  # capped: Fourier terms carry long seasons
    assert BayesianAR(season_length=12, fourier_order=2).lag_limit == 24
    assert BayesianAR(max_lag=5, season_length=12, fourier_order=2).lag_limit == 5
