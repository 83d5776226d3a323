"""Forecaster kinds by name, as the service and stored model versions spell them."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from models.forecasting.base import Forecaster
from models.forecasting.bayes_ar import BayesianAR
from models.forecasting.bayes_ar_bma import BayesianARAveraged
from models.forecasting.ensemble import AnchoredEnsembleAR

ForecasterClass = type[BayesianAR] | type[BayesianARAveraged] | type[AnchoredEnsembleAR]
KINDS: dict[str, ForecasterClass] = {
    "bayes_ar": BayesianAR,
    "bayes_ar_bma": BayesianARAveraged,
    "ensemble": AnchoredEnsembleAR,
}


def forecaster_class(kind: str) -> ForecasterClass:
    """The class registered under `kind`; ValueError for an unknown kind."""
    try:
        return KINDS[kind]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown forecaster kind {kind!r}; expected one of {sorted(KINDS)}"
        ) from None


def make_forecaster(kind: str, params: dict[str, Any] | None = None) -> Forecaster:
    """An unfitted forecaster of `kind` with hyperparameters `params`.

    ValueError for an unknown kind, an unknown parameter name or an invalid value.
    """
    cls = forecaster_class(kind)
    params = dict(params or {})
    allowed = {f.name for f in fields(cls) if f.init}
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValueError(f"unknown {kind} parameters {unknown}; allowed: {sorted(allowed)}")
    try:
        return cls(**params)
    except TypeError as exc:
        raise ValueError(f"invalid {kind} parameters: {exc}") from exc
