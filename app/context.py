"""Ids that belong in every log line of the work in hand: the request, the job, the stream.

Context variables rather than arguments: log calls deep in services and repositories
know nothing of the request, and contextvars follow the work across `await` and into
the thread pool Starlette runs sync handlers on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
job_id: ContextVar[str | None] = ContextVar("job_id", default=None)
stream_id: ContextVar[str | None] = ContextVar("stream_id", default=None)

FIELDS = {"request_id": request_id, "job_id": job_id, "stream_id": stream_id}


def current() -> dict[str, str]:
    """The ids set now (unset ones left out, so log lines carry no nulls)."""
    return {name: value for name, var in FIELDS.items() if (value := var.get()) is not None}


@contextmanager
def bound(**ids: str | None) -> Iterator[None]:
    """Set the given ids (names from FIELDS) for the duration of the block."""
    tokens = [(FIELDS[name], FIELDS[name].set(value)) for name, value in ids.items()]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


@dataclass
class RequestScope:
    """Facts learnt while handling a request that its access log line reports.

    Mutable on purpose: dependencies run in thread-pool copies of the request's context,
    so a variable they set never reaches the middleware, but a shared object does.
    """

    tenant_id: str | None = None


request_scope: ContextVar[RequestScope | None] = ContextVar("request_scope", default=None)


def note_tenant(tenant: str) -> None:
    scope = request_scope.get()
    if scope is not None:
        scope.tenant_id = tenant
