"""Model specifications: a kind with its hyperparameters, or a stored model version."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import Discriminator, Field, StrictBool, StrictInt, Tag, model_validator

__all__ = ["StoredModelRef"]  # defined in common (streams refer to stored models too)

from app.api.schemas.common import FiniteFloat, StoredModelRef, StrictModel
from app.api.schemas.observers import ObserverSpec


def _ar_min_length(p: int, trend: bool, fourier_order: int, dim: int) -> int:
    """Mirror of models.forecasting.BayesianAR.min_length (a test checks they agree), so the
    API can answer 422 without importing numerics."""
    n_det = 1 + int(trend) + 2 * fourier_order
    return max(3 * p + 1, p + n_det + p * dim + 3)


class _ARParams(StrictModel):
    """Settings shared by the conjugate AR kinds."""

    max_lag: StrictInt = Field(12, ge=1, le=64, description="Largest lag order tried by evidence")
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


class BayesARParams(_ARParams):
    lags: StrictInt | None = Field(
        None, ge=1, le=64, description="Fixed lag order (skips evidence-based selection)"
    )
    trend: StrictBool = Field(False, description="Add a linear time trend regressor")

    def min_length(self, dim: int = 1) -> int:
        """Shortest series the model fits (order 1 when the order is selected)."""
        return _ar_min_length(self.lags or 1, self.trend, self.fourier_order, dim)


class BayesARSpec(StrictModel):
    kind: Literal["bayes_ar"] = "bayes_ar"
    params: BayesARParams = Field(default_factory=BayesARParams)

    def min_length(self, dim: int = 1) -> int:
        return self.params.min_length(dim)


class BayesARBMAParams(_ARParams):
    log: StrictBool = Field(True, description="Also model log y (used when every value > 0)")
    difference: StrictBool = Field(True, description="Also model first differences")
    trend: StrictBool = Field(True, description="Also try a linear time trend in levels")

    def min_length(self, dim: int = 1) -> int:
        """That of the largest level candidate (BayesianARAveraged.min_length)."""
        return _ar_min_length(1, self.trend, self.fourier_order, dim)


class BayesARBMASpec(StrictModel):
    kind: Literal["bayes_ar_bma"]
    params: BayesARBMAParams = Field(default_factory=BayesARBMAParams)

    def min_length(self, dim: int = 1) -> int:
        return self.params.min_length(dim)


class EnsembleParams(StrictModel):
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
    seed: StrictInt = Field(0, ge=0, lt=2**31)

    def min_length(self, dim: int = 1) -> int:
        """Mirror of models.forecasting.AnchoredEnsembleAR.min_length (a test checks it)."""
        return ensemble_min_length(self.lags)


def ensemble_min_length(lags: int) -> int:
    return lags + 20


class EnsembleSpec(StrictModel):
    kind: Literal["ensemble"]
    params: EnsembleParams = Field(default_factory=EnsembleParams)

    def min_length(self, dim: int = 1) -> int:
        return self.params.min_length(dim)


class AutoParams(StrictModel):
    bayes_ar: BayesARParams = Field(default_factory=BayesARParams)
    bayes_ar_bma: BayesARBMAParams = Field(default_factory=BayesARBMAParams)
    ensemble: EnsembleParams = Field(default_factory=EnsembleParams)
    val_fraction: FiniteFloat = Field(0.2, gt=0, lt=0.9, description="Validation tail for CRPS")


class AutoSpec(StrictModel):
    kind: Literal["auto"]
    params: AutoParams = Field(default_factory=AutoParams)

    def min_length(self, dim: int = 1) -> int:
        # Every candidate must fit the training part before the validation tail.
        p = self.params
        need = max(
            p.bayes_ar.min_length(dim), p.bayes_ar_bma.min_length(dim), p.ensemble.min_length(dim)
        )
        return int(need / (1 - self.params.val_fraction)) + 1


def _spec_tag(value: Any) -> str:
    if isinstance(value, dict):
        return "stored" if "name" in value else str(value.get("kind", "bayes_ar"))
    return "stored" if isinstance(value, StoredModelRef) else str(getattr(value, "kind", ""))


TrainableSpec = Annotated[
    Annotated[BayesARSpec, Tag("bayes_ar")]
    | Annotated[BayesARBMASpec, Tag("bayes_ar_bma")]
    | Annotated[EnsembleSpec, Tag("ensemble")]
    | Annotated[AutoSpec, Tag("auto")],
    Discriminator(
        _spec_tag,
        custom_error_type="unknown_model_kind",
        custom_error_message="kind must be one of bayes_ar, bayes_ar_bma, ensemble, auto",
    ),
]
ModelSpec = Annotated[
    Annotated[BayesARSpec, Tag("bayes_ar")]
    | Annotated[BayesARBMASpec, Tag("bayes_ar_bma")]
    | Annotated[EnsembleSpec, Tag("ensemble")]
    | Annotated[AutoSpec, Tag("auto")]
    | Annotated[StoredModelRef, Tag("stored")],
    Discriminator(
        _spec_tag,
        custom_error_type="unknown_model_kind",
        custom_error_message="kind must be one of bayes_ar, bayes_ar_bma, ensemble, auto; or "
        "give a stored model's name with its version or alias",
    ),
]
# What `POST /v1/models` trains: a forecaster, or a neural observer for streams.
VersionSpec = Annotated[
    Annotated[BayesARSpec, Tag("bayes_ar")]
    | Annotated[BayesARBMASpec, Tag("bayes_ar_bma")]
    | Annotated[EnsembleSpec, Tag("ensemble")]
    | Annotated[AutoSpec, Tag("auto")]
    | Annotated[ObserverSpec, Tag("observer")],
    Discriminator(
        _spec_tag,
        custom_error_type="unknown_model_kind",
        custom_error_message="kind must be one of bayes_ar, bayes_ar_bma, ensemble, auto, observer",
    ),
]
