"""Test fixtures: a fresh PostgreSQL database (migrated with Alembic) and a Redis DB per run.

Both are created by the run itself, so leftovers from earlier runs can neither
break nor fake a result. PostgreSQL and Redis must be reachable: a missing
service is a failure, never a skip.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.config import Settings, get_settings
from app.db.session import get_sessionmaker
from app.services import auth

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get(
    "KALMANAC_TEST_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("KALMANAC_TEST_REDIS_URL", "redis://127.0.0.1:6379")


def alembic(url: str, *args: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["url"] = url
    config.attributes["configure_logging"] = False
    getattr(command, args[0])(config, *args[1:])


class Databases:
    """Creates uniquely named PostgreSQL databases and drops them at the end."""

    def __init__(self) -> None:
        self.admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
        self.created: list[str] = []

    def create(self) -> str:
        name = f"kalmanac_test_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        with self.admin.connect() as conn:
            for name in self.created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()


@pytest.fixture(scope="session")
def databases() -> Iterator[Databases]:
    dbs = Databases()
    try:
        with dbs.admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        pytest.fail(f"PostgreSQL is unreachable at {ADMIN_URL}: {exc}", pytrace=False)
    yield dbs
    dbs.drop_all()


@pytest.fixture(scope="session")
def database_url(databases: Databases) -> str:
    """The session's migrated database (schema built by `alembic upgrade head`)."""
    url = databases.create()
    alembic(url, "upgrade", "head")
    return url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis logical database flushed for this run."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis is unreachable at {REDIS_URL}: {exc}", pytrace=False)
    db = 1 + secrets.randbelow(15)
    url = f"{REDIS_URL}/{db}"
    redis.Redis.from_url(url).flushdb()
    yield url
    redis.Redis.from_url(url).flushdb()


@pytest.fixture(scope="session")
def settings(database_url: str) -> Iterator[Settings]:
    """Process-wide settings: the embedded worker thread reads them through get_settings()."""
    env = {
        "KALMANAC_DATABASE_URL": database_url,
        "KALMANAC_BROKER_URL": "memory://",
        "KALMANAC_AUTH": "required",
        "KALMANAC_SECRET_KEY": secrets.token_hex(16),
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    get_settings.cache_clear()
    yield get_settings()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def client(settings: Settings) -> Iterator[TestClient]:
    """The app over HTTP semantics, with its embedded worker thread, against PostgreSQL."""
    from app.main import create_app

    with TestClient(create_app(settings)) as c:
        yield c


def issue_key(settings: Settings, tenant: str | None = None) -> str:
    with get_sessionmaker(settings.database_url).begin() as session:
        return auth.issue_key(session, tenant or f"t-{uuid.uuid4().hex[:8]}", settings).key


@pytest.fixture
def headers(settings: Settings) -> dict[str, str]:
    """A fresh tenant per test, so tests never see each other's data."""
    return {"Authorization": f"Bearer {issue_key(settings)}"}
