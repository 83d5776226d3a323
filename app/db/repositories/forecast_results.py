"""Forecast result rows, one per series of a job."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.db.tables import ForecastResult


def replace_for_job(
    session: Session, job_id: str, series: list[tuple[str, dict[str, Any]]]
) -> None:
    """Write a job's results; a redelivered task replaces rather than duplicates them."""
    session.execute(delete(ForecastResult).where(ForecastResult.job_id == job_id))
    session.add_all(
        ForecastResult(job_id=job_id, series_index=i, series_id=sid, payload=payload)
        for i, (sid, payload) in enumerate(series)
    )
    session.flush()


def list_for_job(session: Session, job_id: str) -> list[ForecastResult]:
    return list(
        session.scalars(
            select(ForecastResult)
            .where(ForecastResult.job_id == job_id)
            .order_by(ForecastResult.series_index)
        )
    )
