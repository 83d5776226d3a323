"""/v1/streams: online data assimilation sessions, their observations and analyses."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from app.api.deps import SettingsDep, TenantDep, UowDep
from app.api.errors import ERROR_RESPONSES
from app.api.json_bodies import FastJSONRoute
from app.api.schemas.common import example_response
from app.api.schemas.forecasts import FORECAST_EXAMPLE, ForecastRead
from app.api.schemas.stream_specs import StreamCreate
from app.api.schemas.streams import (
    ANALYSES_EXAMPLE,
    OBSERVATIONS_EXAMPLE,
    STREAM_EXAMPLE,
    AnalysisList,
    AnalysisRead,
    ObservationBatch,
    ObservationList,
    ObservationRead,
    ObservationsAccepted,
    SensorRead,
    StreamHealth,
    StreamList,
    StreamRead,
    StreamReset,
)
from app.api.waiting import wait_for_job
from app.db.session import get_sessionmaker
from app.db.tables import TERMINAL
from app.services import streams as stream_service
from app.services.errors import InputError

router = APIRouter(prefix="/v1/streams", tags=["streams"], route_class=FastJSONRoute)
# Query strings are text, so these parse numbers from it (the JSON bodies stay strict).
QueryLevel = Annotated[float, Field(gt=0, lt=100, allow_inf_nan=False)]
QueryQuantile = Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such stream for this tenant"}
}
SSE_POLL_S = 0.2
MAX_SEQ = 2**62  # as in ObservationIn.seq; keeps numbers inside a BIGINT
SSE_HEARTBEAT_S = 15.0


def seq_position(
    cursor: Annotated[
        str | None, Query(max_length=20, description="`next_cursor` of the previous page")
    ] = None,
    after_seq: Annotated[
        int | None,
        Query(ge=0, lt=MAX_SEQ, description="Alias of `cursor`: the last seq already seen"),
    ] = None,
) -> int:
    """Where a seq-ordered list resumes: after the seq a cursor names (0: from the start)."""
    if cursor is None:
        return after_seq or 0
    if not cursor.isdigit() or int(cursor) >= MAX_SEQ:
        raise InputError(
            "cursor", f"{cursor!r} is not a cursor of this list (a seq number)", source="query"
        )
    if after_seq is not None and after_seq != int(cursor):
        raise InputError("after_seq", "differs from cursor; give one of the two", source="query")
    return int(cursor)


AfterSeq = Annotated[int, Depends(seq_position)]


@router.post(
    "",
    status_code=201,
    response_model=StreamRead,
    responses={**example_response(201, STREAM_EXAMPLE, "Created"), **ERROR_RESPONSES},
    summary="Open a stream",
)
def create_stream(
    body: StreamCreate, response: Response, uow: UowDep, tenant: TenantDep, settings: SettingsDep
) -> StreamRead:
    """Open an assimilation session: dynamics, observation operator and filter. The initial
    ensemble is drawn by a worker right after; observations may be posted at once."""
    stream = stream_service.create(
        uow.session,
        uow.outbox,
        settings,
        tenant_id=tenant.id,
        config=body.model_dump(mode="json"),
        state_dim=body.state_dim,
        obs_dim=body.obs_dim,
    )
    uow.commit()
    response.headers["Location"] = f"/v1/streams/{stream.id}"
    return StreamRead.of(stream_service.StreamView(stream, 0, []))


@router.get(
    "",
    response_model=StreamList,
    responses={
        **example_response(200, {"items": [STREAM_EXAMPLE], "next_cursor": None}),
        **ERROR_RESPONSES,
    },
    summary="List streams",
)
def list_streams(
    uow: UowDep,
    tenant: TenantDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> StreamList:
    views, next_cursor = stream_service.page(uow.session, tenant.id, limit, cursor)
    return StreamList(items=[StreamRead.of(v) for v in views], next_cursor=next_cursor)


@router.get(
    "/{stream_id}",
    response_model=StreamRead,
    responses={**example_response(200, STREAM_EXAMPLE), **NOT_FOUND, **ERROR_RESPONSES},
    summary="Read a stream's current state",
)
def read_stream(stream_id: str, uow: UowDep, tenant: TenantDep) -> StreamRead:
    return StreamRead.of(stream_service.view(uow.session, tenant.id, stream_id))


@router.post(
    "/{stream_id}/observations",
    status_code=202,
    response_model=ObservationsAccepted,
    responses={
        **example_response(202, {"accepted": 1, "duplicates": 0, "pending": 1, "last_seq": 0}),
        **NOT_FOUND,
        409: {"description": "The stream is closed"},
        **ERROR_RESPONSES,
    },
    summary="Push observations",
)
def post_observations(
    stream_id: str, body: ObservationBatch, uow: UowDep, tenant: TenantDep, settings: SettingsDep
) -> ObservationsAccepted:
    """Commit observations (idempotent on `seq`) and assimilate them in `seq` order. A
    missing `seq` is awaited for the stream's `gap_timeout_s`, then skipped and recorded."""
    result = stream_service.ingest(
        uow.session,
        uow.outbox,
        settings,
        tenant_id=tenant.id,
        stream_id=stream_id,
        observations=body.model_dump()["observations"],  # one dump, not one per observation
    )
    uow.commit()
    return ObservationsAccepted.model_validate(result, from_attributes=True)


