"""Domain errors that the API turns into 4xx answers."""

from __future__ import annotations


class InputError(ValueError):
    """A request that parsed but cannot be served as asked (422), naming the field: a dotted
    path in the request body ("series.0.values"), or a query parameter (source "query")."""

    def __init__(
        self, field: str, reason: str, status_code: int = 422, source: str = "body"
    ) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.status_code = status_code
        self.source = source


class NotFound(LookupError):
    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")


class Conflict(RuntimeError):
    """The request contradicts the state of a resource (409)."""


class LimitExceeded(RuntimeError):
    """A per-tenant limit is reached (429); `limit` names the setting, `retry_after_s` >= 1."""

    def __init__(self, limit: str, reason: str, retry_after_s: int, code: str) -> None:
        super().__init__(f"{limit}: {reason}")
        self.limit = limit
        self.reason = reason
        self.retry_after_s = max(1, retry_after_s)
        self.code = code
