"""Backtest jobs as the API sees them: a forecast job's limits and submission, with the
held-out tail on top of the model's minimum length. Imports no numerics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from app.config import Settings
from app.db.tables import ForecastResult, Job
from app.queue import Outbox
from app.services import forecasts


def submit(
    session: Session,
    outbox: Outbox,
    settings: Settings,
    *,
    tenant_id: str,
    request: dict[str, Any],
    min_length: Callable[[int], int],
    idempotency_key: str | None,
) -> Job:
    """`folds` origins `horizon` apart are held out at the end of each series: a series must
    be that much longer than the model's minimum."""
    held_out = request["folds"] * request["horizon"]
    job, _ = forecasts.submit(
        session,
        outbox,
        settings,
        tenant_id=tenant_id,
        request=request,
        min_length=lambda d: min_length(d) + held_out,
        idempotency_key=idempotency_key,
        kind="backtest",
        drivers_future=False,
    )
    return job


def get(session: Session, tenant_id: str, backtest_id: str) -> tuple[Job, list[ForecastResult]]:
    return forecasts.get_with_results(session, tenant_id, backtest_id, "backtest")
