"""Streams, their observations, analyses and skipped gaps."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, func, literal_column, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, load_only

from app.db.base import pack_floats, utcnow
from app.db.tables import (
    PENDING_LITERAL,
    PENDING_PREDICATE,
    Analysis,
    Observation,
    Stream,
    StreamGap,
)

# The tables behind the ORM classes, for Core statements (declarative classes type
# __table__ as a FromClause; it is a Table).
OBSERVATIONS = cast(Table, Observation.__table__)
ANALYSES = cast(Table, Analysis.__table__)
# Pending observations, as the partial index ix_observations_pending names them (a literal:
# see its note in app.db.tables).
PENDING = Observation.status == literal_column(PENDING_LITERAL)


def add(session: Session, stream: Stream) -> Stream:
    session.add(stream)
    session.flush()
    return stream


def get(session: Session, stream_id: str) -> Stream | None:
    return session.get(Stream, stream_id)


# A stream's columns that do not grow with its state: what taking in a post reads. The
# ensemble, its mean and spread and the sensors' health grow with it; on Lorenz-96 with
# n = 400, loading them took a post's lookup from 0.5 to 3.2 ms.
_HEADER = load_only(
    Stream.id, Stream.tenant_id, Stream.status, Stream.config, Stream.obs_dim, Stream.last_seq,
    Stream.t,
)  # fmt: skip


def get_for_tenant(
    session: Session, tenant_id: str, stream_id: str, *, header_only: bool = False
) -> Stream | None:
    """The tenant's stream; with `header_only`, its other columns load when first read."""
    query = select(Stream).where(Stream.id == stream_id, Stream.tenant_id == tenant_id)
    return session.scalars(query.options(_HEADER) if header_only else query).one_or_none()


def lock(session: Session, stream_id: str, tenant_id: str | None = None) -> Stream | None:
    """The stream row (the tenant's, when given), locked until the transaction ends: one
    assimilating worker at a time.

    FOR NO KEY UPDATE, not FOR UPDATE: it still excludes a second cycle, but not the key-share
    lock that inserting an observation takes on its stream through the foreign key, so posts
    are not held up for as long as a cycle computes (on PostgreSQL; SQLite serialises)."""
    query = select(Stream).where(Stream.id == stream_id)
    if tenant_id is not None:
        query = query.where(Stream.tenant_id == tenant_id)
    return session.scalars(
        query.with_for_update(key_share=True).execution_options(populate_existing=True)
    ).one_or_none()


def list_for_tenant(
    session: Session, tenant_id: str, limit: int, after: tuple[datetime, str] | None
) -> list[Stream]:
    query = select(Stream).where(Stream.tenant_id == tenant_id)
    if after is not None:
        created, stream_id = after
        query = query.where(
            (Stream.created_at < created)
            | ((Stream.created_at == created) & (Stream.id < stream_id))
        )
    return list(
        session.scalars(query.order_by(Stream.created_at.desc(), Stream.id.desc()).limit(limit))
    )


class Inserted(NamedTuple):
    new: set[int]  # seqs not already present
    pending: int  # the stream's observations awaiting assimilation, the new ones included


def insert_observations(
    session: Session, stream_id: str, rows: Sequence[dict[str, Any]]
) -> Inserted:
    """Insert observations, ignoring (stream_id, seq) already present."""
    if session.get_bind().dialect.name == "postgresql" and rows:
        return _insert_observations_pg(session, stream_id, rows)
    new: set[int] = set()
    if rows:
        values = [{"stream_id": stream_id, "status": "pending", **r} for r in rows]
        # One cached statement run over many parameter sets (insertmanyvalues), not a
        # freshly compiled multi-VALUES statement per post: compiling dominated ingestion.
        stmt = (
            sqlite_insert(OBSERVATIONS)
            .on_conflict_do_nothing(index_elements=["stream_id", "seq"])
            .returning(OBSERVATIONS.c.seq)
        )
        new = {int(r[0]) for r in session.connection().execute(stmt, values)}
    return Inserted(new, count_pending(session, stream_id))


