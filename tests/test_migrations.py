"""The schema is built only by Alembic; upgrade and downgrade both work on PostgreSQL."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect

from app.db import tables  # noqa: F401
from app.db.base import Base
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
