"""Long-polling a job from a request handler (`?wait=S`, a stream's forecast)."""

from __future__ import annotations

import asyncio
import time

from starlette.concurrency import run_in_threadpool

from app.api.deps import UnitOfWork
from app.db.tables import TERMINAL, ForecastResult, Job
from app.services import forecasts as forecast_service

POLL_S = 0.05


async def wait_for_job(
    uow: UnitOfWork, tenant_id: str, job_id: str, wait_s: float, kind: str
) -> tuple[Job, list[ForecastResult]]:
    """Poll the job until it is final or `wait_s` has passed; returns it with any results."""
    deadline = time.monotonic() + wait_s
    while True:
        uow.session.expire_all()
        job, results = await run_in_threadpool(
            forecast_service.get_with_results, uow.session, tenant_id, job_id, kind
        )
        if job.status in TERMINAL or time.monotonic() >= deadline:
            return job, results
        await asyncio.sleep(POLL_S)
