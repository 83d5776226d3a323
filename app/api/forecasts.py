"""/v1/forecasts: submit a forecast job, read it with its result."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response
from starlette.concurrency import run_in_threadpool

from app.api.deps import SettingsDep, TenantDep, UowDep
from app.api.errors import ERROR_RESPONSES
from app.api.json_bodies import FastJSONRoute
from app.api.schemas.common import example_response
from app.api.schemas.forecasts import (
    FORECAST_EXAMPLE,
    INPUT_EXAMPLE,
    ForecastCreate,
    ForecastInput,
    ForecastRead,
)
from app.api.schemas.jobs import JOB_EXAMPLE
from app.api.waiting import wait_for_job
from app.db.tables import TERMINAL, Job
from app.services import forecasts as forecast_service
from app.services.errors import InputError
from app.services.posted import gridded

router = APIRouter(prefix="/v1/forecasts", tags=["forecasts"], route_class=FastJSONRoute)


@router.post(
    "",
    status_code=202,
    response_model=ForecastRead,
    responses={
        **example_response(202, {**JOB_EXAMPLE, "status": "queued"}, "Queued"),
        **example_response(200, FORECAST_EXAMPLE, "Finished within ?wait=S; result included"),
        409: {"description": "Idempotency-Key reused with a different body"},
        **ERROR_RESPONSES,
    },
    summary="Submit a forecast job",
)
async def create_forecast(
    body: ForecastCreate,
    response: Response,
    uow: UowDep,
    tenant: TenantDep,
    settings: SettingsDep,
    wait: Annotated[
        float | None, Query(ge=0, description="Seconds to wait for the result (at most 30)")
    ] = None,
    idempotency_key: Annotated[
        str | None, Header(max_length=255, description="Same key and body give the same job")
    ] = None,
) -> ForecastRead:
    """Queue a forecast of each posted series. Answers 202 with the job and a Location
    header; with `?wait=S` answers 200 with the result if the job finishes in time."""
    if wait is not None and wait > settings.max_wait_s:
        raise InputError(
            "wait", f"{wait} is over the limit of {settings.max_wait_s} seconds", source="query"
        )
    request = body.model_dump(mode="json")

    def submit() -> Job:
        job, _ = forecast_service.submit(
            uow.session,
            uow.outbox,
            settings,
            tenant_id=tenant.id,
            request=request,
            min_length=body.model.min_length,
            idempotency_key=idempotency_key,
        )
        uow.commit()
        return job

    job = await run_in_threadpool(submit)
    response.headers["Location"] = f"/v1/forecasts/{job.id}"
    if wait:
        job, results = await wait_for_job(uow, tenant.id, job.id, wait, "forecast")
        if job.status in TERMINAL:
            response.status_code = 200
        return ForecastRead.of(job, results)
    return ForecastRead.of(job)


@router.get(
    "/{forecast_id}",
    response_model=ForecastRead,
    responses={
        **example_response(200, FORECAST_EXAMPLE),
        404: {"description": "No such forecast for this tenant"},
        **ERROR_RESPONSES,
    },
    summary="Read a forecast job and its result",
)
def read_forecast(forecast_id: str, uow: UowDep, tenant: TenantDep) -> ForecastRead:
    job, results = forecast_service.get_with_results(uow.session, tenant.id, forecast_id)
    return ForecastRead.of(job, results)


@router.get(
    "/{forecast_id}/input",
    response_model=ForecastInput,
    responses={
        **example_response(200, INPUT_EXAMPLE),
        404: {"description": "No such forecast for this tenant"},
        **ERROR_RESPONSES,
    },
    summary="The series a forecast was posted with",
)
def read_forecast_input(forecast_id: str, uow: UowDep, tenant: TenantDep) -> ForecastInput:
    """The posted series, so a chart can draw the history before the forecast; a stream
    forecast starts from the stream's analysis and has none."""
    job = forecast_service.get_forecast_job(uow.session, tenant.id, forecast_id)
    series = job.request.get("series", [])
    grids = [gridded(s) for s in series]
    on_grid = [list(g.values) if g else s["values"] for g, s in zip(grids, series, strict=True)]
    times = [g.times if g else None for g in grids]
    return ForecastInput.model_validate({"series": series, "on_grid": on_grid, "grid_times": times})
