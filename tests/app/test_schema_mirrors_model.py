"""The API checks series length without importing numerics; its rule must match the model's."""

from __future__ import annotations

import itertools
from dataclasses import fields

import pytest

from app.api.schemas.model_specs import PARAMS, BayesARParams
from models.forecasting.bayes_ar import BayesianAR
from models.forecasting.registry import KINDS, kind_info


def test_min_length_agrees_with_the_model() -> None:
    for lags, trend, fourier, dim in itertools.product(
        [None, 1, 3, 12], [False, True], [0, 2], [1, 3]
    ):
        params = BayesARParams(
            lags=lags, trend=trend, fourier_order=fourier, season_length=12 if fourier else None
        )
        assert params.min_length(dim) == BayesianAR.min_length(lags, trend, fourier, dim)


def test_bma_min_length_agrees_with_the_model() -> None:
    from app.api.schemas.model_specs import BayesARBMAParams
    from models.forecasting.bayes_ar_bma import BayesianARAveraged

    for trend, fourier, dim in itertools.product([False, True], [0, 2], [1, 3]):
        params = BayesARBMAParams(
            trend=trend, fourier_order=fourier, season_length=12 if fourier else None
        )
        assert params.min_length(dim) == BayesianARAveraged.min_length(trend, fourier, dim)


def test_pool_min_length_agrees_with_the_model() -> None:
    from app.api.schemas.model_specs import BayesARPoolParams
    from models.forecasting.bayes_ar_pool import BayesianARPool

    for fourier, dim in itertools.product([0, 2], [1, 3]):
        params = BayesARPoolParams(fourier_order=fourier, season_length=12 if fourier else None)
        assert params.min_length(dim) == BayesianARPool.min_length(fourier, dim)


def test_ensemble_min_length_agrees_with_the_model() -> None:
    from app.api.schemas.model_specs import EnsembleParams
    from models.forecasting.ensemble import AnchoredEnsembleAR

    for lags in (1, 8, 32, 200):
        assert EnsembleParams(lags=lags).min_length(1) == AnchoredEnsembleAR.min_length(lags)


def test_analog_min_length_agrees_with_the_model() -> None:
    from app.api.schemas.model_specs import AnalogParams
    from models.forecasting.analog import AnalogForecaster

    assert AnalogParams().min_length(1) == AnalogForecaster.min_length()


@pytest.mark.parametrize("kind", [k.name for k in KINDS])
def test_api_params_are_model_params(kind: str) -> None:
    """Every registered kind has a parameter schema, and every hyperparameter it accepts is
    one the model takes (with the same default)."""
    assert kind in PARAMS, f"kind {kind!r} has no parameter schema (@params_for)"
    cls = kind_info(kind).cls
    defaults = {f.name: f.default for f in fields(cls) if f.init}  # type: ignore[arg-type]
    for name, field in PARAMS[kind].model_fields.items():
        assert name in defaults, (cls.__name__, name)
        assert field.default == defaults[name], (cls.__name__, name)


def test_a_parameter_schema_must_say_its_min_length() -> None:
    from app.api.schemas.model_specs import KindParams

    with pytest.raises(TypeError, match="abstract"):
        KindParams()  # type: ignore[abstract]  # the point: it cannot be built
