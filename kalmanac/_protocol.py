"""The sans-I/O core shared by the sync and async clients.

Every operation is a generator that yields what it needs done (`Call`: one HTTP exchange,
`Sleep`: a pause) and is sent back the result (a `Reply`, or the transport's exception).
The sync client drives it with `httpx.Client` and `time.sleep`, the async one with
`httpx.AsyncClient` and `asyncio.sleep`; request building, retries, polling and response
parsing exist once, here and in `_ops` (`_stream_ops`).
"""

from __future__ import annotations

import random
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from kalmanac.errors import KalmanacError

T = TypeVar("T")

RETRY_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class Call:
    """One HTTP request. `idempotent`: safe to resend after a connection error that may
    have reached the server (GET, PUT, DELETE, or a POST carrying an Idempotency-Key)."""

    method: str
    path: str
    params: dict[str, Any] | None = None
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    extra_timeout: float = 0.0  # added to the read timeout, e.g. for a `?wait=` long-poll
    idempotent: bool = True


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, or the text when it is not JSON

    @property
    def request_id(self) -> str | None:
        return self.headers.get("x-request-id")


Step = Call | Sleep
# What the driver sends back: a Reply for a Call, the transport's exception when the
# exchange failed, None after a Sleep.
Outcome = Reply | BaseException | None
Op = Generator[Step, Outcome, T]


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with jitter for 429, 503 and connection errors.

    Attempt k waits a uniform draw in [d/2, d] with d = min(max_delay, backoff * 2**k)
    ("equal jitter", so many clients refused together do not return together), or the
    server's Retry-After when that is longer, unless it is over `max_retry_after`: then the
    error is raised at once rather than sleeping for minutes."""

    retries: int = 4
    backoff: float = 0.25
    max_delay: float = 8.0
    max_retry_after: float = 60.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float | None:
        """Seconds to wait before retry number `attempt` (0-based); None: give up."""
        if attempt >= self.retries:
            return None
        cap = min(self.max_delay, self.backoff * 2.0**attempt)
        wait = cap / 2 + rng.random() * cap / 2
        if retry_after is not None:
            if retry_after > self.max_retry_after:
                return None
            wait = max(wait, retry_after)
        return wait


def retry_after_s(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def error_of(reply: Reply) -> KalmanacError:
    return KalmanacError.from_body(
        reply.status, reply.body, reply.request_id, retry_after_s(reply.headers.get("retry-after"))
    )


def connection_error(exc: BaseException) -> KalmanacError:
    return KalmanacError(None, "connection_error", f"{type(exc).__name__}: {exc}")


def request(
    call: Call, policy: RetryPolicy, rng: random.Random, sent_safely: type[BaseException]
) -> Op[Reply]:
    """Sends `call`, retrying per `policy`; returns a 2xx Reply or raises KalmanacError.

    `sent_safely`: the transport's exception meaning the request never left (a refused
    connection), which may be retried even when the call is not idempotent."""
    attempt = 0
    while True:
        outcome = yield call
        if isinstance(outcome, Reply):
            if outcome.status < 400:
                return outcome
            error = error_of(outcome)
            retryable = outcome.status in RETRY_STATUSES
        elif isinstance(outcome, BaseException):
            error = connection_error(outcome)
            retryable = call.idempotent or isinstance(outcome, sent_safely)
            if not retryable:
                raise error from outcome
        else:  # pragma: no cover - a driver bug
            raise TypeError(f"driver sent {outcome!r} for a Call")
        wait = policy.delay(attempt, error.retry_after, rng) if retryable else None
        if wait is None:
            if isinstance(outcome, BaseException):
                raise error from outcome
            raise error
        yield Sleep(wait)
        attempt += 1
