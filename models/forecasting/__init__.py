"""Probabilistic forecasters sharing one interface (`Forecaster`) and one result type."""

from models.forecasting.base import Forecast, Forecaster, NotFittedError, summarize_samples
from models.forecasting.bayes_ar import BayesianAR

__all__ = ["BayesianAR", "Forecast", "Forecaster", "NotFittedError", "summarize_samples"]
