"""GET /metrics: Prometheus text format, for the scraper on the internal network.

Unauthenticated (scrapers carry no tenant key) and left out of the OpenAPI schema; it
reports no tenant data beyond stream ids.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from app.api.deps import SettingsDep
from app.services import metrics

router = APIRouter(tags=["metrics"])


@router.get("/metrics", include_in_schema=False)
def read_metrics(settings: SettingsDep) -> Response:
    # A sync handler: the scrape's database reads run on the thread pool, off the event loop.
    return Response(metrics.scrape(settings), media_type=CONTENT_TYPE_LATEST)
