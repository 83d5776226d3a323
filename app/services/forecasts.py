"""Forecast and backtest jobs as the API sees them: limits, submission, reading results.

Imports no numerics, so the API process stays free of numpy/torch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from app.config import Settings
from app.db.repositories import forecast_results
from app.db.tables import ForecastResult, Job
from app.queue import Outbox, Queue, queue_for
from app.services import jobs as job_service
from app.services import model_versions
from app.services.errors import InputError, NotFound
from app.services.posted import (
    as_modelled,
    check_drivers,
    check_kind_takes_drivers,
    check_version_drivers,
)


def check_limits(
    request: dict[str, Any],
    settings: Settings,
    min_length: Callable[[int], int],
    series: list[dict[str, Any]],
) -> None:
    """Limits that are settings (and so not in the static schema); `series` as modelled."""
    if len(series) > settings.max_series:
        raise InputError("series", f"{len(series)} series; the limit is {settings.max_series}")
    if request["horizon"] > settings.max_horizon:
        raise InputError(
            "horizon", f"{request['horizon']} is over the limit of {settings.max_horizon}"
        )
    if request["num_samples"] > settings.max_num_samples:
        raise InputError(
            "num_samples", f"{request['num_samples']} is over the limit {settings.max_num_samples}"
        )
    for i, s in enumerate(series):
        values = s["values"]
        d = len(values[0]) if isinstance(values[0], list) else 1
        where = f"series.{i}.values"
        if len(values) > settings.max_series_length:
            raise InputError(
                where, f"{len(values)} points; the limit is {settings.max_series_length}"
            )
        if d > settings.max_dimensions:
            raise InputError(where, f"{d} dimensions; the limit is {settings.max_dimensions}")
        if request.get("return_samples"):
            size = request["num_samples"] * request["horizon"] * d
            if size > settings.max_sample_values:
                raise InputError(
                    "return_samples",
                    f"num_samples*horizon*d = {size} values per series; the limit is "
                    f"{settings.max_sample_values}",
                )
    model_versions.check_series_length(series, min_length)


def _model_and_queue(
    session: Session,
    tenant_id: str,
    request: dict[str, Any],
    min_length: Callable[[int], int],
    series: list[dict[str, Any]],
) -> tuple[dict[str, Any], Queue]:
    """Resolve a stored-model reference now, so the job records exactly which version ran;
    check that each series (as modelled) can be calibrated when conformal intervals are asked
    for."""
    model = request["model"]
    if "name" in model:
        version = model_versions.resolve(session, tenant_id, model)
        check_version_drivers(series, version.metrics.get("drivers", []))
        context = int(version.metrics.get("min_context", 1))
        model_versions.check_series_length(series, lambda _d: context)
        model, queue = model_versions.stored_spec(version), queue_for(version.kind)
        min_length = lambda _d: context  # noqa: E731  # the version's window, known exactly
    else:
        queue = queue_for(model["kind"])
    if request.get("calibration") == "conformal":
        # Folds forecast `horizon` steps from origins after the model's window, one apart.
        extra = request["horizon"] + request["calibration_folds"]
        model_versions.check_series_length(
            series,
            lambda d: min_length(d) + extra,
            purpose="to calibrate: the model's window, then horizon + calibration_folds",
        )
    return model, queue


def submit(
    session: Session,
    outbox: Outbox,
    settings: Settings,
    *,
    tenant_id: str,
    request: dict[str, Any],
    min_length: Callable[[int], int],
    idempotency_key: str | None,
    kind: str = "forecast",
    drivers_future: bool = True,
) -> tuple[Job, bool]:
    """Check and enqueue; drivers_future: whether the covariates' future must be posted (a
    backtest's folds take theirs from the history instead)."""
    series = as_modelled(request["series"], settings.max_series_length)
    check_kind_takes_drivers(series, request["model"])
    if drivers_future:
        check_drivers(series, request["horizon"])
    check_limits(request, settings, min_length, series)
    model, queue = _model_and_queue(session, tenant_id, request, min_length, series)
    return job_service.submit(
        session,
        outbox,
        tenant_id=tenant_id,
        kind=kind,
        queue=queue,
        request=request,
        model=model,
        seed=request["seed"],
        idempotency_key=idempotency_key,
        max_active_jobs=settings.max_active_jobs,
    )


# The job kinds whose results are forecasts (what /v1/forecasts/{id} answers for).
FORECAST_KINDS = ("forecast", "stream_forecast")


def get_forecast_job(session: Session, tenant_id: str, job_id: str) -> Job:
    """A forecast job of the tenant; a job of another kind is NotFound here, as on any
    resource's route (a backtest is at /v1/backtests, a training at /v1/jobs)."""
    job = job_service.get(session, tenant_id, job_id)
    if job.kind not in FORECAST_KINDS:
        raise NotFound(f"forecast {job_id}")
    return job


def get_with_results(
    session: Session, tenant_id: str, job_id: str, kind: str | None = None
) -> tuple[Job, list[ForecastResult]]:
    """The job (of `kind`, or any forecast kind) with its result rows once it succeeded."""
    if kind is None:
        job = get_forecast_job(session, tenant_id, job_id)
    else:
        job = job_service.get(session, tenant_id, job_id, kind=kind)
    results = forecast_results.list_for_job(session, job.id) if job.status == "succeeded" else []
    return job, results
