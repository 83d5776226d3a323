"""Real processes for end-to-end tests and benchmarks: fresh PostgreSQL databases
migrated by Alembic, a uvicorn server and Celery workers over Redis."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
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

    def start_api(self, port: int | None = None, workers: int = 1) -> None:
        """Starts uvicorn (on `port`, e.g. the old one after a restart) and waits for /readyz.

        `workers` > 1 runs that many server processes (`uvicorn --workers`)."""
        port = port or free_port()
        cmd = [str(BIN / "uvicorn"), "app.main:create_app", "--factory", "--port", str(port)]
        self.start("api", cmd + (["--workers", str(workers)] if workers > 1 else []))
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
        raise RuntimeError("server did not become ready:\n" + self.log("api"))

    def start_worker(
        self,
        name: str,
        wait: bool = True,
        *,
        queues: str = "cpu,gpu",
        pool: tuple[str, ...] = ("--pool", "solo"),
    ) -> subprocess.Popen[bytes]:
        """A `celery worker` process on `queues` (by default a solo pool on both; docker-compose
        runs `("--concurrency", "2")`, a prefork pool); by default returns once it consumes."""
        celery = [str(BIN / "celery"), "-A", "workers.celery_app", "worker", "-Q", queues]
        proc = self.start(name, [*celery, *pool, "--hostname", f"{name}@%h", "--loglevel", "INFO"])
        deadline = time.monotonic() + 60
        while wait and " ready." not in self.log(name, tail=10**6):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker {name} did not start:\n" + self.log(name))
            time.sleep(0.1)
        return proc

    def start_beat(self, name: str = "beat") -> subprocess.Popen[bytes]:
        """`celery beat`, which schedules the reaper; its schedule file stays in the logs."""
        schedule = str(self.logs / f"{name}-schedule")
        cmd = [str(BIN / "celery"), "-A", "workers.celery_app", "beat", "--schedule", schedule]
        return self.start(name, [*cmd, "--loglevel", "INFO"])

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
    """Production-mode environment over a new, migrated database."""
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
