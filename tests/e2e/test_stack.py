"""End to end through real processes: `kalmanac keys create`, a uvicorn server, a
`celery worker` on the cpu and gpu queues with Redis as the broker, and PostgreSQL."""

from __future__ import annotations

import subprocess

import httpx
import pytest

from tests.e2e.conftest import BIN, ROOT, Stack

pytestmark = pytest.mark.e2e


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


def test_forecast_through_celery_and_redis(stack: Stack) -> None:
    server, stack_env = stack.base, stack.env
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
    assert job["worker"].startswith("worker1@") and job["device"] == "cpu"
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