@router.get(
    "/{stream_id}/analyses",
    response_model=AnalysisList,
    responses={**example_response(200, ANALYSES_EXAMPLE), **NOT_FOUND, **ERROR_RESPONSES},
    summary="Analyses in seq order",
)
def list_analyses(
    stream_id: str,
    uow: UowDep,
    tenant: TenantDep,
    after_seq: AfterSeq,
    limit: Annotated[int, Query(ge=1, le=5000)] = 100,
) -> AnalysisList:
    rows, next_cursor = stream_service.analyses(uow.session, tenant.id, stream_id, after_seq, limit)
    return AnalysisList(
        items=[AnalysisRead.of(r) for r in rows],
        next_cursor=next_cursor,
    )


@router.get(
    "/{stream_id}/observations",
    response_model=ObservationList,
    responses={**example_response(200, OBSERVATIONS_EXAMPLE), **NOT_FOUND, **ERROR_RESPONSES},
    summary="Observations in seq order",
)
def list_observations(
    stream_id: str,
    uow: UowDep,
    tenant: TenantDep,
    after_seq: AfterSeq,
    limit: Annotated[int, Query(ge=1, le=5000)] = 100,
) -> ObservationList:
    """As posted, with what became of each (charts draw them against the analyses)."""
    rows, next_cursor = stream_service.observations(
        uow.session, tenant.id, stream_id, after_seq, limit
    )
    return ObservationList(
        items=[ObservationRead.of(r) for r in rows],
        next_cursor=next_cursor,
    )


@router.get(
    "/{stream_id}/forecast",
    response_model=ForecastRead,
    responses={**example_response(200, FORECAST_EXAMPLE), **NOT_FOUND, **ERROR_RESPONSES},
    summary="Ensemble forecast from the latest analysis",
)
async def stream_forecast(
    stream_id: str,
    response: Response,
    uow: UowDep,
    tenant: TenantDep,
    settings: SettingsDep,
    horizon: Annotated[int, Query(ge=1, description="Steps of the stream's dt")] = 20,
    levels: Annotated[list[QueryLevel] | None, Query(max_length=20)] = None,
    quantiles: Annotated[list[QueryQuantile] | None, Query(max_length=99)] = None,
) -> ForecastRead:
    """Integrates every ensemble member `horizon` steps of `dt` from the latest analysis.
    The spread of the members is epistemic (state uncertainty); the dynamics add no noise,
    so the aleatoric part is zero. With model dynamics (a learned surrogate) the forecast is of
    the series, steps of 1, and its aleatoric part is the model's noise. Runs as a job: 200
    with the result when it finishes within KALMANAC_MAX_WAIT_S, otherwise 202 with the job
    to poll at /v1/forecasts/{id}."""
    if horizon > settings.max_horizon:
        raise InputError(
            "horizon", f"{horizon} is over the limit of {settings.max_horizon}", source="query"
        )
    request = {
        "horizon": horizon,
        "levels": sorted(set(levels or [80, 95])),
        "quantiles": sorted(set(quantiles or [])),
    }

    def submit() -> str:
        job = stream_service.submit_forecast(
            uow.session,
            uow.outbox,
            tenant_id=tenant.id,
            stream_id=stream_id,
            request=request,
            max_active_jobs=settings.max_active_jobs,
        )
        uow.commit()
        return str(job.id)

    job_id = await run_in_threadpool(submit)
    response.headers["Location"] = f"/v1/forecasts/{job_id}"
    job, results = await wait_for_job(
        uow, tenant.id, job_id, settings.max_wait_s, "stream_forecast"
    )
    response.status_code = 200 if job.status in TERMINAL else 202
    return ForecastRead.of(job, results)


@router.delete(
    "/{stream_id}",
    response_model=StreamRead,
    responses={
        **example_response(200, {**STREAM_EXAMPLE, "status": "closed"}),
        **NOT_FOUND,
        **ERROR_RESPONSES,
    },
    summary="Close a stream (its history stays queryable)",
)
def close_stream(stream_id: str, uow: UowDep, tenant: TenantDep) -> StreamRead:
    stream_service.close(uow.session, tenant.id, stream_id)
    uow.commit()
    return StreamRead.of(stream_service.view(uow.session, tenant.id, stream_id))


