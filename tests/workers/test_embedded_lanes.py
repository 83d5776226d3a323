"""The embedded mode (`make run`: SQLite, in-memory broker, the worker inside the API
process) has a lane per queue, and runs several cpu jobs at once: while an observer trains
(gpu), a stream assimilates its observations and forecasts finish (cpu), and nothing fails
or retries on SQLite's single write lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, time
from fastapi.testclient import TestClient
from app.config import get_settings
from app.main import create_app

OBSERVER = {"kind": "observer", "params": {
    "dynamics": {"system": "lorenz96", "params": {"n": 40, "F": 8.0}, "dt": 0.05},
    "observation": {"indices": None, "noise_std": 1.0}, "iterations": 20000}}
STREAM = {"dynamics": {"system": "lorenz63", "dt": 0.01},
          "observation": {"indices": [0, 2], "noise_std": 1.0},
          "filter": {"method": "etkf", "ensemble_size": 20, "inflation": "adaptive"},
          "initial": {"mean": [1, 1, 20], "std": 2.0}}
OBS = [{"seq": k, "t": 0.05 * k, "values": [1.0 + k, 20.0 - k]} for k in range(1, 6)]

def until(check, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (value := check()):
            return value
        time.sleep(0.1)
    return None

with TestClient(create_app(get_settings())) as client:
    train = client.post("/v1/models", json={"name": "slow", "model": OBSERVER}).json()
    assert "id" in train, train
    job = lambda: client.get(f"/v1/jobs/{train['id']}").json()
    assert until(lambda: job()["status"] == "running", 60), job()
    sid = client.post("/v1/streams", json=STREAM).json()["id"]
    client.post(f"/v1/streams/{sid}/observations", json={"observations": OBS})
    state = until(lambda: (s := client.get(f"/v1/streams/{sid}").json())["pending"] == 0
                  and s["n_assimilated"] == len(OBS) and s, 60)
    series = [{"id": "a", "values": [float(i % 5) for i in range(40)]}]
    body = {"series": series, "horizon": 3, "model": {"kind": "bayes_ar"}}
    ids = [client.post("/v1/forecasts", json=body).json()["id"] for _ in range(6)]
    def finished():
        states = [client.get(f"/v1/forecasts/{i}").json()["status"] for i in ids]
        return states if all(s in ("succeeded", "failed") for s in states) else None
    forecasts = until(finished, 60)
    during = job()
    client.post(f"/v1/jobs/{train['id']}/cancel")
print(json.dumps({"stream": state, "forecasts": forecasts, "training": during}))
"""


def test_streams_and_forecasts_run_while_a_model_trains(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'embedded.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KALMANAC_")}
    env |= {"KALMANAC_DATABASE_URL": url, "KALMANAC_BROKER_URL": "memory://"}
    env |= {"KALMANAC_EMBEDDED_LANES": "2"}
    run = {"cwd": ROOT, "env": env, "capture_output": True, "text": True, "timeout": 300}
    migrate = subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], **run)
    assert migrate.returncode == 0, migrate.stderr
    out = subprocess.run([sys.executable, "-c", SCRIPT], **run)
    assert out.returncode == 0, out.stderr[-4000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["stream"], "the stream's observations waited behind the training"
    assert report["stream"]["n_assimilated"] == 5 and report["stream"]["n_skipped"] == 0
    assert report["forecasts"] == ["succeeded"] * 6
    assert report["training"]["status"] == "running" and report["training"]["attempts"] == 1
    assert "database is locked" not in out.stderr
