"""Seasons found by evidence: used where the data carry one, left out where they do not."""

from __future__ import annotations

from typing import Any

import numpy as np

from models.forecasting.registry import make_forecaster
from models.forecasting.seasons import choose_season, data_periods


def fitter(kind: str, y: np.ndarray) -> Any:
    """Fits with one max_lag for every season, as the service does: evidences compare only
    over the same rows."""

    def fit(m: int | None, K: int) -> Any:
        params = {"max_lag": 12, "season_length": m, "fourier_order": K}
        return make_forecaster(kind, params).fit(y)

    return fit


def test_the_periodogram_finds_a_weekly_cycle_in_daily_data() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(7 * 30)
    y = 2 * np.sin(2 * np.pi * t / 7) + 0.05 * t + rng.normal(0, 0.5, t.size)
    assert data_periods(y)[0] == 7


def test_evidence_takes_a_real_season_and_leaves_out_none() -> None:
    rng = np.random.default_rng(1)
    t = np.arange(12 * 15)
    seasonal = 5 * np.cos(2 * np.pi * t / 12) + rng.normal(0, 1, t.size)
    for kind in ("bayes_ar", "bayes_ar_bma"):
        model, report = choose_season(seasonal, fitter(kind, seasonal), [12])
        assert report["season_length"] == 12 and model.season_length == 12
    noise = np.zeros(t.size)
    for i in range(1, t.size):
        noise[i] = 0.6 * noise[i - 1] + rng.normal()
    _, report = choose_season(noise, fitter("bayes_ar", noise), [12])
    assert report["season_length"] is None and report["fourier_order"] == 0


def test_a_period_longer_than_a_third_of_the_series_is_not_tried() -> None:
    y = np.random.default_rng(2).normal(size=100)
    _, report = choose_season(y, fitter("bayes_ar", y), [168])
    assert 168 not in [c["period"] for c in report["candidates"]]