_NO_RESET_BODY = Body(default_factory=StreamReset)  # a reset may come without a body


@router.post(
    "/{stream_id}/reset",
    response_model=StreamRead,
    responses={
        **example_response(200, STREAM_EXAMPLE),
        **NOT_FOUND,
        409: {"description": "The stream is closed"},
        **ERROR_RESPONSES,
    },
    summary="Redraw a stream's ensemble (after it diverged)",
)
def reset_stream(
    stream_id: str, uow: UowDep, tenant: TenantDep, body: StreamReset = _NO_RESET_BODY
) -> StreamRead:
    """Draws a new ensemble at the stream's current time, around `initial` (what it leaves
    out: the stream's own initial mean and std); observations still pending are assimilated
    from it. A stream with model dynamics restarts from the latest values: `initial.series`
    (the series up to the stream's time) or `initial.mean` (a window), exactly one.
    For a stream whose `health` is failing: its ensemble overflowed and cannot recover."""
    initial = body.initial
    stream_service.reset(
        uow.session,
        uow.outbox,
        tenant_id=tenant.id,
        stream_id=stream_id,
        initial=None if initial is None else initial.model_dump(mode="json", exclude_unset=True),
    )
    uow.commit()
    return StreamRead.of(stream_service.view(uow.session, tenant.id, stream_id))


@router.get(
    "/{stream_id}/events",
    responses={
        200: {
            "description": "Server-sent events: one `analysis` event per new analysis",
            "content": {
                "text/event-stream": {
                    "example": 'id: 1\nevent: analysis\ndata: {"seq": 1, "t": 0.05, ...}\n\n'
                }
            },
        },
        **NOT_FOUND,
        **ERROR_RESPONSES,
    },
    summary="Live feed of analyses (server-sent events)",
)
def stream_events(
    stream_id: str,
    request: Request,
    uow: UowDep,
    tenant: TenantDep,
    settings: SettingsDep,
    after_seq: AfterSeq,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Pushes each new analysis as `event: analysis` with the seq as its id (reconnect with
    `Last-Event-ID` to resume), `event: sensor` with a sensor's health whenever its status
    changes (every sensor not `ok` once at the start), and `event: health` with the stream's
    `health` whenever its status changes (once at the start when failing). Ends when the
    stream is closed and fully assimilated."""
    stream_service.get(uow.session, tenant.id, stream_id)
    resume = last_event_id.isdigit() and int(last_event_id) < MAX_SEQ if last_event_id else False
    start = int(last_event_id) if resume and last_event_id else after_seq
    factory = get_sessionmaker(settings.database_url)
    tenant_id = tenant.id

    def poll(after: int) -> tuple[list[AnalysisRead], list[SensorRead], StreamHealth, bool]:
        with factory() as session:
            rows, _ = stream_service.analyses(session, tenant_id, stream_id, after, 500)
            view = stream_service.view(session, tenant_id, stream_id)
            s = view.stream
            done = s.status == "closed" and view.pending == 0 and not rows
            sensors = [SensorRead.model_validate(d) for d in s.sensors or []]
            health = StreamHealth.of(s.id, s.failing_since, s.n_failing)
            return [AnalysisRead.of(r) for r in rows], sensors, health, done

    async def events() -> AsyncIterator[str]:
        after, quiet_since = start, time.monotonic()
        statuses: dict[int, str] = {}  # as last told; an unseen sensor is taken as ok
        told = "ok"  # the stream's health status as last told
        while not await request.is_disconnected():
            items, sensors, health, done = await run_in_threadpool(poll, after)
            for item in items:
                yield f"id: {item.seq}\nevent: analysis\ndata: {item.model_dump_json()}\n\n"
                after, quiet_since = item.seq, time.monotonic()
            for sensor in sensors:
                if sensor.status != statuses.get(sensor.index, "ok"):
                    statuses[sensor.index] = sensor.status
                    yield f"event: sensor\ndata: {sensor.model_dump_json()}\n\n"
            if health.status != told:  # a failing stream has no analyses to push: say why
                told = health.status
                yield f"event: health\ndata: {health.model_dump_json()}\n\n"
            if done:
                yield "event: closed\ndata: {}\n\n"
                return
            if time.monotonic() - quiet_since > SSE_HEARTBEAT_S:
                yield ": keep-alive\n\n"
                quiet_since = time.monotonic()
            await asyncio.sleep(SSE_POLL_S)

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )
