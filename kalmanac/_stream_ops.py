"""The stream operations (online data assimilation), written as `_ops` writes every other."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from kalmanac._ops import POLL_FIRST_S, POLL_MAX_S, Core, Progress, given, poll, query_params
from kalmanac._protocol import Call, Op, Sleep
from kalmanac.results import Analyses, Analysis, Forecast, Page, Pushed, Stream
from kalmanac.series import json_values, to_observations
from kalmanac.sse import SseParser

ANALYSES_PAGE = 1000
PUSH_BATCH = 1000


def create_stream(
    core: Core,
    dynamics: dict[str, Any],
    *,
    observation: dict[str, Any] | None = None,
    filter: dict[str, Any] | None = None,
    initial: dict[str, Any] | None = None,
    name: str | None = None,
    t0: float | None = None,
    seed: int | None = None,
    gap_timeout_s: float | None = None,
) -> Op[Stream]:
    """Opens an assimilation stream, e.g. `dynamics={"system": "lorenz63", "dt": 0.01}`,
    `observation={"indices": [0, 2], "noise_std": 1.0}`, `filter={"method": "etkf"}`.
    `initial["series"]` (model dynamics) may be an array, NaN or None where missing."""
    if initial is not None and initial.get("series") is not None:
        initial = {**initial, "series": _series_json(initial["series"])}
    body = {
        "dynamics": dynamics,
        **given(
            observation=observation,
            filter=filter,
            initial=initial,
            name=name,
            t0=t0,
            seed=seed,
            gap_timeout_s=gap_timeout_s,
        ),
    }
    # Not idempotent: a create that may have reached the server is not sent twice.
    reply = yield from core.send(Call("POST", "/v1/streams", json=body, idempotent=False))
    return Stream.from_json(reply.body)


def get_stream(core: Core, stream_id: str) -> Op[Stream]:
    return Stream.from_json((yield from core.get(f"/v1/streams/{stream_id}")))


def list_streams(core: Core, *, limit: int = 50, cursor: str | None = None) -> Op[Page[Stream]]:
    body = yield from core.get("/v1/streams", {"limit": limit, "cursor": cursor})
    return Page([Stream.from_json(s) for s in body["items"]], body.get("next_cursor"))


def push(
    core: Core,
    stream_id: str,
    observations: Any,
    *,
    t: Sequence[float] | None = None,
    start_seq: int | None = None,
    batch_size: int = PUSH_BATCH,
) -> Op[Pushed]:
    """Pushes observations: a DataFrame (`seq`?, `t`, value columns), an array of rows
    with times `t`, or a list of `{"seq", "t", "values"}`. Rows without a seq are numbered
    from `start_seq`, by default the stream's last seq + pending + 1 (right when no seq is
    missing). Safe to resend: the server ignores a seq it already has."""
    if start_seq is None and not _has_seqs(observations):
        stream = yield from get_stream(core, stream_id)
        start_seq = stream.last_seq + stream.pending + 1
    rows = to_observations(observations, t, start_seq)
    accepted = duplicates = pending = last_seq = 0
    rejected: list[dict[str, Any]] = []
    for i in range(0, len(rows), batch_size):
        call = Call(
            "POST",
            f"/v1/streams/{stream_id}/observations",
            json={"observations": rows[i : i + batch_size]},
        )
        body = (yield from core.send(call)).body
        accepted += body["accepted"]
        duplicates += body["duplicates"]
        pending, last_seq = body["pending"], body["last_seq"]
        rejected += [{**r, "index": r["index"] + i} for r in body.get("rejected") or []]
    return Pushed(accepted, duplicates, pending, last_seq, rejected)


def _has_seqs(observations: Any) -> bool:
    columns = getattr(observations, "columns", None)
    if columns is not None:
        return "seq" in columns
    return (
        isinstance(observations, list) and bool(observations) and isinstance(observations[0], dict)
    )


def analyses(
    core: Core, stream_id: str, *, after_seq: int = 0, limit: int | None = None
) -> Op[Analyses]:
    """Analyses after `after_seq` in seq order (all of them, or the first `limit`)."""
    items: list[Analysis] = []
    cursor: str | None = str(after_seq)
    while cursor is not None and (limit is None or len(items) < limit):
        page = ANALYSES_PAGE if limit is None else min(ANALYSES_PAGE, limit - len(items))
        params = {"cursor": cursor, "limit": page}
        body = yield from core.get(f"/v1/streams/{stream_id}/analyses", params)
        items.extend(Analysis.from_json(a) for a in body["items"])
        cursor = body.get("next_cursor")
    return Analyses(items)


def wait_assimilated(
    core: Core, stream_id: str, seq: int, *, timeout: float | None = 60.0
) -> Op[Stream]:
    """Waits until every observation up to `seq` is assimilated (or skipped as a gap)."""
    started, interval = time.monotonic(), POLL_FIRST_S
    while True:
        stream = yield from get_stream(core, stream_id)
        if stream.last_seq >= seq:
            return stream
        if timeout is not None and time.monotonic() - started > timeout:
            raise TimeoutError(
                f"stream {stream_id}: seq {stream.last_seq} of {seq} after {timeout:g} s"
            )
        yield Sleep(interval)
        interval = min(interval * 1.5, POLL_MAX_S)


def stream_forecast(
    core: Core,
    stream_id: str,
    horizon: int = 20,
    *,
    levels: Sequence[float] = (80, 95),
    quantiles: Sequence[float] = (),
    timeout: float | None = None,
    progress: Progress | None = None,
) -> Op[Forecast]:
    """Ensemble forecast from the latest analysis (`times` index the steps)."""
    started = time.monotonic()
    params = {"horizon": horizon, "levels": list(levels), "quantiles": list(quantiles) or None}
    # The server waits up to its KALMANAC_MAX_WAIT_S before answering 202.
    call = Call(
        "GET", f"/v1/streams/{stream_id}/forecast", query_params(params), extra_timeout=30.0
    )
    reply = yield from core.send(call)
    path = f"/v1/forecasts/{reply.body['id']}"
    return (yield from poll(core, path, Forecast.from_json, timeout, progress, reply.body, started))


def close_stream(core: Core, stream_id: str) -> Op[Stream]:
    """Closes the stream; its history stays queryable."""
    reply = yield from core.send(Call("DELETE", f"/v1/streams/{stream_id}"))
    return Stream.from_json(reply.body)


def _series_json(series: Any) -> list[Any]:
    """A model stream's series, (T,) or (T, d), as JSON rows: NaN or None (missing) as null."""
    return json_values(np.asarray(series, dtype=float))


def reset_stream(
    core: Core,
    stream_id: str,
    *,
    mean: Sequence[float] | None = None,
    std: float | None = None,
    series: Any = None,
) -> Op[Stream]:
    """Redraws the stream's ensemble at its current time, around `mean` with `std` (by
    default the stream's initial ones): for a stream whose `health` says failing. A stream
    with model dynamics restarts from `series` (the series up to the stream's time: (T,) or
    (T, d)) or from a window's `mean`."""
    rows = None if series is None else _series_json(series)
    initial = given(mean=None if mean is None else [float(v) for v in mean], std=std, series=rows)
    body = {"initial": initial} if initial else {}
    reply = yield from core.send(Call("POST", f"/v1/streams/{stream_id}/reset", json=body))
    return Stream.from_json(reply.body)


def watch_call(stream_id: str, after_seq: int) -> Call:
    """The server-sent events feed of a stream's analyses (see `analysis_of`)."""
    return Call("GET", f"/v1/streams/{stream_id}/events", {"cursor": str(after_seq)})


class WatchFeed:
    """Lines of the events feed in, analyses out; `closed` once the server says the stream
    is closed and fully assimilated (the feed's end)."""

    def __init__(self) -> None:
        self.parser = SseParser()
        self.closed = False

    def feed(self, line: str) -> Analysis | None:
        event = self.parser.feed(line)
        if event is None:
            return None
        if event.event == "closed":
            self.closed = True
        return Analysis.from_json(json.loads(event.data)) if event.event == "analysis" else None
