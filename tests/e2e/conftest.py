"""Real processes: a uvicorn server and Celery workers over Redis and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.stack import BIN, ROOT, Databases, Stack, stack_env

__all__ = ["BIN", "ROOT", "Stack"]


@pytest.fixture(scope="module")
def stack(
    databases: Databases, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """A fresh database, the API server and one worker; tests may start more workers."""
    s = Stack(stack_env(databases, redis_url), tmp_path_factory.mktemp("e2e"))
    try:
        s.start_worker("worker1")
        s.start_api()
        yield s
    finally:
        s.stop_all()
        for name in s.procs:
            print(f"--- {name} ---\n{s.log(name)}")
