"""The schema is built only by Alembic; upgrade and downgrade both work on PostgreSQL."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, inspect, text

from app.db import tables  # noqa: F401
from app.db.base import Base, unpack_floats
from tests.conftest import Databases, alembic

TABLES = {
    "tenants",
    "api_keys",
    "jobs",
    "forecast_results",
    "model_versions",
    "streams",
    "observations",
    "analyses",
    "stream_gaps",
    "model_aliases",
}


def table_names(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(databases: Databases) -> None:
    url = databases.create()
    alembic(url, "upgrade", "head")
    assert table_names(url) == TABLES
    alembic(url, "downgrade", "base")
    assert table_names(url) == set()
    alembic(url, "upgrade", "head")
    assert table_names(url) == TABLES


def test_migrations_match_the_orm(database_url: str) -> None:
    # `alembic check` fails when the ORM has changes no revision covers.
    alembic(database_url, "check")
    assert set(Base.metadata.tables) == TABLES


def test_sqlite_upgrade_downgrade(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/k.db"
    alembic(url, "upgrade", "head")
    assert table_names(url) == TABLES
    alembic(url, "downgrade", "base")
    assert table_names(url) == set()


def _seed_vectors(url: str) -> None:
    """A stream with one observation and one analysis, written as revision 0004 stored them."""
    now = "2026-11-27 00:00:00+00"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO tenants (id, name, created_at) VALUES ('t', 't', :now)"), {"now": now}
        )
        conn.execute(
            text(
                "INSERT INTO streams (id, tenant_id, status, config, seed, state_dim, obs_dim, t,"
                " last_seq, n_assimilated, n_skipped, code_version, created_at, updated_at)"
                " VALUES ('s', 't', 'open', '{}', 0, 3, 3, 0, 0, 0, 0, 'v', :now, :now)"
            ),
            {"now": now},
        )
        conn.execute(
            text(
                'INSERT INTO observations (stream_id, seq, t, "values", status, received_at)'
                " VALUES ('s', 1, 0.5, '[1.5, -2.25, 3e-300]', 'pending', :now)"
            ),
            {"now": now},
        )
        conn.execute(
            text(
                "INSERT INTO analyses (stream_id, seq, t, mean, spread, innovation_rms, created_at)"
                " VALUES ('s', 1, 0.5, '[0.1, 0.2, 0.3]', '[1.0, 2.0, 0.5]', 0.7, :now)"
            ),
            {"now": now},
        )
    engine.dispose()


def _vectors(url: str) -> tuple[object, object, object]:
    engine = create_engine(url)
    with engine.connect() as conn:
        (values,) = conn.execute(text('SELECT "values" FROM observations')).one()
        mean, spread = conn.execute(text("SELECT mean, spread FROM analyses")).one()
    engine.dispose()
    return values, mean, spread


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_vectors_survive_the_move_to_packed_floats(
    backend: str, databases: Databases, tmp_path: object
) -> None:
    url = databases.create() if backend == "postgresql" else f"sqlite:///{tmp_path}/v.db"
    alembic(url, "upgrade", "0004")
    _seed_vectors(url)
    alembic(url, "upgrade", "0005")
    values, mean, spread = _vectors(url)
    assert unpack_floats(bytes(values)) == [1.5, -2.25, 3e-300]
    assert unpack_floats(bytes(mean)) == [0.1, 0.2, 0.3]
    assert unpack_floats(bytes(spread)) == [1.0, 2.0, 0.5]
    alembic(url, "downgrade", "0004")
    values, mean, _ = _vectors(url)
    as_list = (lambda v: v) if backend == "postgresql" else json.loads
    assert as_list(values) == [1.5, -2.25, 3e-300] and as_list(mean) == [0.1, 0.2, 0.3]


def test_pending_observations_are_found_by_a_partial_index(database_url: str) -> None:
    """ix_observations_pending holds only the pending observations, and every query for them
    spells the predicate as a literal: PostgreSQL matches a partial index in a generic plan
    (what it uses for statements prepared and run often) only then; with a bound 'pending'
    the reaper's query over a million observations was a sequential scan (95 ms, 2 ms)."""
    from datetime import UTC, datetime

    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from app.db.repositories import metrics
    from app.db.repositories import streams as repo

    engine = create_engine(database_url)
    try:
        index = {i["name"]: i for i in inspect(engine).get_indexes("observations")}
        pending = index["ix_observations_pending"]
        assert pending["column_names"] == ["stream_id", "seq"]
        assert "'pending'" in pending["dialect_options"]["postgresql_where"]

        statements: list[str] = []
        event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        with Session(engine) as session:
            repo.pending(session, "s", 0, 10)
            repo.count_pending(session, "s")
            repo.pending_counts(session, ["s"])
            repo.with_stale_pending(session, datetime.now(UTC), 10)
            repo.mark_late(session, "s", 3)
            metrics.stream_lag(session, 10)
        reading = [s for s in statements if "observations.status" in s]
        assert len(reading) == 6
        assert all("observations.status = 'pending'" in s for s in reading), reading
    finally:
        engine.dispose()