# One short statement over column arrays: a post's rows as parameters of a multi-row
# VALUES made a statement of 700 placeholders that the driver parsed anew on every post
# (too long for its cache), ~40% of an insert of 100 rows. The arrays go in PostgreSQL's
# binary format (psycopg's %b): as text, the driver escaped every value vector into an
# array literal that the server parsed back, ~1.7 ms of a post of 100 readings of 40 values,
# ~0.2 ms in binary. The noise arrays stay text: mostly NULLs, whose element type binary
# needs and a list of None does not give. The pending count rides along (a round trip less
# per post); it reads the statement's snapshot, which the rows its INSERT adds are not in,
# so the new ones are added to it. Written in the driver's own placeholders, for
# `exec_driver_sql`.
_INSERT_OBSERVATIONS_PG = (
    "WITH added AS ("
    'INSERT INTO observations (stream_id, seq, t, "values", noise_std, status, received_at) '
    f"SELECT %(stream_id)s, o.seq, o.t, o.vals, o.noise, {PENDING_LITERAL}, %(received_at)s "
    "FROM unnest(CAST(%(seqs)b AS BIGINT[]), CAST(%(ts)b AS DOUBLE PRECISION[]), "
    "CAST(%(vals)b AS BYTEA[]), CAST(%(noise)s AS BYTEA[])) AS o(seq, t, vals, noise) "
    "ON CONFLICT (stream_id, seq) DO NOTHING RETURNING seq) "
    "SELECT (SELECT array_agg(seq) FROM added), "
    f"(SELECT count(*) FROM observations WHERE stream_id = %(stream_id)s AND {PENDING_PREDICATE})"
)


def _insert_observations_pg(
    session: Session, stream_id: str, rows: Sequence[dict[str, Any]]
) -> Inserted:
    params = {
        "stream_id": stream_id,
        "received_at": utcnow(),
        "seqs": [r["seq"] for r in rows],
        "ts": [float(r["t"]) for r in rows],
        "vals": [pack_floats(r["values"]) for r in rows],
        "noise": [_packed_or_none(r.get("noise_std")) for r in rows],
    }
    added, before = session.connection().exec_driver_sql(_INSERT_OBSERVATIONS_PG, params).one()
    new = {int(seq) for seq in added or ()}
    return Inserted(new, int(before) + len(new))


class PendingObservation(NamedTuple):
    seq: int
    t: float
    values: list[float]  # NaN: a missing reading
    received_at: datetime
    noise_std: list[float] | None


def pending(
    session: Session, stream_id: str, after_seq: int, limit: int
) -> list[PendingObservation]:
    """Plain tuples in seq order, not ORM objects: this is the assimilation hot path."""
    rows = session.execute(
        select(
            Observation.seq,
            Observation.t,
            Observation.values,
            Observation.received_at,
            Observation.noise_std,
        )
        .where(
            Observation.stream_id == stream_id,
            PENDING,
            Observation.seq > after_seq,
        )
        .order_by(Observation.seq)
        .limit(limit)
    )
    return [PendingObservation(*r) for r in rows]


def count_pending(session: Session, stream_id: str) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Observation)
            .where(Observation.stream_id == stream_id, PENDING)
        )
        or 0
    )


def mark_observations(
    session: Session, stream_id: str, seqs: Sequence[int], status: str, reason: str | None = None
) -> None:
    """Set the status of distinct seqs; a contiguous run is one range, not a long IN list."""
    if not seqs:
        return
    lo, hi = min(seqs), max(seqs)
    in_seqs = (
        Observation.seq.between(lo, hi) if hi - lo + 1 == len(seqs) else Observation.seq.in_(seqs)
    )
    session.execute(
        update(Observation)
        .where(Observation.stream_id == stream_id, in_seqs)
        .values(status=status, reason=reason)
        .execution_options(synchronize_session=False)
    )


_ANALYSIS_COLUMNS = (
    "seq", "t", "mean", "spread", "innovation_rms", "inflation", "z", "screening"
)  # fmt: skip
# PostgreSQL types of stream_id, _ANALYSIS_COLUMNS and created_at, for the binary COPY.
_ANALYSIS_COPY_TYPES = (
    "varchar", "int8", "float8", "bytea", "bytea", "float8", "float8", "bytea", "bytea",
    "timestamptz",
)  # fmt: skip


