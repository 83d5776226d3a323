"""The API process answers without numerics: listing kinds, validating every kind's spec and
queueing jobs never import torch or numpy (the registry names classes by path; only workers
import them). The import contracts check the static imports; this checks the running process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from models.forecasting.registry import AUTO, KINDS

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, sys
from fastapi.testclient import TestClient
from app.config import Settings
from app.main import create_app

settings = Settings(database_url=sys.argv[1], embedded_worker=False, auth="off")
with TestClient(create_app(settings)) as client:
    kinds = client.get("/v1/kinds").json()["items"]
    codes = []
    for k in kinds:
        body = {"series": [{"id": "s", "values": [float(i % 7) for i in range(400)]}],
                "horizon": 3, "model": {"kind": k["name"]}}
        codes.append(client.post("/v1/forecasts", json=body).status_code)
    bad = client.post("/v1/forecasts", json={"series": [{"id": "s", "values": [1.0] * 50}],
                                             "horizon": 3, "model": {"kind": "nope"}})
print(json.dumps({"codes": codes, "bad": bad.json(),
                  "loaded": sorted(m for m in ("torch", "numpy", "scipy") if m in sys.modules)}))
"""


def test_the_api_process_never_loads_numerics(database_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KALMANAC_")}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, database_url],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["loaded"] == []
    assert report["codes"] == [202] * (len(KINDS) + 1)  # every kind and auto, queued
    (item,) = report["bad"]["detail"]
    assert item["field"] == "model.kind" and item["type"] == "unknown_model_kind"
    for k in KINDS:
        assert k.name in item["msg"]


def test_kinds_lists_the_registry(client: TestClient) -> None:
    r = client.get("/v1/kinds")  # public: no key
    assert r.status_code == 200
    items = {k["name"]: k for k in r.json()["items"]}
    assert list(items) == [*(k.name for k in KINDS), AUTO]
    assert [n for n, k in items.items() if k["default"]] == [KINDS[0].name]
    for k in KINDS:
        item = items[k.name]
        assert item["accelerated"] == k.accelerated and item["surrogate"] == k.surrogate
        assert item["params"]["type"] == "object" and item["params"]["properties"]
    assert items[AUTO]["candidates"] == [k.name for k in KINDS if k.auto]
    assert set(items[AUTO]["params"]["properties"]) >= set(items[AUTO]["candidates"])
    json.dumps(r.json())
