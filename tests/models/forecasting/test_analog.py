"""The analog forecaster: exact on a repeating series, a library that forecasts a short
series it has seen the like of, a forecast from a point of the training series that reads
its later record but not its future, denoised matches on noisy data, first-order analogs, the
validation's cut pool, the number of analogs chosen on the series, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from models.forecasting.analog import AnalogForecaster, Setting
from models.forecasting.analog_match import (
    Candidates,
    analog_paths,
    centred_mean,
    members_of,
    neighbours,
    upsample,
    upsampled_prefix,
)
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


def test_a_forecast_from_a_point_of_its_training_series_reads_the_later_record_not_its_future():
    # As a calibration fold does: the context is the series up to o. What follows its
    # latest stretch inside the forecast's h steps is its own future and is never read;
    # where the stretch recurs after them, the record goes on as it did there.
    rng = np.random.default_rng(3)
    T, o, h = 400, 200, 20
    kernel = np.exp(-0.5 * (np.arange(-12, 13) / 4.0) ** 2)
    y = np.convolve(rng.standard_normal(T + 24), kernel / kernel.sum(), mode="valid")  # smooth
    later = o + h + 100
    y[later - 64 : later] = y[o - 64 : o]
    # Matched on the series' own grid: an interpolated context's last step is drawn without
    # the value after it, so a copy is matched exactly only there.
    model = AnalogForecaster(interpolate_to=0).fit(y)
    f = model.predict(h, num_samples=200, context=y[:o])
    np.testing.assert_allclose(f.mean[:5, 0], y[later : later + 5], atol=0.1)
    assert np.abs(f.mean[:5, 0] - y[o : o + 5]).max() > 0.2
    # The recurrence inside the h steps: out of reach, on a finer grid too.
    y[later - 64 : later] = y[later - 128 : later - 64]
    y[o + h - 64 : o + h] = y[o - 64 : o]
    for finer in (0, 2 * T):
        model = AnalogForecaster(interpolate_to=finer).fit(y)
        assert model.params_["interpolated"] == (1 if finer == 0 else 2)
        f = model.predict(h, num_samples=200, context=y[:o])
        assert np.abs(f.mean[:5, 0] - y[o + h : o + h + 5]).max() > 0.2


def test_noisy_series_are_matched_on_denoised_windows() -> None:
    rng = np.random.default_rng(0)
    y = wave(600) + 0.3 * rng.standard_normal(600)
    model = AnalogForecaster().fit(y[:550])
    f = model.predict(50, num_samples=400, seed=1)
    err = f.mean[:, 0] - wave(600)[550:]
    assert np.sqrt(np.mean(err**2)) < 0.25  # under the noise (0.3): the signal is recovered
    assert 0.15 < f.aleatoric_std[0, 0] < 0.6  # the aleatoric part is the noise's scale
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
    assert any(key.startswith("L=8,w=1,s=1,order=1,k=") for key in model.params_["validation_crps"])
    again = loads(dumps(model))
    assert again.params_["order"] == 1
    np.testing.assert_array_equal(again.predict(20).mean, model.predict(20).mean)
    assert AnalogForecaster(first_order=False).fit(z[:300, 0]).params_["order"] == 0


def test_the_number_of_analogs_is_chosen_on_the_series() -> None:
    # Noise: the analogs know nothing, so the widest ensemble (all k) scores best; a
    # quasi-periodic series: the nearest few follow it, more would only blur them.
    noise = AnalogForecaster(k=40).fit(np.random.default_rng(0).standard_normal(400))
    t = np.arange(400)
    quasi = AnalogForecaster(k=40).fit(np.sin(0.37 * t) + 0.5 * np.sin(0.37 * np.sqrt(2) * t))
    assert noise.params_["k"] == 40 and quasi.params_["k"] == 10
    tried = {key.rsplit("k=", 1)[1] for key in quasi.params_["validation_crps"]}
    assert tried == {"10", "20", "40"}
    f = quasi.predict(30, num_samples=100, return_samples=True)
    assert f.samples is not None and f.samples.shape == (100, 30, 1)
    # A stored version keeps the choice; one stored before k was chosen (and before settings
    # were pooled) forecasts with its one setting and all k.
    again = loads(dumps(quasi))
    assert again.params_["k"] == 10
    np.testing.assert_array_equal(again.predict(20).mean, quasi.predict(20).mean)
    meta, tensors = quasi.to_state()
    window, width, stride, order, _ = meta.pop("settings")[0]
    meta |= {"window": window, "width": width, "stride": stride, "order": order}
    meta["sigma"] = meta["sigma"][0]
    assert AnalogForecaster.from_state(meta, tensors).params_["k"] == 40
    # A short series: no more analogs than a quarter of its history (here k/4 = 10, the
    # floor), and validation pools hold fewer windows at early origins than at late ones.
    short = AnalogForecaster(k=40).fit(np.sin(0.37 * t[:40]))
    assert {key.rsplit("k=", 1)[1] for key in short.params_["validation_crps"]} == {"10"}
    assert np.all(np.isfinite(short.predict(10, num_samples=50).mean))


def test_the_best_settings_pool_their_analogs() -> None:
    y = wave(600) + 0.1 * np.random.default_rng(2).standard_normal(600)
    model = AnalogForecaster().fit(y)
    scores, pooled = model.params_["validation_crps"], model.params_["pooled_settings"]

    def search(key: str) -> str:  # a key without its k
        return key.rsplit(",k=", 1)[0]

    searches = {search(key) for key in scores}
    assert len(pooled) == round(np.sqrt(len(searches))) > 1
    keys = [Setting(p["window"], p["smoothing"], p["stride"], p["order"], p["k"]).key
            for p in pooled]  # fmt: skip
    # Best first, each (window, smoothing, stride, order) once with its best k, and no
    # setting left out scores better than one pooled.
    assert scores[keys[0]] == min(scores.values())
    assert [scores[k] for k in keys] == sorted(scores[k] for k in keys)
    assert len({search(k) for k in keys}) == len(keys)
    for key in keys:
        assert scores[key] == min(v for other, v in scores.items() if search(other) == search(key))
    left_out = [v for key, v in scores.items() if search(key) not in {search(k) for k in keys}]
    assert min(left_out) >= scores[keys[-1]]
    assert {k: model.params_[k] for k in pooled[0] if k != "added_noise_std"} == {
        k: v for k, v in pooled[0].items() if k != "added_noise_std"
    }
    # pooled=1: the best alone; a stored version keeps the pool.
    one = AnalogForecaster(pooled=1).fit(y)
    assert [p["window"] for p in one.params_["pooled_settings"]] == [pooled[0]["window"]]
    again = loads(dumps(model))
    assert again.params_["pooled_settings"] == pooled
    np.testing.assert_array_equal(again.predict(20).mean, model.predict(20).mean)
    with pytest.raises(ValueError, match="pooled"):
        AnalogForecaster(pooled=0)


def test_a_context_too_short_for_some_pooled_windows_is_forecast_by_the_others() -> None:
    library = [wave(300, phase=p) for p in (0.3, 1.1)]
    model = AnalogForecaster(pooled=4).fit_library(library)
    needs = [(p["window"] - 1) * p["stride"] + 2 for p in model.params_["pooled_settings"]]
    assert model.window_shape_[0] == needs[0]  # the best's window and one value after it
    # One whole period (25 values: standardised like the library), too short for a window
    # of the pool but not for the best one.
    n = max(needs[0], 25)
    assert n < max(needs)
    f = model.predict(10, num_samples=100, context=wave(n, phase=0.7))
    truth = wave(n + 10, phase=0.7)[n:]
    assert np.sqrt(np.mean((f.mean[:, 0] - truth) ** 2)) < 0.3
    with pytest.raises(ValueError, match="context"):
        model.predict(10, context=wave(needs[0] - 1))


def test_a_short_series_is_matched_on_an_interpolated_grid() -> None:
    t = np.arange(12.0)
    z = np.stack([t**2, np.sin(t)], axis=1)
    fine = upsample(z, 4)
    assert fine.shape == (45, 2)
    np.testing.assert_array_equal(fine[::4], z)  # through every value
    # Central-difference slopes are exact for a quadratic: so is every inner segment.
    np.testing.assert_allclose(fine[4:-4, 0], (np.arange(4, 41) / 4.0) ** 2, atol=1e-12)
    # A prefix as known up to its end: its last step is drawn without the value after it.
    for n in (5, 21, 45):
        np.testing.assert_allclose(upsampled_prefix(fine, n, 4), upsample(z[: (n - 1) // 4 + 1], 4))
    # 150 values: matched on a grid 4x finer, forecast at the series' own steps.
    y = np.sin(0.9 * np.arange(180)) * np.cos(0.13 * np.arange(180))
    model = AnalogForecaster().fit(y[:150])
    assert model.params_["interpolated"] == 4
    assert AnalogForecaster(interpolate_to=0).fit(y[:150]).params_["interpolated"] == 1
    assert AnalogForecaster().fit(y[:150].repeat(5)).params_["interpolated"] == 1
    walk = np.cumsum(np.random.default_rng(0).standard_normal(150))  # rough: never
    assert AnalogForecaster().fit(walk).params_["interpolated"] == 1
    f = model.predict(30, num_samples=200)
    assert f.mean.shape == (30, 1)
    assert np.sqrt(np.mean((f.mean[:, 0] - y[150:]) ** 2)) < 0.1
    np.testing.assert_array_equal(loads(dumps(model)).predict(30, num_samples=200).mean, f.mean)
    with pytest.raises(ValueError, match="interpolate_to"):
        AnalogForecaster(interpolate_to=-1)


def test_the_members_of_several_k_and_queries_in_one_batch_equal_each_alone() -> None:
    z = np.sin(0.37 * np.arange(300))[:, None] + 0.05 * np.random.default_rng(1).standard_normal(
        (300, 1)
    )
    pool = Candidates.of([z], 8, 1, exclude_last=[8])
    found = neighbours(z, pool, 8, 1, n=80, h=12)
    other = neighbours(z[:250], Candidates.of([z[:250]], 8, 1, exclude_last=[8]), 8, 1, 80, 12)
    for order in (0, 1):
        batch = members_of([found, other], [5, 10, 20], order)
        for k, (paths, weights) in zip([5, 10, 20], batch, strict=True):
            assert paths.shape == (2, k, 12, 1) and weights.shape == (2, k)
            alone = neighbours(z, pool, 8, 1, n=4 * k, h=12).members(k, order)
            np.testing.assert_allclose(paths[0], alone[0], atol=1e-10)
            np.testing.assert_allclose(weights[0], alone[1], atol=1e-12)
            np.testing.assert_allclose(paths[1], other.members(k, order)[0], atol=1e-10)


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
