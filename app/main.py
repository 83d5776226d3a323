"""create_app(): routers, middleware, error handlers, and (in dev mode) the embedded worker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool

from app.api import errors, ratelimit, web
from app.api.deps import known_query_only
from app.api.limits import BodySizeLimit, RejectNul
from app.api.observability import RequestObservability
from app.api.router import api_router
from app.config import Settings, get_settings
from app.db.repositories import health
from app.gc_freeze import freeze_long_lived
from app.logs import configure_logging
from app.version import code_version

DESCRIPTION = """
Forecasts with epistemic and aleatoric uncertainty reported apart, as asynchronous jobs.

Authenticate with `Authorization: Bearer <key>` (keys: `kalmanac keys create --tenant NAME`).
Every 4xx body is `{"error": code, "detail": [{"loc", "field", "msg", "type"}]}`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker = None
        if settings.run_embedded_worker:
            # Imported here, in this mode only: the API itself never depends on worker code
            # (the import contracts state this one exception).
            from workers.embedded import EmbeddedWorker

            worker = EmbeddedWorker()
            worker.start()
        # A process's first requests paid one-off costs that showed on the first stream after
        # a start (~0.1 s of CPU per server process): FastAPI builds each route's state on
        # first use (building the schema does it now), and the engine, its driver's import
        # and a first pooled connection. A database down now is /readyz's to report.
        app.openapi()
        await run_in_threadpool(health.database_status, settings.database_url)
        # Everything loaded so far lives as long as the process: moved out of the collector's
        # generations, a full collection no longer walks it (pauses that showed in p99).
        freeze_long_lived()
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()

    app = FastAPI(
        title="Kalmanac",
        version=code_version(),
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by app.api.web from local assets instead of a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.rate_limiter = ratelimit.from_settings(settings)
    errors.install(app)
    app.include_router(api_router, dependencies=[Depends(known_query_only)])
    web.install(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RejectNul)
    # Added last, so outermost: its request id and timing cover every other layer.
    app.add_middleware(RequestObservability)
    return app
