"""Streams as the API sees them: create, ingest observations, read, close.

Imports no numerics. The worker side (assimilation) is app.services.stream_runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from app.config import Settings
from app.db.base import utcnow
from app.db.repositories import streams as repo
from app.db.tables import Analysis, Job, Observation, Stream, StreamGap
from app.queue import Outbox, Queue, Task
from app.services import jobs as job_service
from app.services import model_versions, surrogates
from app.services.errors import Conflict, InputError, NotFound
from app.services.paging import decode_cursor, encode_cursor
from app.services.stream_config import StreamConfig
from app.version import code_version

QUEUE = Queue.CPU  # a stream's cycles and forecasts


def create(
    session: Session,
    outbox: Outbox,
    settings: Settings,
    *,
    tenant_id: str,
    config: dict[str, Any],
    state_dim: int | None,
    obs_dim: int | None,
) -> Stream:
    """state_dim and obs_dim are None for model dynamics: the pinned version sets them."""
    if "model" in config["dynamics"]:
        config, state_dim, obs_dim = surrogates.pin(session, tenant_id, config)
    assert state_dim is not None and obs_dim is not None
    if config["filter"]["method"] == "observer":
        config = _pin_observer(session, tenant_id, config)
    ensemble_values = config["filter"]["ensemble_size"] * state_dim
    if ensemble_values > settings.max_ensemble_values:
        raise InputError(
            "filter.ensemble_size",
            f"ensemble_size x state size = {ensemble_values}; the limit is "
            f"{settings.max_ensemble_values}",
        )
    stream = repo.add(
        session,
        Stream(
            tenant_id=tenant_id,
            name=config.get("name"),
            config=config,
            seed=config["seed"],
            state_dim=state_dim,
            obs_dim=obs_dim,
            t=config["t0"],
            mean=config["initial"]["mean"],
            code_version=code_version(),
        ),
    )
    # The worker draws the initial ensemble, so the API never needs numerics.
    outbox.add(Task.CYCLE, stream.id, queue=QUEUE)
    return stream


def _pin_observer(session: Session, tenant_id: str, config: dict[str, Any]) -> dict[str, Any]:
    """The config with its observer resolved to a concrete version (a later alias move does
    not change a running stream), the interval it was trained for, and its own number of
    members."""
    ref = config["filter"]["model"]
    version = model_versions.resolve_as(
        session, tenant_id, ref, "filter.model", {"observer"}, "an observer"
    )
    trained = version.params
    for part in ("dynamics", "observation"):
        if trained[part] != config[part]:
            raise InputError(
                part,
                f"differs from what observer {version.name} v{version.version} was trained for: "
                f"{trained[part]}",
            )
    pinned = {
        "name": version.name,
        "version": version.version,
        "version_id": version.id,
        # On record for the user: its gain is tuned to the forecast error this interval
        # grows (a KS observer fed at twice its interval had 3x the LETKF's RMSE).
        "interval": trained.get("interval") or trained["dynamics"]["dt"],
    }
    flt = {**config["filter"], "model": pinned, "ensemble_size": trained["members"]}
    return {**config, "filter": flt}


def get(session: Session, tenant_id: str, stream_id: str, *, header_only: bool = False) -> Stream:
    stream = repo.get_for_tenant(session, tenant_id, stream_id, header_only=header_only)
    if stream is None:
        raise NotFound(f"stream {stream_id}")
    return stream


@dataclass(frozen=True)
class StreamView:
    stream: Stream
    pending: int
    gaps: list[StreamGap]


def view(session: Session, tenant_id: str, stream_id: str) -> StreamView:
    stream = get(session, tenant_id, stream_id)
    return StreamView(stream, repo.count_pending(session, stream.id), repo.gaps(session, stream.id))


@dataclass(frozen=True)
class Rejected:
    index: int  # in the post
    seq: int
    reason: str


@dataclass(frozen=True)
class Ingested:
    accepted: int
    duplicates: int
    pending: int
    last_seq: int
    rejected: list[Rejected]


def ingest(
    session: Session,
    outbox: Outbox,
    settings: Settings,
    *,
    tenant_id: str,
    stream_id: str,
    observations: list[dict[str, Any]],
) -> Ingested:
    """Commit-ready insert of new observations (idempotent on seq) and a cycle for after commit."""
    stream = get(session, tenant_id, stream_id, header_only=True)
    if stream.status != "open":
        raise Conflict(f"stream {stream_id} is closed")
    if len(observations) > settings.max_observations_per_post:
        raise InputError(
            "observations",
            f"{len(observations)} observations; the limit per post is "
            f"{settings.max_observations_per_post}",
        )
    for i, o in enumerate(observations):
        if len(o["values"]) != stream.obs_dim:
            raise InputError(
                f"observations.{i}.values",
                f"{len(o['values'])} values; this stream observes {stream.obs_dim} components",
            )
    config = StreamConfig.parse(stream.config)
    if config.surrogate:
        surrogates.check_times(config.t0, observations)
    unique = list({o["seq"]: o for o in observations}.values())
    new, pending = repo.insert_observations(session, stream.id, [_row(o) for o in unique])
    outbox.add(Task.CYCLE, stream.id, queue=QUEUE)
    # Kept on record (the stream marks them skipped in seq order), but never assimilable.
    rejected = [
        Rejected(i, o["seq"], why)
        for i, o in enumerate(observations)
        if o["seq"] in new and (why := _never_assimilable(o, stream))
    ]
    return Ingested(
        accepted=len(new) - len(rejected),
        duplicates=len(observations) - len(new),
        pending=pending,
        last_seq=stream.last_seq,
        rejected=rejected,
    )


def _never_assimilable(o: dict[str, Any], stream: Stream) -> str | None:
    """Why a new observation can never be assimilated (judged on the committed state, which
    only moves forward), or None."""
    if o["seq"] <= stream.last_seq:
        return (
            f"seq {o['seq']} is at or below the last seq handled ({stream.last_seq}): it was "
            "skipped as a gap"
        )
    if o["t"] < stream.t:
        return f"t={o['t']:g} is before the stream's time ({stream.t:g})"
    return None


def _row(o: dict[str, Any]) -> dict[str, Any]:
    """An observation as stored: a missing reading as NaN, its noise std one per component."""
    values = [math.nan if v is None else v for v in o["values"]]
    noise = o.get("noise_std")
    if isinstance(noise, int | float):
        noise = [float(noise)] * len(values)
    return {"seq": o["seq"], "t": o["t"], "values": values, "noise_std": noise}


Row = TypeVar("Row", Analysis, Observation)


def _seq_page(rows: list[Row], limit: int) -> tuple[list[Row], str | None]:
    """A page of rows in seq order, fetched with one extra to tell whether more follow."""
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (str(rows[-1].seq) if more else None)


def analyses(
    session: Session, tenant_id: str, stream_id: str, after_seq: int, limit: int
) -> tuple[list[Analysis], str | None]:
    stream = get(session, tenant_id, stream_id)
    return _seq_page(repo.analyses_page(session, stream.id, after_seq, limit + 1), limit)


def observations(
    session: Session, tenant_id: str, stream_id: str, after_seq: int, limit: int
) -> tuple[list[Observation], str | None]:
    stream = get(session, tenant_id, stream_id)
    return _seq_page(repo.observations_page(session, stream.id, after_seq, limit + 1), limit)


@dataclass(frozen=True)
class History:
    """The recent course of a stream: its newest analyses and the observations beside them."""

    stream: Stream
    analyses: list[Analysis]
    observations: list[Observation]


def history(session: Session, tenant_id: str, stream_id: str, limit: int) -> History:
    stream = get(session, tenant_id, stream_id)
    rows = repo.recent_analyses(session, stream.id, limit)
    after = rows[0].seq - 1 if rows else 0
    return History(stream, rows, repo.observations_page(session, stream.id, after, limit))


def page(
    session: Session, tenant_id: str, limit: int, cursor: str | None
) -> tuple[list[StreamView], str | None]:
    after = decode_cursor(cursor) if cursor else None
    rows = repo.list_for_tenant(session, tenant_id, limit + 1, after)
    more = len(rows) > limit
    rows = rows[:limit]
    ids = [s.id for s in rows]
    pending, gaps = repo.pending_counts(session, ids), repo.gaps_by_stream(session, ids)
    views = [StreamView(s, pending.get(s.id, 0), gaps.get(s.id, [])) for s in rows]
    last = rows[-1] if more and rows else None
    return views, (encode_cursor(last.created_at, last.id) if last else None)


def close(session: Session, tenant_id: str, stream_id: str) -> Stream:
    stream = get(session, tenant_id, stream_id)
    repo.close(session, stream.id, utcnow())
    session.refresh(stream)
    return stream


def reset(
    session: Session,
    outbox: Outbox,
    *,
    tenant_id: str,
    stream_id: str,
    initial: dict[str, Any] | None,
) -> Stream:
    """Redraw an open stream's ensemble at its current time, around `initial` (mean, std;
    what it leaves out: the stream's own initial ones), or, for model dynamics, from the
    latest values (initial.series up to the stream's time, or a window's mean): the way
    back for an ensemble that diverged. The row is locked first, so a cycle in progress
    finishes before and the next one starts from the new ensemble, which the worker draws
    (the API imports no numerics) as it drew the first: from the stream's seed, the same
    way."""
    stream = repo.lock(session, stream_id, tenant_id)
    if stream is None:
        raise NotFound(f"stream {stream_id}")
    if stream.status != "open":
        raise Conflict(f"stream {stream_id} is closed")
    if StreamConfig.parse(stream.config).surrogate:
        model = stream.config["dynamics"]["model"]
        restart = surrogates.restart(initial or {}, model["lags"], model["dim"])
    else:
        restart = {**stream.config["initial"], **(initial or {})}
        if restart.get("series") is not None:
            raise InputError("initial.series", "model dynamics only")
    mean = restart.get("mean")
    if mean is not None and len(mean) != stream.state_dim:
        raise InputError(
            "initial.mean", f"{len(mean)} values; the state has {stream.state_dim} components"
        )
    stream.config = {**stream.config, "initial": restart}
    stream.ensemble, stream.mean, stream.spread = None, mean, None
    stream.failing_since, stream.n_failing = None, 0
    stream.updated_at = utcnow()
    outbox.add(Task.CYCLE, stream.id, queue=QUEUE)
    return stream


def submit_forecast(
    session: Session,
    outbox: Outbox,
    *,
    tenant_id: str,
    stream_id: str,
    request: dict[str, Any],
    max_active_jobs: int,
) -> Job:
    """An ensemble forecast from the latest analysis, run as a job (numerics stay on workers)."""
    stream = get(session, tenant_id, stream_id)
    job, _ = job_service.submit(
        session,
        outbox,
        tenant_id=tenant_id,
        kind="stream_forecast",
        queue=QUEUE,
        request={**request, "stream_id": stream.id},
        model={"kind": "stream", "stream_id": stream.id, "filter": stream.config["filter"]},
        seed=stream.seed,
        idempotency_key=None,
        max_active_jobs=max_active_jobs,
    )
    return job
