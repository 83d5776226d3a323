"""The analog forecaster: exact on a repeating series, a library that forecasts a short
series it has seen the like of, denoised matches on noisy data, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from models.forecasting.analog import AnalogForecaster
from models.forecasting.serialize import dumps, loads


def wave(n: int, period: float = 25.0, phase: float = 0.0) -> np.ndarray:
    t = np.arange(n)
    return np.sin(2 * np.pi * t / period + phase) + 0.5 * np.sin(4 * np.pi * t / period + phase)


def test_a_repeating_series_is_continued_exactly() -> None:
    y = wave(400)
    f = AnalogForecaster().fit(y).predict(50, num_samples=200)
    truth = wave(450)[400:]
    assert np.max(np.abs(f.mean[:, 0] - truth)) < 0.05
    assert np.all(f.std[:, 0] < 0.1)  # the analogs agree: a sharp forecast


def test_a_library_forecasts_a_short_series_it_has_seen_the_like_of() -> None:
    library = [3.0 + 2.0 * wave(300, phase=p) for p in (0.3, 1.1, 2.0)]
    model = AnalogForecaster(max_window=16).fit_library(library)
    # Another level and scale, over whole periods: matched standardised by its own mean and std.
    context = 10.0 + 4.0 * wave(75, phase=0.7)
    f = model.predict(20, num_samples=200, context=context)
    truth = 10.0 + 4.0 * wave(95, phase=0.7)[75:]
    assert np.sqrt(np.mean((f.mean[:, 0] - truth) ** 2)) < 0.3
    again = loads(dumps(model)).predict(20, num_samples=200, context=context)
    np.testing.assert_array_equal(again.mean, f.mean)
    assert model.params_["library_series"] == 3


def test_noisy_series_are_matched_on_denoised_windows() -> None:
    rng = np.random.default_rng(0)
    y = wave(600) + 0.3 * rng.standard_normal(600)
    model = AnalogForecaster().fit(y[:550])
    f = model.predict(50, num_samples=400, seed=1)
    err = f.mean[:, 0] - wave(600)[550:]
    assert np.sqrt(np.mean(err**2)) < 0.25  # under the noise (0.3): the signal is recovered
    noise = model.params_["noise_std"][0]
    assert 0.15 < noise < 0.6  # the aleatoric part is the noise's scale
    assert np.mean(f.aleatoric_std) > np.mean(f.epistemic_std)


def test_clear_errors() -> None:
    with pytest.raises(ValueError, match="too short"):
        AnalogForecaster().fit(wave(10))
    with pytest.raises(ValueError, match="same dimension"):
        AnalogForecaster().fit_library([wave(100), np.ones((100, 2))])
    with pytest.raises(ValueError, match="max_window"):
        AnalogForecaster(max_window=2)
