"""Test fixtures: a fresh PostgreSQL database (migrated with Alembic) and a Redis DB per run.

Both are created by the run itself, so leftovers from earlier runs can neither
break nor fake a result. PostgreSQL and Redis must be reachable: a missing
service is a failure, never a skip.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import text

from app.config import Settings, get_settings
from app.db.session import get_sessionmaker
from app.services import auth
from bench.stack import ADMIN_URL, REDIS_URL, Databases, alembic

__all__ = ["Databases", "alembic", "issue_key"]


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


@pytest.fixture(scope="session")
def make_client(settings: Settings) -> Callable[..., TestClient]:
    """A client of a second app with some settings changed (limits, say). It starts no worker
    of its own: what it queues runs on the session's embedded worker if `client` started one."""
    from app.main import create_app

    def make(**overrides: object) -> TestClient:
        return TestClient(create_app(settings.model_copy(update=overrides)))

    return make


def issue_key(settings: Settings, tenant: str | None = None) -> str:
    with get_sessionmaker(settings.database_url).begin() as session:
        return auth.issue_key(session, tenant or f"t-{uuid.uuid4().hex[:8]}", settings).key


@pytest.fixture
def headers(settings: Settings) -> dict[str, str]:
    """A fresh tenant per test, so tests never see each other's data."""
    return {"Authorization": f"Bearer {issue_key(settings)}"}
