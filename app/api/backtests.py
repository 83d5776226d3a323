"""/v1/backtests: rolling-origin evaluation of a model on posted series, as a job."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response

from app.api.deps import SettingsDep, TenantDep, UowDep
from app.api.errors import ERROR_RESPONSES
from app.api.json_bodies import FastJSONRoute
from app.api.schemas.backtests import (
    BACKTEST_EXAMPLE,
    BacktestCreate,
    BacktestRead,
)
from app.api.schemas.common import example_response
from app.api.schemas.jobs import JOB_EXAMPLE
from app.services import backtests as backtest_service

router = APIRouter(prefix="/v1/backtests", tags=["backtests"], route_class=FastJSONRoute)


@router.post(
    "",
    status_code=202,
    response_model=BacktestRead,
    responses={
        **example_response(202, {**JOB_EXAMPLE, "kind": "backtest", "status": "queued"}),
        **ERROR_RESPONSES,
    },
    summary="Run a rolling-origin backtest",
)
def create_backtest(
    body: BacktestCreate,
    response: Response,
    uow: UowDep,
    tenant: TenantDep,
    settings: SettingsDep,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> BacktestRead:
    """`folds` origins `horizon` apart at the end of each series; at each a fresh model is
    fitted on the data before it and scored on the next `horizon` points. A series' drivers
    need no `future`: each fold takes their values over its horizon as the known future."""
    job = backtest_service.submit(
        uow.session,
        uow.outbox,
        settings,
        tenant_id=tenant.id,
        request=body.model_dump(mode="json"),
        min_length=body.model.min_length,
        idempotency_key=idempotency_key,
    )
    uow.commit()
    response.headers["Location"] = f"/v1/backtests/{job.id}"
    return BacktestRead.of(job)


@router.get(
    "/{backtest_id}",
    response_model=BacktestRead,
    responses={
        **example_response(200, BACKTEST_EXAMPLE),
        404: {"description": "No such backtest for this tenant"},
        **ERROR_RESPONSES,
    },
    summary="Read a backtest and its metrics",
)
def read_backtest(backtest_id: str, uow: UowDep, tenant: TenantDep) -> BacktestRead:
    job, results = backtest_service.get(uow.session, tenant.id, backtest_id)
    return BacktestRead.of(job, results)
