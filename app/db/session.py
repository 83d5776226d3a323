"""Engine and session factory for the configured database URL."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _no_implicit_begin(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # transactions begin in _begin_immediate instead


def _begin_immediate(connection: Any) -> None:
    """A worker's transaction takes SQLite's write lock at its start, waiting up to the
    busy timeout. SQLite has no row locks: with a deferred BEGIN, two of the embedded
    worker's lanes could read the same stream or job, and the later writer would fail with
    "database is locked" at once instead of waiting for the first to commit. A worker's
    transactions are short (claim, progress, store, one batch of a stream); the API's stay
    deferred, so a request holding a read (a `?wait`) never blocks the worker."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")


@lru_cache(maxsize=8)
def get_engine(url: str, worker: bool = False) -> Engine:
    """The engine for `url`; `worker`: for the worker's transactions (on SQLite, each takes
    the write lock when it begins; elsewhere the same engine as the API's)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        if worker:
            event.listen(engine, "connect", _no_implicit_begin)
            event.listen(engine, "begin", _begin_immediate)
        return engine
    if worker:
        return get_engine(url)
    return create_engine(
        url, pool_pre_ping=True, pool_size=10, max_overflow=20, connect_args={"connect_timeout": 5}
    )


@lru_cache(maxsize=8)
def get_sessionmaker(url: str, worker: bool = False) -> sessionmaker[Session]:
    return sessionmaker(get_engine(url, worker), expire_on_commit=False)
