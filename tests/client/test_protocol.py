"""The shared core without a server: retry policy, Retry-After, error bodies, SSE."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import httpx
import numpy as np
import pytest

from kalmanac import AsyncClient, Client, KalmanacError
from kalmanac._protocol import RetryPolicy, retry_after_s
from kalmanac.series import to_series
from kalmanac.sse import SseParser


def test_backoff_is_bounded_jittered_and_honours_retry_after() -> None:
    policy, rng = RetryPolicy(retries=3, backoff=0.5, max_delay=1.0), random.Random(0)
    delays = [policy.delay(k, None, rng) for k in range(4)]
    assert 0.25 <= delays[0] <= 0.5 and 0.5 <= delays[1] <= 1.0 and 0.5 <= delays[2] <= 1.0
    assert delays[3] is None  # retries exhausted
    assert policy.delay(0, 3.0, rng) == 3.0
    assert policy.delay(0, 3600.0, rng) is None  # far too long: raise instead of sleeping


def test_retry_after_seconds_and_dates() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert retry_after_s("2") == 2.0
    assert retry_after_s("Thu, 01 Jan 2026 00:00:05 GMT", now) == 5.0
    assert retry_after_s("soon") is None and retry_after_s(None) is None


def test_error_body_names_fields() -> None:
    body = {
        "error": "validation_error",
        "detail": [
            {"loc": ["body", "horizon"], "field": "horizon", "msg": "too small", "type": "x"}
        ],
    }
    err = KalmanacError.from_body(422, body, "req-1")
    assert err.field("horizon") is not None and "horizon: too small" in str(err)
    assert KalmanacError.from_body(502, "<html>bad gateway</html>").code == "http_502"


def test_sse_parser() -> None:
    parser, events = SseParser(), []
    for line in ["id: 1", "event: analysis", 'data: {"a": 1}', "", ": keep-alive", "", "x"]:
        event = parser.feed(line)
        if event is not None:
            events.append(event)
    assert [(e.id, e.event, e.data) for e in events] == [("1", "analysis", '{"a": 1}')]


def test_nan_is_sent_as_a_missing_value_and_infinity_refused() -> None:
    assert to_series(np.array([1.0, 2.0, np.nan])).payload()["values"] == [1.0, 2.0, None]
    with pytest.raises(ValueError, match="position 2"):
        to_series(np.array([1.0, 2.0, np.inf]))


def _flaky(calls: list[str]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if len(calls) == 1:
            raise httpx.ReadError("connection reset", request=request)
        return httpx.Response(200, json={"items": [], "next_cursor": None})

    return httpx.MockTransport(handle)


def test_connection_errors_are_retried_only_when_safe() -> None:
    calls: list[str] = []
    with Client("http://k", transport=_flaky(calls), backoff=0.01) as kc:
        assert kc.list_jobs().items == []
    assert calls == ["GET", "GET"]
    calls.clear()
    with Client("http://k", transport=_flaky(calls), backoff=0.01) as kc:  # noqa: SIM117
        with pytest.raises(KalmanacError, match="connection_error"):
            kc.create_stream({"system": "lorenz63"})  # may have been created: not resent
    assert calls == ["POST"]


def test_both_clients_expose_the_same_methods() -> None:
    def public(cls: type) -> set[str]:
        return {n for n in dir(cls) if not n.startswith("_")} - {"close", "aclose"}

    assert public(Client) == public(AsyncClient)


def test_a_frames_time_column_becomes_its_timestamps() -> None:
    """A DataFrame as read from a CSV keeps its times as a column: they are the timestamps,
    not a dimension of nanosecond numbers; a column of text is refused by name."""
    import pandas as pd

    times = pd.date_range("2026-01-01", periods=4, freq="D")
    got = to_series(pd.DataFrame({"date": times, "y": [1.0, 2.0, None, 4.0]}))
    assert got.timestamps == [t.isoformat() for t in times]
    assert got.payload()["values"] == [1.0, 2.0, None, 4.0] and got.columns is None
    with pytest.raises(TypeError, match="column\\(s\\) date are not numbers"):
        to_series(pd.DataFrame({"date": ["2026-01-01", "2026-01-02"], "y": [1.0, 2.0]}))


def test_a_long_frame_is_ordered_by_its_times_not_their_text() -> None:
    import pandas as pd

    from kalmanac.series import from_long_frame

    df = pd.DataFrame({"unique_id": "a", "ds": ["1/10/2026", "1/9/2026", "1/11/2026"],
                       "y": [10.0, 9.0, 11.0]})  # fmt: skip
    (got,) = from_long_frame(df)
    assert list(got.values) == [9.0, 10.0, 11.0]
    assert got.timestamps == ["2026-01-09T00:00:00", "2026-01-10T00:00:00", "2026-01-11T00:00:00"]
