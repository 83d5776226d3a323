"""Real processes: a uvicorn server and Celery workers over Redis and PostgreSQL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import Databases, alembic

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    env: dict[str, str]
    logs: Path
    base: str = ""
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, cmd: list[str]) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("ab")
        proc = subprocess.Popen(cmd, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        self.procs[name] = proc
        return proc

    def start_api(self) -> None:
        port = free_port()
        self.start(
            "api", [str(BIN / "uvicorn"), "app.main:create_app", "--factory", "--port", str(port)]
        )
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert self.procs["api"].poll() is None, self.log("api")
            time.sleep(0.2)
        pytest.fail("server did not become ready:\n" + self.log("api"))

    def start_worker(self, name: str) -> subprocess.Popen[bytes]:
        return self.start(
            name,
            [
                str(BIN / "celery"),
                "-A",
                "workers.celery_app",
                "worker",
                "-Q",
                "cpu,gpu",
                "--pool",
                "solo",
                "--hostname",
                f"{name}@%h",
                "--loglevel",
                "INFO",
            ],
        )

    def log(self, name: str, tail: int = 4000) -> str:
        return (self.logs / f"{name}.log").read_text()[-tail:]

    def stop_all(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def stack_env(databases: Databases, redis_url: str) -> dict[str, str]:
    url = databases.create()
    alembic(url, "upgrade", "head")
    return {
        **os.environ,
        "KALMANAC_DATABASE_URL": url,
        "KALMANAC_BROKER_URL": redis_url,
        "KALMANAC_AUTH": "required",
        "KALMANAC_SECRET_KEY": "e2e-" + os.urandom(12).hex(),
        "KALMANAC_ENV": "production",
    }


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
