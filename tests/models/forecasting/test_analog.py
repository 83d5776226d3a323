"""The analog forecaster: exact on a repeating series, a library that forecasts a short
series it has seen the like of, denoised matches on noisy data, first-order analogs, the
validation's cut pool, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from models.forecasting.analog import AnalogForecaster
from models.forecasting.analog_match import Candidates, analog_paths, centred_mean
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


def test_first_order_analogs_correct_for_the_windows_mismatch() -> None:
    # A sinusoid of irrational period: no window repeats, and what follows a window is
    # linear in it, so the first-order correction leaves only its curvature.
    z = np.sin(0.37 * np.arange(330))[:, None]
    pool = Candidates.of([z[:300]], 8, 1, exclude_last=[8])
    errors = {}
    for order in (0, 1):
        paths, weights = analog_paths(z[:300], pool, 8, 1, k=5, h=20, order=order)
        assert paths.shape == (5, 20, 1) and np.isclose(weights.sum(), 1.0)
        errors[order] = np.max(np.abs(paths - z[300:320]))
    assert errors[1] < 0.2 * errors[0]
    # The fit chooses it on validation, says so, and a stored version keeps it.
    model = AnalogForecaster().fit(z[:300, 0])
    assert model.params_["order"] == 1
    assert "L=8,w=1,s=1,order=1" in model.params_["validation_mse"]
    again = loads(dumps(model))
    assert again.params_["order"] == 1
    np.testing.assert_array_equal(again.predict(20).mean, model.predict(20).mean)
    assert AnalogForecaster(first_order=False).fit(z[:300, 0]).params_["order"] == 0


def test_a_pool_cut_at_an_origin_is_the_pool_of_the_history_before_it() -> None:
    rng = np.random.default_rng(3)
    query, other = rng.standard_normal((120, 2)), rng.standard_normal((80, 2))
    L, width, stride, o = 5, 3, 2, 90
    span = (L - 1) * stride + 1
    for library in ([], [other]):
        every = Candidates.of([query, *library], L, width, stride=stride)
        cut = every.cut_first(o - 2 * span, centred_mean(query[:o], width))
        built = Candidates.of([query[:o], *library], L, width, [span], stride)
        for name in ("W", "source", "end", "sq"):
            np.testing.assert_allclose(getattr(cut, name), getattr(built, name))
        for a, b in zip(cut.follow, built.follow, strict=True):
            np.testing.assert_array_equal(a, b)


def test_clear_errors() -> None:
    with pytest.raises(ValueError, match="too short"):
        AnalogForecaster().fit(wave(10))
    with pytest.raises(ValueError, match="same dimension"):
        AnalogForecaster().fit_library([wave(100), np.ones((100, 2))])
    with pytest.raises(ValueError, match="max_window"):
        AnalogForecaster(max_window=2)
