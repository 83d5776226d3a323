"""Every router, collected in one place."""

from fastapi import APIRouter

from app.api import backtests, forecasts, health, jobs, kinds, metrics, models, plots, streams

api_router = APIRouter()
api_router.include_router(health.router)
api_router.include_router(metrics.router)
api_router.include_router(forecasts.router)
api_router.include_router(jobs.router)
api_router.include_router(streams.router)
api_router.include_router(models.router)
api_router.include_router(kinds.router)
api_router.include_router(backtests.router)
api_router.include_router(plots.router)
