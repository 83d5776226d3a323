"""Probabilistic forecasters sharing one interface (`Forecaster`) and one result type."""

from models.forecasting.auto import select_by_crps
from models.forecasting.base import Forecast, Forecaster, NotFittedError, summarize_samples
from models.forecasting.bayes_ar import BayesianAR
from models.forecasting.bayes_ar_bma import BayesianARAveraged
from models.forecasting.ensemble import AnchoredEnsembleAR
from models.forecasting.registry import KINDS, make_forecaster
from models.forecasting.serialize import dumps, loads

__all__ = [
    "KINDS",
    "AnchoredEnsembleAR",
    "BayesianAR",
    "BayesianARAveraged",
    "Forecast",
    "Forecaster",
    "NotFittedError",
    "dumps",
    "loads",
    "make_forecaster",
    "select_by_crps",
    "summarize_samples",
]
