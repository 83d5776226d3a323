"""Forecaster kinds, each described once. Every other layer asks this registry: the API's
parameter schemas and error paths, job queues, `auto`'s candidates, training, stream
surrogates, and (through `GET /v1/kinds`) the client, the CLI and the dashboard.

Importing this module loads no numerics, so the API process can list and validate kinds
without torch; a kind's class is imported when `KindInfo.cls` is first asked for (workers).
Adding a kind: its module, one `KindInfo` line below, its parameter schema
(`app.api.schemas.model_specs`) and its tests (the contract test runs over every kind).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, fields
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from models.forecasting.base import Forecaster

AUTO = "auto"  # not a kind of its own: picks among the kinds with `auto=True`


@dataclass(frozen=True)
class KindInfo:
    """What a forecaster kind is.

    accelerated: a neural model, trained on the GPU where there is one (its jobs go to the
    gpu queue); reports_progress: its fit calls `progress` as it goes (long fits);
    surrogate: it has a one-step sampler, so a stream can step it as its dynamics;
    auto: `auto` considers it (candidates are tried simplest first, in registry order);
    library: a model version of it may be trained on many series (`fit_library`);
    cheap_fit: fitting is quick (no training), so with missing values it is refitted on each
    posterior draw of them (`gaps`) instead of once on their posterior mean;
    covariates: it takes known drivers (their history to fit, their future to forecast).
    """

    name: str
    cls_path: str  # "module:Class"
    summary: str
    accelerated: bool = False
    reports_progress: bool = False
    surrogate: bool = False
    auto: bool = True
    library: bool = False
    cheap_fit: bool = False
    covariates: bool = False

    @cached_property
    def cls(self) -> type[Forecaster]:
        module, _, attr = self.cls_path.partition(":")
        cls: type[Forecaster] = getattr(importlib.import_module(module), attr)
        return cls

    def describe(self) -> dict[str, Any]:
        """JSON-able summary (what `GET /v1/kinds` lists)."""
        return {
            "name": self.name,
            "summary": self.summary,
            "accelerated": self.accelerated,
            "reports_progress": self.reports_progress,
            "surrogate": self.surrogate,
            "auto": self.auto,
            "library": self.library,
            "cheap_fit": self.cheap_fit,
            "covariates": self.covariates,
        }


KINDS: tuple[KindInfo, ...] = (
    KindInfo(
        "bayes_ar",
        "models.forecasting.bayes_ar:BayesianAR",
        "Exact conjugate Bayesian (V)AR, lag order by evidence, optional trend and seasonality",
        surrogate=True,
        auto=False,  # through bayes_ar_pool
        cheap_fit=True,
        covariates=True,
    ),
    KindInfo(
        "bayes_ar_bma",
        "models.forecasting.bayes_ar_bma:BayesianARAveraged",
        "The conjugate AR averaged by evidence over y / log y, levels / trend / differences "
        "/ seasonal differences",
        auto=False,  # through bayes_ar_pool
        cheap_fit=True,
        covariates=True,
    ),
    KindInfo(
        "bayes_ar_pool",
        "models.forecasting.bayes_ar_pool:BayesianARPool",
        "bayes_ar and bayes_ar_bma pooled half and half: hedges the evidence's choice of "
        "scale, trend and differencing",
        cheap_fit=True,
        covariates=True,
    ),
    KindInfo(
        "ensemble",
        "models.forecasting.ensemble:AnchoredEnsembleAR",
        "Anchored deep ensemble of autoregressive MLPs (batched members, GPU where present)",
        accelerated=True,
        reports_progress=True,
        surrogate=True,
        covariates=True,
    ),
    KindInfo(
        "analog",
        "models.forecasting.analog:AnalogForecaster",
        "Analog ensemble: what followed the closest matches of the latest window, in the "
        "series' own history and a stored library of series",
        library=True,
        cheap_fit=True,
    ),
)
BY_NAME: dict[str, KindInfo] = {k.name: k for k in KINDS}
DEFAULT_KIND = KINDS[0].name


def kind_info(kind: str) -> KindInfo:
    """The descriptor registered under `kind`; ValueError for an unknown kind."""
    try:
        return BY_NAME[kind]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown forecaster kind {kind!r}; expected one of {', '.join(BY_NAME)}"
        ) from None


def accelerated(kind: str) -> bool:
    """Whether fitting `kind` (or `auto`, which may pick a neural kind) wants a GPU."""
    if kind == AUTO:
        return any(k.accelerated for k in KINDS if k.auto)
    return kind in BY_NAME and BY_NAME[kind].accelerated


def forecaster_class(kind: str) -> type[Forecaster]:
    """The class registered under `kind`; ValueError for an unknown kind."""
    return kind_info(kind).cls


def make_forecaster(kind: str, params: dict[str, Any] | None = None) -> Forecaster:
    """An unfitted forecaster of `kind` with hyperparameters `params`.

    ValueError for an unknown kind, an unknown parameter name or an invalid value.
    """
    cls = forecaster_class(kind)
    params = dict(params or {})
    allowed = {f.name for f in fields(cls) if f.init}  # type: ignore[arg-type]  # every kind is a dataclass
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValueError(f"unknown {kind} parameters {unknown}; allowed: {sorted(allowed)}")
    try:
        return cls(**params)
    except TypeError as exc:
        raise ValueError(f"invalid {kind} parameters: {exc}") from exc
