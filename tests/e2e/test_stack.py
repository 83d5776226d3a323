"""End to end through real processes: `kalmanac keys create`, a uvicorn server, a
`celery worker` on the cpu and gpu queues with Redis as the broker, and PostgreSQL."""

from __future__ import annotations

import subprocess
import time

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


def test_train_on_gpu_queue_then_forecast_by_alias(stack: Stack) -> None:
    auth = {"Authorization": f"Bearer {create_key(stack.env, 'e2e-models')}"}
    values = [float(((i * 37) % 17) - 8) / 3 for i in range(300)]
    small = {"lags": 8, "hidden": 16, "members": 4, "epochs": 30, "patience": 10}
    with httpx.Client(base_url=stack.base, headers=auth, timeout=60) as http:
        r = http.post(
            "/v1/models",
            json={
                "name": "nets",
                "model": {"kind": "ensemble", "params": small},
                "series": [{"id": "t", "values": values}],
            },
        )
        assert r.status_code == 202, r.text
        job = r.json()
        assert job["queue"] == "gpu"
        deadline = time.monotonic() + 120
        while job["status"] in ("queued", "running"):
            assert time.monotonic() < deadline
            time.sleep(0.2)
            job = http.get(f"/v1/jobs/{job['id']}").json()
        assert job["status"] == "succeeded", job
        assert job["worker"].startswith("worker1@") and job["device"] == "cpu"
        assert (
            http.put("/v1/models/nets/aliases/production", json={"version": 1}).status_code == 200
        )
        out = http.post(
            "/v1/forecasts?wait=30",
            json={
                "series": [{"id": "s", "values": values[-40:]}],
                "horizon": 6,
                "model": {"name": "nets", "alias": "production"},
            },
        ).json()
        assert out["status"] == "succeeded", out
        assert out["queue"] == "gpu" and out["model"]["version"] == 1
        assert len(out["result"]["series"][0]["epistemic_std"]) == 6
