"""Per-request observability: a request id, one access log line, and the latency histogram.

A plain ASGI middleware (not BaseHTTPMiddleware) so streaming responses pass through
untouched and the hot ingestion path pays for no extra task per request.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from prometheus_client import Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import context

log = logging.getLogger("kalmanac.access")

HEADER = "X-Request-ID"
# An incoming id is kept only if it is short, printable and safe in logs and headers;
# anything else is replaced rather than echoed back.
SANE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
# Requests no route matched (404s, 413s refused before routing) share one label, so a
# scanner probing random paths cannot blow up the metric's cardinality.
UNMATCHED = "<unmatched>"
# Probes and scrapes arrive every few seconds; at INFO they would drown the real traffic.
QUIET_ROUTES = {"/healthz", "/readyz", "/metrics"}

REQUEST_SECONDS = Histogram(
    "kalmanac_http_request_duration_seconds",
    "HTTP request latency by route template, method and status class",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)


def request_id_of(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text: str = value.decode("latin-1")
            if SANE_ID.fullmatch(text):
                return text
            break
    return uuid.uuid4().hex


class RequestObservability:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id_of(scope)
        header = (HEADER.lower().encode(), rid.encode())
        info = context.RequestScope()
        status = 500  # what the client gets if the app raises before responding

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []), header]}
            await send(message)

        started = time.perf_counter()
        id_token = context.request_id.set(rid)
        scope_token = context.request_scope.set(info)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            REQUEST_SECONDS.labels(route, scope["method"], f"{status // 100}xx").observe(seconds)
            fields = {
                "method": scope["method"],
                "route": route,
                "path": scope["path"],
                "status": status,
                "duration_ms": round(seconds * 1e3, 2),
            }
            if info.tenant_id is not None:
                fields["tenant_id"] = info.tenant_id
            level = logging.DEBUG if route in QUIET_ROUTES else logging.INFO
            log.log(level, "%s %s %s", scope["method"], route, status, extra=fields)
            context.request_scope.reset(scope_token)
            context.request_id.reset(id_token)
