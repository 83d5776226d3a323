"""/v1/models: train model versions (as jobs), read them, and move aliases."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Response

from app.api.deps import SettingsDep, TenantDep, UowDep
from app.api.errors import ERROR_RESPONSES
from app.api.json_bodies import FastJSONRoute
from app.api.schemas.common import example_response
from app.api.schemas.jobs import JOB_EXAMPLE, JobRead
from app.api.schemas.models import (
    MODEL_EXAMPLE,
    NAME_PATTERN,
    VERSION_EXAMPLE,
    AliasSet,
    ModelList,
    ModelRead,
    ModelTrain,
    ModelVersionRead,
)
from app.services import model_versions as service

router = APIRouter(prefix="/v1/models", tags=["models"], route_class=FastJSONRoute)
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such model, version or alias for this tenant"}
}
Name = Annotated[str, Path(pattern=NAME_PATTERN)]


@router.post(
    "",
    status_code=202,
    response_model=JobRead,
    responses={**example_response(202, {**JOB_EXAMPLE, "kind": "train"}), **ERROR_RESPONSES},
    summary="Train a new version of a model",
)
def train_model(
    body: ModelTrain,
    response: Response,
    uow: UowDep,
    tenant: TenantDep,
    settings: SettingsDep,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> JobRead:
    """Queues a training job; when it succeeds, `GET /v1/models/{name}` lists the new version
    (its number is the previous latest + 1, and that version is recorded as its parent)."""
    job = service.submit_training(
        uow.session,
        uow.outbox,
        settings,
        tenant_id=tenant.id,
        request=body.model_dump(mode="json"),
        min_length=body.min_length,
        idempotency_key=idempotency_key,
    )
    uow.commit()
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return JobRead.of(job)


@router.get(
    "",
    response_model=ModelList,
    responses={
        **example_response(
            200, {"items": [{**MODEL_EXAMPLE, "versions": []}], "next_cursor": None}
        ),
        **ERROR_RESPONSES,
    },
    summary="List models",
)
def list_models(
    uow: UowDep,
    tenant: TenantDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> ModelList:
    views, next_cursor = service.list_models(uow.session, tenant.id, limit, cursor)
    return ModelList(items=[ModelRead.of(v) for v in views], next_cursor=next_cursor)


@router.get(
    "/{name}",
    response_model=ModelRead,
    responses={**example_response(200, MODEL_EXAMPLE), **NOT_FOUND, **ERROR_RESPONSES},
    summary="A model with all its versions and aliases",
)
def read_model(name: Name, uow: UowDep, tenant: TenantDep) -> ModelRead:
    return ModelRead.of(service.get_model(uow.session, tenant.id, name))


@router.get(
    "/{name}/versions/{version}",
    response_model=ModelVersionRead,
    responses={**example_response(200, VERSION_EXAMPLE), **NOT_FOUND, **ERROR_RESPONSES},
    summary="One version of a model",
)
def read_version(
    name: Name, version: Annotated[int, Path(ge=1, lt=2**31)], uow: UowDep, tenant: TenantDep
) -> ModelVersionRead:
    return ModelVersionRead.of(service.get_version(uow.session, tenant.id, name, version))


@router.put(
    "/{name}/aliases/{alias}",
    response_model=ModelRead,
    responses={**example_response(200, MODEL_EXAMPLE), **NOT_FOUND, **ERROR_RESPONSES},
    summary="Point an alias at a version",
)
def set_alias(
    name: Name,
    alias: Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")],
    body: AliasSet,
    uow: UowDep,
    tenant: TenantDep,
) -> ModelRead:
    """Forecasts may then say `"model": {"name": ..., "alias": ...}`."""
    view = service.set_alias(uow.session, tenant.id, name, alias, body.version)
    uow.commit()
    return ModelRead.of(view)
