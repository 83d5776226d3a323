"""One contract every Forecaster must honour (cf. statsforecast's `assert_class`), run over
every kind of the registry: a kind without a case here fails."""

import json
from typing import Any

import numpy as np
import pytest

from models.forecasting.base import Forecast, Forecaster, NotFittedError, summarize_samples
from models.forecasting.registry import KINDS, make_forecaster
from models.forecasting.serialize import dumps, loads

# Per kind, the settings its contract runs with (small and quick), and extra variants.
CASES: dict[str, list[dict[str, Any]]] = {
    "bayes_ar": [{}, {"lags": 2, "trend": True, "season_length": 7, "fourier_order": 2}],
    "bayes_ar_bma": [
        {"max_lag": 6, "season_length": 7, "fourier_order": 2},
        {"max_lag": 10, "season_length": 4, "fourier_order": 1},  # seasonal differences too
    ],
    "bayes_ar_pool": [{"max_lag": 6, "season_length": 7, "fourier_order": 2}],
    "analog": [{"max_window": 16}, {"max_window": 8, "max_stride": 2, "k": 3, "denoise": False}],
    "ensemble": [
        {
            "lags": 4,
            "hidden": 16,
            "depth": 1,
            "members": 4,
            "epochs": 15,
            "batch_size": 32,
            "patience": 5,
        }
    ],
}
PARAMS = [
    pytest.param(k.name, i, id=f"{k.name}-{i}")
    for k in KINDS
    for i in range(max(1, len(CASES.get(k.name, []))))
]


def test_every_case_is_a_registered_kind() -> None:
    assert set(CASES) <= {k.name for k in KINDS}


@pytest.mark.parametrize("kind,case", PARAMS)
@pytest.mark.parametrize("dim", [None, 1, 2])
def test_forecaster_contract(kind: str, case: int, dim: int | None) -> None:
    if kind not in CASES:
        pytest.fail(f"kind {kind!r} is registered but has no contract case here")

    def make() -> Forecaster:
        return make_forecaster(kind, CASES[kind][case])

    rng = np.random.default_rng(0)
    T, h, S = 120, 8, 400
    y = np.cumsum(rng.standard_normal((T, dim or 1)), axis=0) * 0.3 + rng.standard_normal(
        (T, dim or 1)
    )
    y_in = y[:, 0] if dim is None else y
    d = dim or 1

    with pytest.raises(NotFittedError):
        make().predict(h)
    fractions: list[float] = []
    model = make().fit(y_in, progress=fractions.append)
    assert isinstance(model, Forecaster)
    assert all(0.0 <= f <= 1.0 for f in fractions)
    if next(k for k in KINDS if k.name == kind).reports_progress:
        assert fractions, "a kind that reports progress called progress() not once"
    json.dumps(model.params_)  # JSON-serialisable summary

    levels, qs = (50, 80, 95), (0.05, 0.25, 0.5, 0.75, 0.95)
    f = model.predict(h, levels=levels, quantiles=qs, num_samples=S, seed=1, return_samples=True)
    assert isinstance(f, Forecast)
    for a in (f.mean, f.median, f.std, f.epistemic_std, f.aleatoric_std):
        assert a.shape == (h, d) and np.all(np.isfinite(a))
    assert f.samples is not None and f.samples.shape == (S, h, d)
    assert set(f.intervals) == {50.0, 80.0, 95.0} and set(f.quantiles) == set(qs)
    np.testing.assert_allclose(f.std**2, f.epistemic_std**2 + f.aleatoric_std**2, rtol=1e-12)
    assert np.all(f.epistemic_std >= 0) and np.all(f.aleatoric_std > 0)

    outer_lo, outer_hi = f.median, f.median
    for L in sorted(f.intervals):  # nested: wider level contains narrower
        lo, hi = f.intervals[L]
        assert lo.shape == hi.shape == (h, d)
        assert np.all(lo <= outer_lo) and np.all(outer_hi <= hi)
        outer_lo, outer_hi = lo, hi
    Q = np.stack([f.quantiles[q] for q in sorted(f.quantiles)])
    assert np.all(np.diff(Q, axis=0) >= 0)
    np.testing.assert_allclose(f.quantiles[0.5], f.median)

    assert model.predict(h, num_samples=S, seed=1).samples is None

    # The training series as context reproduces the plain forecast; another context does not.
    g = model.predict(h, num_samples=S, seed=1, return_samples=True, context=y_in)
    assert g.samples is not None and np.array_equal(g.samples, f.samples)
    g = model.predict(h, num_samples=S, seed=1, return_samples=True, context=y_in[: T // 2])
    assert g.samples is not None and not np.allclose(g.samples, f.samples)

    # A serialised model forecasts identically.
    g = loads(dumps(model)).predict(
        h, levels=levels, quantiles=qs, num_samples=S, seed=1, return_samples=True
    )
    assert g.samples is not None and np.array_equal(g.samples, f.samples)
    assert np.array_equal(g.std, f.std) and g.quantiles.keys() == f.quantiles.keys()


@pytest.mark.parametrize("kind", [k.name for k in KINDS])
@pytest.mark.parametrize("scale", [1e-14, 1e9])
def test_forecasts_follow_the_series_scale(kind: str, scale: float) -> None:
    """A series in other units (farads, or cents of a large budget) gets the same forecast
    in those units: an absolute floor once took a std under 1e-12 for a constant series."""
    rng = np.random.default_rng(3)
    y = 5.0 + np.cumsum(rng.standard_normal(120)) * 0.3 + rng.standard_normal(120)
    settings = CASES[kind][0]
    f = make_forecaster(kind, settings).fit(y).predict(6, num_samples=300, seed=2)
    g = make_forecaster(kind, settings).fit(scale * y).predict(6, num_samples=300, seed=2)
    np.testing.assert_allclose(g.mean / scale, f.mean, rtol=1e-3)
    np.testing.assert_allclose(g.std / scale, f.std, rtol=1e-3)


def test_summarize_samples_law_of_total_variance() -> None:
    # theta_s ~ N(0, 1) shifts the mean; noise N(0, 2^2): epi ~ 1, alea ~ 2, total ~ sqrt(5).
    rng = np.random.default_rng(0)
    M = np.broadcast_to(rng.standard_normal((20_000, 1, 1)), (20_000, 3, 1))
    Y = M + 2.0 * rng.standard_normal(M.shape)
    f = summarize_samples(Y, M, levels=(95,), quantiles=(0.5,))
    np.testing.assert_allclose(f.epistemic_std, 1.0, rtol=0.03)
    np.testing.assert_allclose(f.aleatoric_std, 2.0, rtol=0.03)
    np.testing.assert_allclose(f.intervals[95.0][1], 1.96 * np.sqrt(5.0), rtol=0.03)
    with pytest.raises(ValueError):
        summarize_samples(Y, M[:, :2], levels=(95,))
