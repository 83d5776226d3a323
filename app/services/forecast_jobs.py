"""Forecast jobs as the API sees them: limits, submission, reading results.

Imports no numerics, so the API process stays free of numpy/torch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from app.config import Settings
from app.db.repositories import forecast_results
from app.db.tables import ForecastResult, Job
from app.queue import Outbox
from app.services import jobs as job_service
from app.services.errors import InputError

TASK = "forecast.run"
QUEUE_OF_KIND = {"bayes_ar": "cpu"}


def check_limits(
    request: dict[str, Any], settings: Settings, min_length: Callable[[int], int]
) -> None:
    """Limits that are settings (and so not in the static schema)."""
    series = request["series"]
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
        if len(values) < min_length(d):
            raise InputError(
                where,
                f"{len(values)} points is too short for this model; it needs at least "
                f"{min_length(d)}",
            )
        if d > settings.max_dimensions:
            raise InputError(where, f"{d} dimensions; the limit is {settings.max_dimensions}")
        if request["return_samples"]:
            size = request["num_samples"] * request["horizon"] * d
            if size > settings.max_sample_values:
                raise InputError(
                    "return_samples",
                    f"num_samples*horizon*d = {size} values per series; the limit is "
                    f"{settings.max_sample_values}",
                )


def submit(
    session: Session,
    outbox: Outbox,
    settings: Settings,
    *,
    tenant_id: str,
    request: dict[str, Any],
    min_length: Callable[[int], int],
    idempotency_key: str | None,
) -> tuple[Job, bool]:
    check_limits(request, settings, min_length)
    model = request["model"]
    return job_service.submit(
        session,
        outbox,
        tenant_id=tenant_id,
        kind="forecast",
        task=TASK,
        queue=QUEUE_OF_KIND[model["kind"]],
        request=request,
        model=model,
        seed=request["seed"],
        idempotency_key=idempotency_key,
    )


def get_with_results(
    session: Session, tenant_id: str, job_id: str, kind: str | None = None
) -> tuple[Job, list[ForecastResult]]:
    job = job_service.get(session, tenant_id, job_id, kind=kind)
    results = forecast_results.list_for_job(session, job.id) if job.status == "succeeded" else []
    return job, results
