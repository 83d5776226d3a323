"""Model-version schemas: train a version, read versions, move aliases."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, StrictInt

from app.api.schemas.common import StrictModel
from app.api.schemas.forecasts import SeriesIn
from app.api.schemas.model_specs import BayesARSpec, TrainableSpec

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$"


class ModelTrain(StrictModel):
    name: str = Field(pattern=NAME_PATTERN, description="Model name; each training adds a version")
    model: TrainableSpec = Field(default_factory=BayesARSpec)
    series: list[SeriesIn] = Field(min_length=1, max_length=1, description="The training series")
    seed: StrictInt = Field(0, ge=0, lt=2**31)

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


class ModelRead(BaseModel):
    name: str
    latest_version: int
    aliases: dict[str, int]
    versions: list[ModelVersionRead] = Field(default_factory=list)


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
