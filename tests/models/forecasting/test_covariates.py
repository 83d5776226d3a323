"""Known drivers as regressors of the conjugate AR kinds (exact posterior)."""

from __future__ import annotations

import numpy as np
import pytest

from models.forecasting.bayes_ar import BayesianAR
from models.forecasting.bayes_ar_bma import BayesianARAveraged
from models.forecasting.registry import make_forecaster
from models.forecasting.serialize import dumps, loads
from models.metrics import crps_from_samples


def driven(T: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """y_t = 0.5 y_{t-1} + 2 x_t + e_t with x a slow driver (a temperature, say)."""
    rng = np.random.default_rng(seed)
    x = np.cumsum(rng.normal(0, 0.3, T)) + 2 * np.sin(np.arange(T) / 9)
    y = np.zeros(T)
    for t in range(1, T):
        y[t] = 0.5 * y[t - 1] + 2.0 * x[t] + rng.normal()
    return y + 20, x


@pytest.mark.parametrize("cls", [BayesianAR, BayesianARAveraged])
def test_a_driver_sharpens_the_forecast(cls: type) -> None:
    y, x = driven(400, 0)
    h = 12
    train, future, X, X_future = y[:-h], y[-h:], x[:-h, None], x[-h:, None]
    with_x = cls().fit(train, covariates=X).predict(h, return_samples=True, covariates=X_future)
    without = cls().fit(train).predict(h, return_samples=True)
    crps_x = crps_from_samples(with_x.samples, future[:, None]).mean()
    crps_0 = crps_from_samples(without.samples, future[:, None]).mean()
    assert crps_x < 0.6 * crps_0


def test_the_coefficient_is_recovered_and_stored() -> None:
    y, x = driven(600, 1)
    model = BayesianAR(max_lag=3).fit(y, covariates=x)
    (coef,), (std,) = model.params_["covariate_coef"], model.params_["covariate_coef_std"]
    assert coef[0] == pytest.approx(2.0, abs=3 * std[0])
    again = loads(dumps(model))
    future = np.linspace(0, 1, 5)[:, None]
    np.testing.assert_allclose(
        again.predict(5, seed=3, covariates=future).mean,
        model.predict(5, seed=3, covariates=future).mean,
    )


def test_the_future_must_match_what_the_model_was_fitted_with() -> None:
    y, x = driven(200, 2)
    model = BayesianAR().fit(y, covariates=x)
    with pytest.raises(ValueError, match="give their future"):
        model.predict(3)
    with pytest.raises(ValueError, match=r"must be \(3, 1\)"):
        model.predict(3, covariates=np.zeros((2, 1)))
    with pytest.raises(ValueError, match="fitted without covariates"):
        BayesianAR().fit(y).predict(3, covariates=np.zeros((3, 1)))
    with pytest.raises(ValueError, match="one-step sampling"):
        model.one_step_sampler(4)


def test_a_kind_without_drivers_says_so() -> None:
    y, x = driven(200, 3)
    with pytest.raises(ValueError, match="takes no covariates"):
        make_forecaster("analog").fit(y, covariates=x)


def test_the_ensemble_takes_drivers_as_inputs() -> None:
    y, x = driven(400, 5)
    params = {"lags": 4, "hidden": 16, "members": 4, "epochs": 150, "patience": 30}
    model = make_forecaster("ensemble", params).fit(y, covariates=x)
    warm, cold = np.full((3, 1), x.max()), np.full((3, 1), x.min())
    hot_mean = model.predict(3, covariates=warm, seed=1).mean[:, 0]
    cold_mean = model.predict(3, covariates=cold, seed=1).mean[:, 0]
    assert (hot_mean - cold_mean > 0.5 * 2.0 * (x.max() - x.min())).all()  # the true effect: 2
    again = loads(dumps(model))
    np.testing.assert_allclose(
        again.predict(3, covariates=warm, seed=1).mean,
        model.predict(3, covariates=warm, seed=1).mean,
        rtol=1e-5,
    )
    with pytest.raises(ValueError, match="give their future"):
        model.predict(3)
    with pytest.raises(ValueError, match="without drivers"):
        model.one_step_sampler()


def test_a_gap_beside_a_known_driver_is_drawn_from_it() -> None:
    from functools import partial

    from models.forecasting.gaps import GapForecaster

    rng = np.random.default_rng(4)
    temp = 15 + 5 * np.sin(np.arange(80) / 7) + rng.normal(0, 1, 80)
    y = 3 * temp + rng.normal(0, 0.3, 80)
    gappy = y.copy()
    gappy[[30, 31]] = np.nan
    make = partial(make_forecaster, "bayes_ar", {})
    driven = GapForecaster(make, refit=True).fit(gappy, covariates=temp)
    alone = GapForecaster(make, refit=True).fit(gappy)
    for with_x, without in zip(driven.imputation_.cells(), alone.imputation_.cells(), strict=True):
        assert abs(with_x["mean"] - y[with_x["index"]]) < 3 * with_x["std"]
        assert with_x["std"] < 0.5 * without["std"]
