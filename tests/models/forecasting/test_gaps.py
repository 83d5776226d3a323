"""Missing values: the Gibbs draws of the gaps, and forecasting through them for every kind."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from models.forecasting import imputation
from models.forecasting.base import Forecast, pool_forecasts
from models.forecasting.bayes_ar import BayesianAR
from models.forecasting.gaps import GapForecaster, imputation_template, leading_missing
from models.forecasting.registry import KINDS, kind_info, make_forecaster
from models.forecasting.serialize import dumps, loads

FAST_PARAMS = {"ensemble": {"members": 2, "hidden": 8, "epochs": 20}}


def ar1(T: int, seed: int, phi: float = 0.8) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = np.zeros(T)
    for t in range(1, T):
        y[t] = phi * y[t - 1] + rng.standard_normal()
    return y


def test_missing_cells_follow_their_exact_gaussian_conditional() -> None:
    """For a fixed VAR draw, the banded sampler matches the dense Gaussian conditional, at
    the series' ends too (a first value enters only as a lag; a last one only in its own
    equation)."""
    rng = np.random.default_rng(0)
    T, d, p = 24, 2, 2
    z = rng.standard_normal((T, d))
    missing = rng.random((T, d)) < 0.3
    missing[0, 0] = missing[1, 1] = missing[-1, 0] = True
    B = 0.3 * rng.standard_normal((1 + p * d, d))
    U = np.linalg.cholesky(np.array([[1.0, 0.3], [0.3, 0.5]]))
    D = np.ones((T, 1))
    A = B[1:].reshape(p, d, d).transpose(0, 2, 1)
    L = np.zeros(((T - p) * d, T * d))
    for t in range(p, T):
        r = slice((t - p) * d, (t - p + 1) * d)
        L[r, t * d : (t + 1) * d] = np.eye(d)
        for i in range(1, p + 1):
            L[r, (t - i) * d : (t - i + 1) * d] = -A[i - 1]
    W = np.kron(np.eye(T - p), np.linalg.inv(U @ U.T))
    Q, lin = L.T @ W @ L, L.T @ W @ np.tile(B[0], T - p)
    m, o = np.nonzero(missing.reshape(-1))[0], np.nonzero(~missing.reshape(-1))[0]
    # the prior of a cell: N(0, 1) among the first p values, else vague
    prior = np.where(m // d < p, 1.0, imputation._VAGUE_PRECISION)
    Qmm = Q[np.ix_(m, m)] + np.diag(prior)
    mean = np.linalg.solve(Qmm, lin[m] - Q[np.ix_(m, o)] @ z.reshape(-1)[o])
    cov = np.linalg.inv(Qmm)
    draws = imputation._draw_missing(z, missing, B, U, D, p, rng, count=40_000).T
    sd = np.sqrt(np.diag(cov))
    assert np.abs(draws.mean(axis=0) - mean).max() < 0.05 * sd.max()
    assert np.abs(np.cov(draws.T) - cov).max() < 0.05 * cov.max()


def test_imputed_intervals_cover_the_values_that_were_hidden() -> None:
    covered = {80: [], 95: []}
    for seed in range(3):
        y = ar1(600, seed)
        hidden = np.random.default_rng(seed + 100).random(600) < 0.3
        gappy = np.where(hidden, np.nan, y)[:, None]
        imp = imputation.impute(gappy, seed=seed)
        np.testing.assert_array_equal(imp.missing[:, 0], hidden)
        np.testing.assert_array_equal(imp.completed()[~hidden, 0], y[~hidden])
        for cell in imp.cells((80, 95)):
            for level in (80, 95):
                lo, hi = cell["intervals"][f"{level}"]
                covered[level].append(lo <= y[cell["index"]] <= hi)
    assert 0.74 <= np.mean(covered[80]) <= 0.86
    assert 0.91 <= np.mean(covered[95]) <= 0.98


def test_a_short_seasonal_series_with_many_gaps_keeps_its_season() -> None:
    """The straight lines of the interpolated series favour an AR(1) here (evidence picks
    order 1 on them); a sampler that kept that order drew gaps without the season (RMSE 8.5,
    no better than the interpolation). Drawn with the order, the gaps follow the season."""
    profile = np.array([0, 2, 8, 5, 3, 10, 20, 19, 9, 2, -5, 0], dtype=float)
    rng = np.random.default_rng(12)
    t = np.arange(90)
    y = 100 * (1 + 0.01 * t) * (1 + profile[t % 12] / 100) + rng.normal(0, 1, t.size)
    hidden = rng.random(t.size) < 0.3
    hidden[:2] = False
    gappy = np.where(hidden, np.nan, y)[:, None]
    linear = imputation.interpolate(gappy)[:, 0]
    z = (linear - linear.mean())[:, None] / linear.std()
    assert BayesianAR(max_lag=24).fit(z).params_["order"] == 1  # the trap is there
    imp = imputation.impute(gappy, template=BayesianAR(max_lag=24), seed=0)
    assert imp.order >= 12
    rmse = np.sqrt(np.mean((imp.completed()[hidden, 0] - y[hidden]) ** 2))
    assert rmse < 0.5 * np.sqrt(np.mean((linear[hidden] - y[hidden]) ** 2))


def test_the_sampler_takes_a_season_the_grid_offers_where_the_data_carry_it() -> None:
    """Evidence picks the imputation VAR among no season and the offered periods (on the
    interpolated series); a kind's own template keeps the kind's lag range."""
    rng = np.random.default_rng(4)
    t = np.arange(12 * 12)
    pattern = 3 * np.sin(2 * np.pi * t / 12) + 1.5 * np.cos(4 * np.pi * t / 12)
    seasonal = pattern + rng.normal(0, 1, t.size)
    for y, season in ((seasonal, 12), (ar1(t.size, 5), None)):
        z = (y - y.mean())[:, None] / y.std()
        model = imputation._start(None, z, None, (12,))
        assert model.season_length == season and model.lag_limit == 24
    assert imputation._start(None, z, None, ()).lag_limit == 12
    template = imputation_template(make_forecaster("bayes_ar", {"max_lag": 30}))
    assert template.lag_limit == 30 and template.fourier_order == 0


def test_a_trailing_gap_widens_the_epistemic_part() -> None:
    y = ar1(300, 1)
    gappy = y.copy()
    gappy[-3:] = np.nan
    make = partial(make_forecaster, "bayes_ar", {})
    complete = make().fit(y[:-3]).predict(4)
    through = GapForecaster(make, refit=True).fit(gappy).predict(1)
    # Forecasting y[-2] from a series ending 3 steps earlier is the same problem: the gap's
    # uncertainty is the epistemic part now, not noise the model expects.
    assert through.epistemic_std[0, 0] > 3 * complete.epistemic_std[3, 0]
    total = np.hypot(through.epistemic_std[0, 0], through.aleatoric_std[0, 0])
    assert total == pytest.approx(complete.std[3, 0], rel=0.25)


def test_pooling_follows_the_law_of_total_variance() -> None:
    rng = np.random.default_rng(3)
    parts = []
    for shift in (0.0, 2.0):
        paths = shift + rng.standard_normal((4000, 1, 1))
        parts.append(
            Forecast(
                mean=paths.mean(axis=0),
                median=np.median(paths, axis=0),
                std=np.ones((1, 1)),
                epistemic_std=np.full((1, 1), 0.5),
                aleatoric_std=np.full((1, 1), np.sqrt(0.75)),
                intervals={},
                quantiles={},
                samples=paths,
            )
        )
    pooled = pool_forecasts(parts, levels=(80,))
    assert pooled.mean[0, 0] == pytest.approx(1.0, abs=0.05)
    assert pooled.epistemic_std[0, 0] ** 2 == pytest.approx(0.25 + 1.0, rel=0.05)
    assert pooled.aleatoric_std[0, 0] ** 2 == pytest.approx(0.75, rel=1e-9)
    assert pooled.std[0, 0] == pytest.approx(
        np.std(np.concatenate([p.samples for p in parts])), rel=0.02
    )


@pytest.mark.parametrize("kind", [k.name for k in KINDS])
def test_every_kind_forecasts_through_missing_values(kind: str) -> None:
    y = 5.0 + ar1(240, 2)
    gappy = y.copy()
    gappy[np.random.default_rng(5).random(240) < 0.2] = np.nan
    gappy[-1] = np.nan
    make = partial(make_forecaster, kind, FAST_PARAMS.get(kind, {}))
    model = GapForecaster(make, refit=kind_info(kind).cheap_fit, seed=1).fit(gappy)
    forecast = model.predict(6, num_samples=200, seed=2)
    assert np.isfinite(forecast.mean).all() and (forecast.epistemic_std > 0).all()
    assert model.params_["missing"]["count"] == int(np.isnan(gappy).sum())
    again = loads(dumps(model))  # a version stores the kind fitted on the mean completion
    assert type(again) is type(model.model)
    np.testing.assert_allclose(
        again.predict(3, seed=4).mean, model.model.predict(3, seed=4).mean, rtol=1e-6
    )


def test_a_multivariate_series_with_missing_components() -> None:
    rng = np.random.default_rng(4)
    Y = np.cumsum(rng.standard_normal((200, 2)), axis=0) * 0.1 + rng.standard_normal((200, 2))
    gappy = Y.copy()
    gappy[rng.random((200, 2)) < 0.15] = np.nan
    model = GapForecaster(partial(make_forecaster, "bayes_ar", {}), refit=True).fit(gappy)
    assert model.predict(3).mean.shape == (3, 2)
    cells = model.imputation_.cells()
    assert {c["component"] for c in cells} == {0, 1}


def test_leading_missing_counts_the_rows_before_any_component_is_read() -> None:
    nan = np.nan
    assert leading_missing([nan, nan, 1.0, nan, 2.0]) == 2
    assert leading_missing([[nan, nan], [nan, 3.0], [1.0, 2.0]]) == 1
    assert leading_missing([1.0, nan]) == 0 and leading_missing([nan, nan]) == 0
