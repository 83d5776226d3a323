"""Errors raised by the client: the server's uniform error body, as an exception."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldError:
    """One item of a 4xx body: which field (dotted, e.g. `series.0.values`) and why."""

    loc: tuple[str | int, ...]
    field: str
    msg: str
    type: str


class KalmanacError(Exception):
    """A request the service refused or could not answer.

    `status` is the HTTP status (None when no answer came: connection errors, job outcomes),
    `code` the machine-readable error code (`validation_error`, `rate_limited`, ...),
    `details` the per-field errors (empty when the server sent a plain message)."""

    def __init__(
        self,
        status: int | None,
        code: str,
        message: str,
        details: tuple[FieldError, ...] = (),
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.request_id = request_id
        self.retry_after = retry_after
        super().__init__(self._text())

    def _text(self) -> str:
        head = f"{self.status} {self.code}" if self.status is not None else self.code
        if self.details:
            return head + ": " + "; ".join(f"{d.field}: {d.msg}" for d in self.details)
        return f"{head}: {self.message}" if self.message else head

    def field(self, name: str) -> FieldError | None:
        """The error about field `name` (dotted), if the server named it."""
        return next((d for d in self.details if d.field == name), None)

    @classmethod
    def from_body(
        cls,
        status: int,
        body: Any,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> KalmanacError:
        """Parses `{"error", "detail": [{loc, field, msg, type}] | str}`; anything else (a
        proxy's HTML page, say) is kept as the message."""
        if not isinstance(body, dict) or "error" not in body:
            text = body if isinstance(body, str) else repr(body)
            return cls(status, f"http_{status}", text[:500], (), request_id, retry_after)
        detail = body.get("detail")
        items: tuple[FieldError, ...] = ()
        message = ""
        if isinstance(detail, list):
            items = tuple(
                FieldError(
                    tuple(d.get("loc", ())),
                    str(d.get("field", "")),
                    str(d.get("msg", "")),
                    str(d.get("type", "")),
                )
                for d in detail
                if isinstance(d, dict)
            )
        elif detail is not None:
            message = str(detail)
        return cls(status, str(body["error"]), message, items, request_id, retry_after)


class JobFailed(KalmanacError):
    """The job ran and failed, or was cancelled; `job` is its final record."""

    def __init__(self, job: Any) -> None:
        self.job = job
        error = job.error or {}
        message = f"job {job.id} {job.status}"
        if error:
            message += f": {error.get('type', 'error')}: {error.get('message', '')}"
        super().__init__(None, f"job_{job.status}", message)


class JobTimeout(KalmanacError):
    """The job did not finish in time; it goes on running on the server (`job` is its last
    known record; wait again with `wait_job(job.id)`, or cancel it)."""

    def __init__(self, job: Any, timeout: float) -> None:
        self.job = job
        super().__init__(None, "timeout", f"job {job.id} still {job.status} after {timeout:g} s")