def add_analyses(session: Session, stream_id: str, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        session.execute(ANALYSES.insert(), [{"stream_id": stream_id, **r} for r in rows])
        return
    # COPY: a thousand analyses a batch on the streaming hot path; an order of magnitude
    # cheaper than row-by-row INSERTs, on both sides. Same connection, same transaction.
    # Binary: the packed vectors go as they are, not hex-escaped (a third less time).
    now = utcnow()
    columns = ", ".join(("stream_id", *_ANALYSIS_COLUMNS, "created_at"))
    driver = session.connection().connection.driver_connection
    assert driver is not None  # a live connection inside the session's transaction
    sql = f"COPY analyses ({columns}) FROM STDIN (FORMAT BINARY)"
    with driver.cursor() as cursor, cursor.copy(sql) as copy:
        copy.set_types(_ANALYSIS_COPY_TYPES)
        for r in rows:
            copy.write_row(
                (
                    stream_id,
                    r["seq"],
                    r["t"],
                    pack_floats(r["mean"]),
                    pack_floats(r["spread"]),
                    r["innovation_rms"],
                    r["inflation"],
                    _packed_or_none(r.get("z")),
                    _packed_or_none(r.get("screening")),
                    now,
                )
            )


def _packed_or_none(values: Sequence[float] | None) -> bytes | None:
    return None if values is None else pack_floats(values)


def add_gap(session: Session, stream_id: str, first_seq: int, last_seq: int) -> None:
    session.add(StreamGap(stream_id=stream_id, first_seq=first_seq, last_seq=last_seq))


def gaps(session: Session, stream_id: str) -> list[StreamGap]:
    return list(
        session.scalars(
            select(StreamGap).where(StreamGap.stream_id == stream_id).order_by(StreamGap.first_seq)
        )
    )


def analyses_page(session: Session, stream_id: str, after_seq: int, limit: int) -> list[Analysis]:
    return list(
        session.scalars(
            select(Analysis)
            .where(Analysis.stream_id == stream_id, Analysis.seq > after_seq)
            .order_by(Analysis.seq)
            .limit(limit)
        )
    )


def recent_analyses(session: Session, stream_id: str, limit: int) -> list[Analysis]:
    """The last `limit` analyses, in seq order (for plots of a long-running stream)."""
    rows = session.scalars(
        select(Analysis)
        .where(Analysis.stream_id == stream_id)
        .order_by(Analysis.seq.desc())
        .limit(limit)
    )
    return list(rows)[::-1]


def observations_page(
    session: Session, stream_id: str, after_seq: int, limit: int
) -> list[Observation]:
    """Observations after `after_seq` in seq order, whatever their status."""
    return list(
        session.scalars(
            select(Observation)
            .where(Observation.stream_id == stream_id, Observation.seq > after_seq)
            .order_by(Observation.seq)
            .limit(limit)
        )
    )


def close(session: Session, stream_id: str, when: datetime) -> bool:
    result = session.execute(
        update(Stream)
        .where(Stream.id == stream_id, Stream.status == "open")
        .values(status="closed", closed_at=when)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]  # an UPDATE's CursorResult; typed as Result


def mark_late(session: Session, stream_id: str, last_seq: int) -> None:
    """Observations that arrived after their seq was skipped as a gap are recorded, not used."""
    session.execute(
        update(Observation)
        .where(
            Observation.stream_id == stream_id,
            PENDING,
            Observation.seq <= last_seq,
        )
        .values(status="skipped", reason="arrived after its gap was skipped")
        .execution_options(synchronize_session=False)
    )


def with_stale_pending(session: Session, received_before: datetime, limit: int) -> list[str]:
    """Streams holding an observation still pending since before `received_before`."""
    return list(
        session.scalars(
            select(Observation.stream_id)
            .where(PENDING, Observation.received_at < received_before)
            .group_by(Observation.stream_id)
            .limit(limit)
        )
    )


def pending_counts(session: Session, stream_ids: Sequence[str]) -> dict[str, int]:
    """Pending observations per stream, for a page of streams in one query."""
    rows = session.execute(
        select(Observation.stream_id, func.count())
        .where(Observation.stream_id.in_(stream_ids), PENDING)
        .group_by(Observation.stream_id)
    )
    return {sid: int(n) for sid, n in rows}


def gaps_by_stream(session: Session, stream_ids: Sequence[str]) -> dict[str, list[StreamGap]]:
    out: dict[str, list[StreamGap]] = {}
    for gap in session.scalars(
        select(StreamGap).where(StreamGap.stream_id.in_(stream_ids)).order_by(StreamGap.first_seq)
    ):
        out.setdefault(gap.stream_id, []).append(gap)
    return out
