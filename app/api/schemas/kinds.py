"""What can be asked for: the forecaster kinds (from the registry) and their parameters."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from app.api.schemas.model_specs import AUTO_KINDS, PARAMS, AutoParams, AutoSpec
from models.forecasting.registry import AUTO, BY_NAME, DEFAULT_KIND, KINDS, KindInfo, accelerated


class KindRead(BaseModel):
    name: str = Field(description='What "kind" takes in a model spec')
    summary: str
    default: bool = Field(description="Used when a request names no model")
    accelerated: bool = Field(description="A neural model: runs on a GPU worker where present")
    reports_progress: bool = Field(description="Its jobs report progress as they fit")
    surrogate: bool = Field(description="A stored version can be a stream's dynamics")
    auto: bool = Field(description='A candidate of "auto"')
    candidates: list[str] | None = Field(None, description='"auto" only: what it picks among')
    params: dict[str, Any] = Field(description="JSON schema of its params")

    @classmethod
    def of(cls, info: KindInfo) -> KindRead:
        return cls(
            **info.describe(),
            default=info.name == DEFAULT_KIND,
            params=PARAMS[info.name].model_json_schema(),
        )

    @classmethod
    def auto_kind(cls) -> KindRead:
        return cls(
            name=AUTO,
            summary=" ".join((AutoSpec.__doc__ or "").split()),
            default=False,
            accelerated=accelerated(AUTO),
            reports_progress=True,
            surrogate=False,
            auto=False,
            candidates=list(AUTO_KINDS),
            params=AutoParams.model_json_schema(),
        )


class KindList(BaseModel):
    items: list[KindRead]

    @classmethod
    def of_registry(cls) -> KindList:
        return cls(items=[*(KindRead.of(info) for info in KINDS), KindRead.auto_kind()])


KINDS_EXAMPLE: dict[str, Any] = {
    "items": [
        {
            "name": DEFAULT_KIND,
            "summary": BY_NAME[DEFAULT_KIND].summary,
            "default": True,
            "accelerated": False,
            "reports_progress": False,
            "surrogate": True,
            "auto": True,
            "candidates": None,
            "params": {"title": "BayesARParams", "type": "object", "properties": {}},
        }
    ]
}
