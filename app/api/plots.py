"""PNG plots of a forecast and of a stream, with the same auth and tenant isolation as JSON."""

from __future__ import annotations

from types import ModuleType
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from starlette.concurrency import run_in_threadpool

from app.api.deps import TenantDep, UowDep
from app.api.errors import ERROR_RESPONSES
from app.gc_freeze import freeze_new_modules
from app.services import forecasts as forecast_service
from app.services import streams as stream_service
from app.services.errors import Conflict, InputError
from app.services.stream_config import StreamConfig

router = APIRouter(tags=["plots"])

MAX_POINTS = 2000  # the newest analyses a stream plot shows; older ones are left off
PNG_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A PNG image",
        "content": {"image/png": {"example": "(binary PNG data)"}},
    }
}
Component = Annotated[int, Query(ge=0, lt=4096, description="State/series component")]


def _png(data: bytes) -> Response:
    return Response(data, media_type="image/png", headers={"Cache-Control": "no-store"})


def _width(steps: list[Any]) -> int:
    return len(steps[0]) if steps and isinstance(steps[0], list) else 1


def _plotting() -> ModuleType:
    """The plotting service, imported on a plot request only (the contract's one exception).
    Its first import loads matplotlib (~50,000 objects, kept for the process's life), which
    is then frozen out of the cycle collector as start-up's imports were."""
    from app.services import plots

    freeze_new_modules()
    return plots


@router.get(
    "/v1/forecasts/{forecast_id}/plot.png",
    response_class=Response,
    responses={
        **PNG_RESPONSE,
        404: {"description": "No such forecast for this tenant"},
        409: {"description": "The forecast has not succeeded (yet)"},
        **ERROR_RESPONSES,
    },
    summary="Fan chart of a forecast (PNG)",
)
async def forecast_plot(
    forecast_id: str,
    uow: UowDep,
    tenant: TenantDep,
    series: Annotated[str | None, Query(max_length=255, description="Series id")] = None,
    component: Component = 0,
) -> Response:
    """History (when the job was posted one), mean, central intervals, and below it the
    predictive std split into its epistemic and aleatoric parts."""
    job, results = await run_in_threadpool(
        forecast_service.get_with_results, uow.session, tenant.id, forecast_id
    )
    if job.status != "succeeded":
        raise Conflict(f"forecast {forecast_id} is {job.status}; there is nothing to plot")
    by_id = {r.series_id: r for r in results}
    chosen = by_id.get(series) if series is not None else (results[0] if results else None)
    if chosen is None:
        raise InputError("series", f"no series {series!r} in this forecast", source="query")
    forecast = {"id": chosen.series_id, **chosen.payload}
    if component >= _width(forecast["mean"]):
        raise InputError(
            "component", f"{component} is outside the series' dimensions", source="query"
        )
    posted = {s["id"]: s["values"] for s in job.request.get("series", [])}
    history = posted.get(chosen.series_id)
    plots = _plotting()
    png = await run_in_threadpool(plots.forecast_png, forecast, history, component)
    return _png(png)


@router.get(
    "/v1/streams/{stream_id}/plot.png",
    response_class=Response,
    responses={**PNG_RESPONSE, 404: {"description": "No such stream"}, **ERROR_RESPONSES},
    summary="Analysis mean ± spread of a stream (PNG)",
)
async def stream_plot(
    stream_id: str, uow: UowDep, tenant: TenantDep, component: Component = 0
) -> Response:
    """One state component over the newest 2000 analyses: mean, ±1 and ±2 spread bands, and
    the observations of that component when it is observed."""
    hist = await run_in_threadpool(
        stream_service.history, uow.session, tenant.id, stream_id, MAX_POINTS
    )
    stream = hist.stream
    if component >= stream.state_dim:
        raise InputError(
            "component", f"{component} is outside the state (n={stream.state_dim})", source="query"
        )
    indices = StreamConfig.parse(stream.config).observation.indices
    position = component if indices is None else _index(indices, component)
    analyses = [(a.t, a.mean[component], a.spread[component]) for a in hist.analyses]
    plots = _plotting()
    observed = None
    if position is not None:
        obs = hist.observations
        observed = plots.Observed([o.t for o in obs], [o.values[position] for o in obs])
    title = stream.name or stream.id[:8]
    return _png(await run_in_threadpool(plots.stream_png, analyses, observed, component, title))


def _index(indices: tuple[int, ...], component: int) -> int | None:
    return indices.index(component) if component in indices else None
