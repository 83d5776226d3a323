"""/v1/jobs: history of every job of the tenant, newest first; cancellation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from app.api.deps import TenantDep, UowDep
from app.api.errors import ERROR_RESPONSES
from app.api.schemas.common import example_response
from app.api.schemas.jobs import JOB_EXAMPLE, JOB_LIST_EXAMPLE, JobList, JobRead
from app.db.repositories.jobs import JobFilter
from app.db.tables import JobStatus
from app.services import jobs as job_service

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


@router.get(
    "",
    response_model=JobList,
    responses={**example_response(200, JOB_LIST_EXAMPLE), **ERROR_RESPONSES},
    summary="Job history",
)
def list_jobs(
    uow: UowDep,
    tenant: TenantDep,
    status: JobStatus | None = None,
    kind: Annotated[str | None, Query(max_length=32)] = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> JobList:
    """Newest first. Pass `next_cursor` back as `cursor` for the next page."""
    filters = JobFilter(status, kind, created_after, created_before)
    rows, next_cursor = job_service.page(uow.session, tenant.id, filters, limit, cursor)
    return JobList(items=[JobRead.of(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/{job_id}",
    response_model=JobRead,
    responses={
        **example_response(200, JOB_EXAMPLE),
        404: {"description": "No such job for this tenant"},
        **ERROR_RESPONSES,
    },
    summary="Read one job",
)
def read_job(job_id: str, uow: UowDep, tenant: TenantDep) -> JobRead:
    return JobRead.of(job_service.get(uow.session, tenant.id, job_id))


@router.post(
    "/{job_id}/cancel",
    response_model=JobRead,
    responses={
        **example_response(200, {**JOB_EXAMPLE, "status": "cancelled"}),
        404: {"description": "No such job for this tenant"},
        409: {"description": "The job already succeeded or failed"},
        **ERROR_RESPONSES,
    },
    summary="Cancel a queued or running job",
)
def cancel_job(job_id: str, uow: UowDep, tenant: TenantDep) -> JobRead:
    job = job_service.cancel(uow.session, tenant.id, job_id)
    uow.commit()
    return JobRead.of(job)
