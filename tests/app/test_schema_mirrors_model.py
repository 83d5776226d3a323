"""The API checks series length without importing numerics; its rule must match the model's."""

from __future__ import annotations

import itertools

from app.api.schemas.model_specs import BayesARParams
from models.forecasting import BayesianAR


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
    from models.forecasting import BayesianARAveraged

    for trend, fourier, dim in itertools.product([False, True], [0, 2], [1, 3]):
        params = BayesARBMAParams(
            trend=trend, fourier_order=fourier, season_length=12 if fourier else None
        )
        assert params.min_length(dim) == BayesianARAveraged.min_length(trend, fourier, dim)


def test_ensemble_min_length_agrees_with_the_model() -> None:
    from app.api.schemas.model_specs import EnsembleParams
    from models.forecasting import AnchoredEnsembleAR

    for lags in (1, 8, 32, 200):
        assert EnsembleParams(lags=lags).min_length(1) == AnchoredEnsembleAR.min_length(lags)


def test_api_params_are_model_params() -> None:
    """Every hyperparameter the API accepts is one the model takes (and with the same default)."""
    from dataclasses import fields

    from app.api.schemas.model_specs import BayesARBMAParams, EnsembleParams
    from models.forecasting import AnchoredEnsembleAR, BayesianARAveraged

    for schema, cls in (
        (BayesARParams, BayesianAR),
        (BayesARBMAParams, BayesianARAveraged),
        (EnsembleParams, AnchoredEnsembleAR),
    ):
        defaults = {f.name: f.default for f in fields(cls) if f.init}
        for name, field in schema.model_fields.items():
            assert name in defaults, (cls.__name__, name)
            assert field.default == defaults[name], (cls.__name__, name)
