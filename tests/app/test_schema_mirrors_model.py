"""The API checks series length without importing numerics; its rule must match the model's."""

from __future__ import annotations

import itertools

from app.api.schemas.forecasts import BayesARParams
from models.forecasting import BayesianAR


def test_min_length_agrees_with_the_model() -> None:
    for lags, trend, fourier, dim in itertools.product(
        [None, 1, 3, 12], [False, True], [0, 2], [1, 3]
    ):
        params = BayesARParams(
            lags=lags, trend=trend, fourier_order=fourier, season_length=12 if fourier else None
        )
        assert params.min_length(dim) == BayesianAR.min_length(lags, trend, fourier, dim)
