"""Kalmanac's Python client and command-line tool.

This package talks to a Kalmanac server over HTTP and imports nothing of the server
(`app`, `workers`, `models`), so it can be installed on its own: numpy and httpx are
required, pandas (DataFrames, CSV/Parquet input) and matplotlib (`--plot`) optional.
"""

from kalmanac.client import AsyncClient, Client
from kalmanac.errors import FieldError, JobFailed, JobTimeout, KalmanacError
from kalmanac.results import (
    Analyses,
    Analysis,
    Backtest,
    Forecast,
    Interval,
    Job,
    Model,
    ModelVersion,
    Page,
    Pushed,
    SeriesForecast,
    Stream,
)

__all__ = [
    "Analyses",
    "Analysis",
    "AsyncClient",
    "Backtest",
    "Client",
    "FieldError",
    "Forecast",
    "Interval",
    "Job",
    "JobFailed",
    "JobTimeout",
    "KalmanacError",
    "Model",
    "ModelVersion",
    "Page",
    "Pushed",
    "SeriesForecast",
    "Stream",
]
