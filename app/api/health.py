"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from app.api.deps import SettingsDep
from app.api.schemas.common import example_response
from app.config import Settings
from app.db.repositories import health
from app.queue import producer

router = APIRouter(tags=["health"])


@router.get(
    "/healthz", summary="The process is up", responses=example_response(200, {"status": "ok"})
)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _check_broker(settings: Settings) -> str:
    try:
        with producer(settings.broker_url).connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return "ok"
    except Exception as exc:
        return f"unreachable: {type(exc).__name__}"


@router.get(
    "/readyz",
    summary="The database and the broker are reachable",
    responses={
        **example_response(200, {"ready": True, "checks": {"database": "ok", "broker": "ok"}}),
        503: {"description": "A dependency is unreachable"},
    },
)
async def readyz(settings: SettingsDep) -> JSONResponse:
    checks = {
        "database": await run_in_threadpool(health.database_status, settings.database_url),
        "broker": await run_in_threadpool(_check_broker, settings),
    }
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)
