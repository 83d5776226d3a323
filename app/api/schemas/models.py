"""Model-version schemas: train a version, read versions, move aliases."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self

from pydantic import BaseModel, Field, StrictInt, model_validator

from app.api.schemas.common import Outliers, StrictModel
from app.api.schemas.model_specs import DefaultSpec, VersionSpec
from app.api.schemas.observers import ObserverSpec
from app.api.schemas.series import SeriesIn
from app.services.model_versions import ModelView, VersionView
from models.forecasting.registry import BY_NAME, KINDS

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$"


class ModelTrain(StrictModel):
    name: str = Field(pattern=NAME_PATTERN, description="Model name; each training adds a version")
    model: VersionSpec = Field(default_factory=DefaultSpec)
    series: list[SeriesIn] | None = Field(
        None,
        min_length=1,
        description="The training series of a forecaster (several for a kind that keeps a "
        "library of series, such as analog: GET /v1/kinds says which); none for an observer "
        "(it trains on "
        "simulations of its dynamics)",
    )
    seed: StrictInt = Field(0, ge=0, lt=2**31)
    outliers: Outliers = "set_aside"

    @model_validator(mode="after")
    def _series_for_forecasters(self) -> ModelTrain:
        observer = isinstance(self.model, ObserverSpec)
        if observer and self.series is not None:
            raise ValueError("series: an observer trains on simulations; give no series")
        if not observer and self.series is None:
            raise ValueError("series: required to train a forecaster")
        kind = getattr(self.model, "kind", "")
        if (
            self.series is not None
            and len(self.series) > 1
            and not (kind in BY_NAME and BY_NAME[kind].library)
        ):
            libraries = ", ".join(k.name for k in KINDS if k.library)
            raise ValueError(
                f"series: {kind} trains on one series; several make a library, for {libraries}"
            )
        if self.series is not None:
            dims = {s.dimension for s in self.series}
            if len(dims) > 1:
                raise ValueError(f"series: a library's series share one dimension, got {dims}")
        return self

    def min_length(self, dim: int = 1) -> int:
        """Shortest training series (an observer takes none)."""
        return 0 if isinstance(self.model, ObserverSpec) else self.model.min_length(dim)

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "name": "demand",
                    "model": {"kind": "ensemble", "params": {"lags": 24, "members": 8}},
                    "series": [{"id": "train", "values": [float(i % 24) for i in range(400)]}],
                }
            ]
        }
    }


class AliasSet(StrictModel):
    version: StrictInt = Field(ge=1, lt=2**31)

    model_config = {"json_schema_extra": {"examples": [{"version": 2}]}}


class ModelVersionRead(BaseModel):
    name: str
    version: int
    kind: str
    params: dict[str, Any]
    data_fingerprint: str = Field(description="sha256 of the training data")
    metrics: dict[str, Any]
    code_version: str
    parent_version: int | None
    job_id: str | None
    artifact_bytes: int = Field(description="Size of the safetensors artifact")
    aliases: list[str]
    created_at: datetime

    @classmethod
    def of(cls, v: VersionView) -> Self:
        m = v.version
        return cls(
            name=m.name,
            version=m.version,
            kind=m.kind,
            params=m.params,
            data_fingerprint=m.data_fingerprint,
            metrics=m.metrics,
            code_version=m.code_version,
            parent_version=v.parent_version,
            job_id=m.job_id,
            artifact_bytes=len(m.artifact or b""),
            aliases=v.aliases,
            created_at=m.created_at,
        )


class ModelRead(BaseModel):
    name: str
    latest_version: int
    aliases: dict[str, int]
    versions: list[ModelVersionRead] = Field(default_factory=list)

    @classmethod
    def of(cls, v: ModelView) -> Self:
        return cls(
            name=v.name,
            latest_version=v.latest_version,
            aliases=v.aliases,
            versions=[ModelVersionRead.of(x) for x in v.versions],
        )


class ModelList(BaseModel):
    items: list[ModelRead]
    next_cursor: str | None


VERSION_EXAMPLE: dict[str, Any] = {
    "name": "demand",
    "version": 2,
    "kind": "ensemble",
    "params": {"lags": 24, "members": 8},
    "data_fingerprint": "9f2c...",
    "metrics": {"val_nll": -0.41, "train_seconds": 12.3, "device": "cpu"},
    "code_version": "0.1.0",
    "parent_version": 1,
    "job_id": "5f0c3c1e-8a51-4d3b-9a57-0f1e2d3c4b5a",
    "artifact_bytes": 215040,
    "aliases": ["production"],
    "created_at": "2026-11-27T12:00:00Z",
}
MODEL_EXAMPLE: dict[str, Any] = {
    "name": "demand",
    "latest_version": 2,
    "aliases": {"production": 2},
    "versions": [VERSION_EXAMPLE],
}
