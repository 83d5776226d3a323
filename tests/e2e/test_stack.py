"""End to end through real processes: `kalmanac keys create`, a uvicorn server, a
`celery worker` on the cpu and gpu queues with Redis as the broker, and PostgreSQL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Databases, alembic

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
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


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def server(stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    logs = tmp_path_factory.mktemp("e2e")
    port = free_port()
    api = start(
        [str(BIN / "uvicorn"), "app.main:create_app", "--factory", "--port", str(port)],
        stack_env,
        logs / "api.log",
    )
    worker = start(
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
            "e2e@%h",
            "--loglevel",
            "INFO",
        ],
        stack_env,
        logs / "worker.log",
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert api.poll() is None, (logs / "api.log").read_text()
            time.sleep(0.2)
        else:
            pytest.fail("server did not become ready:\n" + (logs / "api.log").read_text())
        yield base
    finally:
        stop(api)
        stop(worker)
        print((logs / "worker.log").read_text()[-3000:])


def create_key(env: dict[str, str], tenant: str) -> str:
    out = subprocess.run(
        [str(BIN / "kalmanac"), "keys", "create", "--tenant", tenant],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    key = out.stdout.strip()
    assert key.startswith("kal_") and "shown only this once" in out.stderr
    return key


def test_forecast_through_celery_and_redis(server: str, stack_env: dict[str, str]) -> None:
    key = create_key(stack_env, "e2e")
    auth = {"Authorization": f"Bearer {key}"}
    assert httpx.get(f"{server}/v1/jobs", timeout=5).status_code == 401
    values = [float(((i * 37) % 17) - 8) / 3 for i in range(200)]
    r = httpx.post(
        f"{server}/v1/forecasts?wait=30",
        json={"series": [{"id": "s1", "values": values}], "horizon": 12, "levels": [80, 95]},
        headers=auth,
        timeout=40,
    )
    assert r.status_code == 200, r.text
    job = r.json()
    assert job["status"] == "succeeded", job
    assert job["worker"].startswith("e2e@") and job["device"] == "cpu"
    s = job["result"]["series"][0]
    assert len(s["mean"]) == 12 and len(s["intervals"]["95"]["upper"]) == 12
    assert all(e > 0 for e in s["epistemic_std"])

    other = {"Authorization": f"Bearer {create_key(stack_env, 'e2e-other')}"}
    assert httpx.get(f"{server}/v1/forecasts/{job['id']}", headers=other).status_code == 404

    revoke = subprocess.run(
        [str(BIN / "kalmanac"), "keys", "revoke", key],
        env=stack_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert revoke.returncode == 0, revoke.stderr
    assert httpx.get(f"{server}/v1/jobs", headers=auth).status_code == 401
