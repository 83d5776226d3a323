"""A real server for the client and CLI: uvicorn with its embedded worker (in-memory
broker) over a fresh PostgreSQL database, started as in tests/e2e through bench.stack."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator

import pytest

from app.config import Settings
from bench.stack import Databases, Stack, alembic
from kalmanac import Client
from tests.conftest import issue_key

StartServer = Callable[..., Stack]


@pytest.fixture(scope="session")
def server_env(databases: Databases) -> dict[str, str]:
    url = databases.create()
    alembic(url, "upgrade", "head")
    return {
        **os.environ,
        "KALMANAC_DATABASE_URL": url,
        "KALMANAC_BROKER_URL": "memory://",
        "KALMANAC_AUTH": "required",
        "KALMANAC_SECRET_KEY": secrets.token_hex(16),
        "KALMANAC_ENV": "development",
    }


@pytest.fixture(scope="session")
def start_server(
    server_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StartServer]:
    """Starts a server with some KALMANAC_* settings changed; all are stopped at the end."""
    stacks: list[Stack] = []

    def start(**overrides: str) -> Stack:
        env = {**server_env, **{f"KALMANAC_{k.upper()}": v for k, v in overrides.items()}}
        stack = Stack(env, tmp_path_factory.mktemp("client-server"))
        stacks.append(stack)
        stack.start_api()
        return stack

    yield start
    for stack in stacks:
        stack.stop_all()


@pytest.fixture(scope="session")
def server(start_server: StartServer) -> Stack:
    return start_server()


@pytest.fixture
def api_key(server_env: dict[str, str]) -> str:
    """A fresh tenant per test, so tests never see each other's jobs."""
    settings = Settings(
        database_url=server_env["KALMANAC_DATABASE_URL"],
        secret_key=server_env["KALMANAC_SECRET_KEY"],
        auth="required",
    )
    return issue_key(settings)


@pytest.fixture
def client(server: Stack, api_key: str) -> Iterator[Client]:
    with Client(server.base, api_key=api_key, timeout=30) as c:
        yield c
