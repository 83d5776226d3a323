"""Model specifications: a kind with its hyperparameters, or a stored model version.

Each forecaster kind of `models.forecasting.registry` has one parameter schema here,
registered with `@params_for(kind)`; the specs, the tagged unions the routes accept, the
error messages and `auto`'s parameters are all derived from those, so a new kind is one
schema class here (a test checks that every registered kind has one).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self, TypeVar, Union

from pydantic import (
    Discriminator,
    Field,
    StrictBool,
    StrictInt,
    Tag,
    create_model,
    field_validator,
    model_validator,
)

from app.api.schemas.common import FiniteFloat, StoredModelRef, StrictModel
from app.api.schemas.observers import ObserverSpec
from models.forecasting.registry import AUTO, BY_NAME, DEFAULT_KIND, KINDS

__all__ = ["StoredModelRef"]  # defined in common (streams refer to stored models too)

STORED = "stored"  # the tag of a reference to a stored version


class KindParams(StrictModel):
    """A kind's hyperparameters, as the API accepts them (names and defaults are the model
    class's own: a test checks it). Abstract: each kind's schema says its own min_length
    (pydantic's model metaclass is an ABCMeta, so a schema without one cannot be built)."""

    @abstractmethod
    def min_length(self, dim: int = 1) -> int:
        """Shortest series the model fits: a mirror of the model's own rule (a test checks
        it), so the API answers 422 without importing numerics."""


PARAMS: dict[str, type[KindParams]] = {}
P = TypeVar("P", bound=type[KindParams])


def params_for(kind: str) -> Callable[[P], P]:
    """Register the parameter schema of a kind of the forecaster registry."""

    def register(cls: P) -> P:
        if kind not in BY_NAME:
            raise ValueError(f"{kind!r} is not a kind of models.forecasting.registry")
        PARAMS[kind] = cls
        return cls

    return register


def _ar_min_length(p: int, trend: bool, fourier_order: int, dim: int) -> int:
    """Mirror of models.forecasting.BayesianAR.min_length."""
    n_det = 1 + int(trend) + 2 * fourier_order
    return max(3 * p + 1, p + n_det + p * dim + 3)


class _ARParams(KindParams):
    """Settings shared by the conjugate AR kinds."""

    max_lag: StrictInt | None = Field(
        None,
        ge=1,
        le=64,
        description="Largest lag order tried by evidence; default two seasons (2 x the season "
        "given or the time grid's), at least 12, at most 64",
    )
    season_length: StrictInt | None = Field(None, ge=2, le=10_000)
    fourier_order: StrictInt = Field(0, ge=0, le=50, description="Fourier pairs per season")
    prior_scale: FiniteFloat = Field(3.0, gt=0, le=1e6, description="Prior std of lag weights")

    @model_validator(mode="after")
    def _season_needs_length(self) -> Self:
        if self.fourier_order > 0 and self.season_length is None:
            raise ValueError("fourier_order > 0 needs season_length")
        if self.season_length is not None and 2 * self.fourier_order > self.season_length:
            raise ValueError("fourier_order may be at most season_length / 2")
        return self


@params_for("bayes_ar")
class BayesARParams(_ARParams):
    lags: StrictInt | None = Field(
        None, ge=1, le=64, description="Fixed lag order (skips evidence-based selection)"
    )
    trend: StrictBool = Field(False, description="Add a linear time trend regressor")

    def min_length(self, dim: int = 1) -> int:
        """Order 1 when the order is selected."""
        return _ar_min_length(self.lags or 1, self.trend, self.fourier_order, dim)


@params_for("bayes_ar_bma")
class BayesARBMAParams(_ARParams):
    log: StrictBool = Field(True, description="Also model log y (used when every value > 0)")
    difference: StrictBool = Field(True, description="Also model first differences")
    seasonal_difference: StrictBool = Field(
        True, description="Also model seasonal differences (a season shorter than max_lag)"
    )
    trend: StrictBool = Field(True, description="Also try a linear time trend in levels")

    def min_length(self, dim: int = 1) -> int:
        """That of the largest level candidate (BayesianARAveraged.min_length)."""
        return _ar_min_length(1, self.trend, self.fourier_order, dim)


@params_for("bayes_ar_pool")
class BayesARPoolParams(_ARParams):
    def min_length(self, dim: int = 1) -> int:
        """That of its averaged member (BayesianARPool.min_length)."""
        return _ar_min_length(1, True, self.fourier_order, dim)


@params_for("ensemble")
class EnsembleParams(KindParams):
    lags: StrictInt = Field(32, ge=1, le=512, description="Input window (lags)")
    hidden: StrictInt = Field(64, ge=4, le=1024, description="Hidden units per layer")
    depth: StrictInt = Field(2, ge=1, le=8, description="Hidden layers")
    members: StrictInt = Field(8, ge=2, le=64, description="Ensemble members")
    epochs: StrictInt = Field(300, ge=1, le=5000)
    batch_size: StrictInt = Field(256, ge=8, le=8192)
    lr: FiniteFloat = Field(3e-3, gt=0, le=1)
    prior_std: FiniteFloat = Field(1.0, gt=0, le=100, description="Anchor prior std")
    val_fraction: FiniteFloat = Field(0.2, gt=0, lt=0.9)
    patience: StrictInt = Field(30, ge=1, le=5000)
    max_steps: StrictInt = Field(
        10_000,
        ge=1,
        le=10_000_000,
        description="Most optimiser steps: a long series' epochs are cut to fit them",
    )
    seed: StrictInt = Field(0, ge=0, lt=2**31)

    def min_length(self, dim: int = 1) -> int:
        """Mirror of AnchoredEnsembleAR.min_length: lags + 20 windows."""
        return self.lags + 20


@params_for("analog")
class AnalogParams(KindParams):
    max_window: StrictInt = Field(64, ge=4, le=256, description="Longest window matched")
    max_stride: StrictInt = Field(
        1, ge=1, le=16, description="Largest spacing of a window's values (delay embedding)"
    )
    k: StrictInt = Field(
        40, ge=1, le=100, description="Most analogs (members); k, k/2 and k/4 are validated"
    )
    denoise: StrictBool = Field(True, description="Also try matching on smoothed windows")
    smoothing: StrictInt = Field(5, ge=1, le=51, description="Width of that smoothing")
    first_order: StrictBool = Field(
        True, description="Also try analogs corrected for their windows' mismatch (local linear)"
    )
    pooled: StrictInt | None = Field(
        None,
        ge=1,
        le=64,
        description="How many of the best settings pool their analogs (null: the square root "
        "of the number scored; 1: the best alone)",
    )
    val_fraction: FiniteFloat = Field(0.2, gt=0, lt=0.9)
    val_horizon: StrictInt = Field(16, ge=1, le=1000, description="Validation forecast length")
    interpolate_to: StrictInt = Field(
        600,
        ge=0,
        le=100_000,
        description="A smooth series shorter than this is matched on a grid about this / its "
        "length times finer (at most 8; 0: never): analogs that start between its values",
    )

    def min_length(self, dim: int = 1) -> int:
        """Mirror of AnalogForecaster.min_length: four of the smallest window."""
        return 16


class KindSpec(StrictModel):
    """A kind to fit on the posted series, with its hyperparameters."""

    kind: str
    params: KindParams

    def min_length(self, dim: int = 1) -> int:
        return self.params.min_length(dim)


def _kind_spec(kind: str, params: type[KindParams]) -> type[KindSpec]:
    name = params.__name__.removesuffix("Params") + "Spec"
    tag: Any = Literal[kind]  # a Literal of a runtime string: built, not written
    default = kind if kind == DEFAULT_KIND else ...  # the default kind may be left out
    return create_model(
        name,
        __base__=KindSpec,
        __doc__=BY_NAME[kind].summary,
        kind=(tag, default),
        params=(params, Field(default_factory=params)),
    )


SPECS: dict[str, type[KindSpec]] = {
    info.name: _kind_spec(info.name, PARAMS[info.name]) for info in KINDS
}
DefaultSpec = SPECS[DEFAULT_KIND]
AUTO_KINDS = tuple(info.name for info in KINDS if info.auto)


class _AutoSettings(StrictModel):
    val_fraction: FiniteFloat = Field(0.2, gt=0, lt=0.9, description="Validation tail for CRPS")
    candidates: list[Literal[AUTO_KINDS]] | None = Field(  # type: ignore[valid-type]  # from the registry
        None,
        min_length=1,
        description="The kinds to choose among (default: all of them; with drivers, those "
        "that take them)",
    )

    @field_validator("candidates")
    @classmethod
    def _distinct(cls, kinds: list[str] | None) -> list[str] | None:
        if kinds is not None and len(set(kinds)) < len(kinds):
            raise ValueError("candidates must be distinct")
        return kinds


AutoParams = create_model(  # type: ignore[call-overload]  # fields built from the registry
    "AutoParams",
    __base__=_AutoSettings,
    __doc__="Each candidate's settings, and the validation tail they are scored on.",
    **{k: (PARAMS[k], Field(default_factory=PARAMS[k])) for k in AUTO_KINDS},
)


class AutoSpec(StrictModel):
    """Picks among the candidates by time-ordered validation CRPS (the simplest within one
    standard error of the best)."""

    kind: Literal["auto"]
    params: AutoParams = Field(default_factory=AutoParams)

    def min_length(self, dim: int = 1) -> int:
        # One candidate must fit the training part before the validation tail; those that
        # need more history are left out (`models.forecasting.auto.select_by_crps`).
        kinds = self.params.candidates or AUTO_KINDS
        need = min(getattr(self.params, k).min_length(dim) for k in kinds)
        return int(need / (1 - self.params.val_fraction)) + 1


def _spec_tag(value: Any) -> str:
    if isinstance(value, dict):
        return STORED if "name" in value else str(value.get("kind", DEFAULT_KIND))
    return STORED if isinstance(value, StoredModelRef) else str(getattr(value, "kind", ""))


def _union(extra: dict[str, Any], also: str = "") -> Any:
    """The tagged union of every kind's spec and `extra` (tag -> schema)."""
    members: dict[str, Any] = {**SPECS, **extra}
    tags = [t for t in members if t != STORED]
    return Annotated[
        Union[tuple(Annotated[schema, Tag(tag)] for tag, schema in members.items())],  # noqa: UP007  # a runtime tuple of members
        Discriminator(
            _spec_tag,
            custom_error_type="unknown_model_kind",
            custom_error_message=f"kind must be one of {', '.join(tags)}{also}",
        ),
    ]


# The tags a field of each union can take: error paths drop them (app.api.errors).
MODEL_TAGS = frozenset([*SPECS, AUTO, STORED, "observer"])

if TYPE_CHECKING:
    ConcreteSpec = KindSpec
    ModelSpec = KindSpec | AutoSpec | StoredModelRef
    VersionSpec = KindSpec | AutoSpec | ObserverSpec
else:
    # What a backtest refits at every origin (a kind, not auto); what a forecast uses (a
    # stored version too); what `POST /v1/models` trains (a forecaster, or an observer).
    ConcreteSpec = _union({})
    ModelSpec = _union(
        {AUTO: AutoSpec, STORED: StoredModelRef},
        "; or give a stored model's name with its version or alias",
    )
    VersionSpec = _union({AUTO: AutoSpec, "observer": ObserverSpec})
