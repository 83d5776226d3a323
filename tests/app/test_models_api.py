"""Model versions through HTTP: train, list, alias, forecast from stored weights."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from models.forecasting.registry import KINDS
from tests.conftest import issue_key

SMALL_ENSEMBLE = {"lags": 8, "hidden": 16, "members": 4, "epochs": 40, "patience": 10}


def ar2(n: int, seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    y = np.zeros(n)
    for t in range(2, n):
        y[t] = 0.6 * y[t - 1] - 0.3 * y[t - 2] + rng.normal()
    return [round(float(v), 6) for v in y]


def wait_job(client: TestClient, job_id: str, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}", headers=headers).json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return dict(job)
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


def train(
    client: TestClient,
    headers: dict[str, str],
    name: str,
    model: dict[str, Any],
    values: list[float] | dict[str, Any],
) -> dict[str, Any]:
    """Train a version on `values` (or on a whole posted series: timestamps, drivers)."""
    series = values if isinstance(values, dict) else {"id": "train", "values": values}
    r = client.post(
        "/v1/models",
        json={"name": name, "model": model, "series": [series]},
        headers=headers,
    )
    assert r.status_code == 202, r.text
    job = wait_job(client, r.json()["id"], headers)
    assert job["status"] == "succeeded", job
    return job


def test_versions_aliases_and_stored_forecast(client: TestClient, headers: dict[str, str]) -> None:
    y = ar2(400, 0)
    first = train(client, headers, "demand", {"kind": "bayes_ar"}, y)
    assert first["kind"] == "train" and first["device"] == "cpu"
    train(client, headers, "demand", {"kind": "bayes_ar", "params": {"max_lag": 4}}, y[:300])

    model = client.get("/v1/models/demand", headers=headers).json()
    assert model["latest_version"] == 2
    v1, v2 = sorted(model["versions"], key=lambda v: v["version"])
    assert v2["parent_version"] == 1 and v1["parent_version"] is None
    assert v1["data_fingerprint"] != v2["data_fingerprint"] and v1["artifact_bytes"] > 0
    assert v2["params"]["max_lag"] == 4 and v2["job_id"]
    listed = client.get("/v1/models", headers=headers).json()["items"]
    assert [(m["name"], m["latest_version"]) for m in listed] == [("demand", 2)]

    r = client.put("/v1/models/demand/aliases/production", json={"version": 1}, headers=headers)
    assert r.status_code == 200 and r.json()["aliases"] == {"production": 1}
    assert client.get("/v1/models/demand/versions/1", headers=headers).json()["aliases"] == [
        "production"
    ]

    context = ar2(60, 1)
    body = {
        "series": [{"id": "s", "values": context}],
        "horizon": 5,
        "seed": 3,
        "model": {"name": "demand", "alias": "production"},
    }
    out = client.post("/v1/forecasts?wait=20", json=body, headers=headers).json()
    assert out["status"] == "succeeded", out
    assert out["model"]["version"] == 1 and out["model"]["kind"] == "bayes_ar"
    by_version = client.post(
        "/v1/forecasts?wait=20",
        json={**body, "model": {"name": "demand", "version": 1}},
        headers=headers,
    ).json()
    assert by_version["result"] == out["result"]

    # Loaded in a fresh process from the stored bytes, the same seed gives the same numbers.
    script = (
        "import json, sys; from app.db.session import get_sessionmaker; "
        "from app.db.repositories import model_versions as mv; "
        "from models.seeding import derived_seed; "
        "from models.forecasting.serialize import loads; "
        "a = json.loads(sys.argv[1]); "
        "s = get_sessionmaker(a['url'])(); v = mv.get_by_id(s, a['vid']); "
        "f = loads(v.artifact).predict(5, levels=[80, 95], num_samples=1000, "
        "seed=derived_seed(3, 0), context=a['y']); print(json.dumps(f.mean[:, 0].tolist()))"
    )
    args = {
        "url": client.app.state.settings.database_url,
        "vid": out["model"]["version_id"],  # type: ignore[attr-defined]
        "y": context,
    }
    fresh = subprocess.run(
        [sys.executable, "-c", script, json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(fresh.stdout) == out["result"]["series"][0]["mean"]


def test_ensemble_trains_on_the_gpu_queue(client: TestClient, headers: dict[str, str]) -> None:
    y = ar2(300, 2)
    job = train(client, headers, "nets", {"kind": "ensemble", "params": SMALL_ENSEMBLE}, y)
    assert job["model"]["kind"] == "ensemble"
    version = client.get("/v1/models/nets/versions/1", headers=headers).json()
    assert version["kind"] == "ensemble" and version["metrics"]["device"] in ("cpu", "cuda")
    out = client.post(
        "/v1/forecasts?wait=30",
        json={
            "series": [{"id": "s", "values": y[-50:]}],
            "horizon": 4,
            "model": {"name": "nets", "version": 1},
        },
        headers=headers,
    ).json()
    assert out["status"] == "succeeded", out
    s = out["result"]["series"][0]
    assert all(e > 0 for e in s["epistemic_std"]) and all(a > 0 for a in s["aleatoric_std"])


@pytest.mark.parametrize("kind", ["bayes_ar_bma", "bayes_ar_pool"])
def test_averaged_ar_version_forecasts_from_its_stored_candidates(
    client: TestClient, headers: dict[str, str], kind: str
) -> None:
    """A bayes_ar_bma version (alone or in the pool) keeps its weighted candidates; a
    forecast from it (calibrated too) conditions on the posted context without refitting,
    and a non-positive reading far off the rest is set aside as a fault, or with it kept, the
    context is refused with the reason when the log scale carries weight."""
    t = np.arange(240)
    sales = np.exp(3.0 + 0.01 * t + 0.05 * np.sin(2 * np.pi * t / 12)) * (1 + 0.02 * np.cos(t))
    y = [round(float(v), 6) for v in sales]
    params = {"max_lag": 4, "season_length": 12, "fourier_order": 1}
    train(client, headers, "sales", {"kind": kind, "params": params}, y)
    version = client.get("/v1/models/sales/versions/1", headers=headers).json()
    fitted = version["metrics"]["fitted"]
    cands = (fitted if kind == "bayes_ar_bma" else fitted["bayes_ar_bma"])["candidates"]
    assert version["kind"] == kind and any(c["log"] for c in cands)
    body = {
        "series": [{"id": "s", "values": y[-100:]}],
        "horizon": 6,
        "calibration": "conformal",
        "calibration_folds": 5,
        "model": {"name": "sales", "version": 1},
    }
    out = client.post("/v1/forecasts?wait=30", json=body, headers=headers).json()
    assert out["status"] == "succeeded", out
    s = out["result"]["series"][0]
    assert out["model"]["kind"] == kind and set(s["calibrated_intervals"]) == {"80", "95"}
    assert all(m > 0 for m in s["median"])

    body["series"] = [{"id": "s", "values": [*y[-99:], -1.0]}]
    body.pop("calibration")
    out = client.post("/v1/forecasts?wait=30", json=body, headers=headers).json()
    assert out["status"] == "succeeded", out
    (aside,) = out["result"]["series"][0]["set_aside"]
    assert aside["index"] == 99 and aside["value"] == -1.0
    body["outliers"] = "keep"
    out = client.post("/v1/forecasts?wait=30", json=body, headers=headers).json()
    assert out["status"] == "failed" and "context must be positive" in json.dumps(out["error"])


def test_model_errors(client: TestClient, headers: dict[str, str], settings: object) -> None:
    missing = {
        "series": [{"id": "s", "values": ar2(40, 0)}],
        "horizon": 3,
        "model": {"name": "nope", "version": 1},
    }
    assert client.post("/v1/forecasts", json=missing, headers=headers).status_code == 404
    both = {**missing, "model": {"name": "nope", "version": 1, "alias": "x"}}
    r = client.post("/v1/forecasts", json=both, headers=headers)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "model"
    bad_name = {"name": "a b", "series": [{"id": "s", "values": ar2(40, 0)}]}
    assert client.post("/v1/models", json=bad_name, headers=headers).status_code == 422
    two = {"name": "x", "series": [{"id": "a", "values": ar2(40, 0)}] * 2}
    assert client.post("/v1/models", json=two, headers=headers).status_code == 422
    short = {
        "name": "x",
        "model": {"kind": "ensemble"},
        "series": [{"id": "a", "values": [1.0] * 10}],
    }
    r = client.post("/v1/models", json=short, headers=headers)
    assert r.status_code == 422 and "too short" in r.json()["detail"][0]["msg"]
    assert client.get("/v1/models/nope", headers=headers).status_code == 404
    r = client.put("/v1/models/nope/aliases/prod", json={"version": 1}, headers=headers)
    assert r.status_code == 404

    train(client, headers, "mine", {"kind": "bayes_ar"}, ar2(100, 0))
    other = {"Authorization": f"Bearer {issue_key(settings)}"}  # type: ignore[arg-type]
    assert client.get("/v1/models/mine", headers=other).status_code == 404
    assert client.get("/v1/models/mine/versions/1", headers=other).status_code == 404
    assert client.get("/v1/models", headers=other).json()["items"] == []
    r = client.put("/v1/models/mine/aliases/prod", json={"version": 1}, headers=other)
    assert r.status_code == 404
    stolen = {**missing, "model": {"name": "mine", "version": 1}}
    assert client.post("/v1/forecasts", json=stolen, headers=other).status_code == 404


def test_auto_records_its_choice(client: TestClient, headers: dict[str, str]) -> None:
    body = {
        "series": [{"id": "s", "values": ar2(300, 4)}],
        "horizon": 5,
        "model": {"kind": "auto", "params": {"ensemble": SMALL_ENSEMBLE}},
    }
    out = client.post("/v1/forecasts?wait=30", json=body, headers=headers).json()
    assert out["status"] == "succeeded", out
    auto = out["result"]["series"][0]["fitted"]["auto"]
    candidates = {k.name for k in KINDS if k.auto}
    assert auto["choice"] in candidates and set(auto["validation_crps"]) == candidates


def test_auto_chooses_among_the_candidates_given(
    client: TestClient, headers: dict[str, str]
) -> None:
    body: dict[str, Any] = {
        "series": [{"id": "s", "values": ar2(200, 6)}],
        "horizon": 3,
        "model": {"kind": "auto", "params": {"candidates": ["analog", "bayes_ar_pool"]}},
    }
    out = client.post("/v1/forecasts?wait=30", json=body, headers=headers).json()
    assert out["status"] == "succeeded", out
    auto = out["result"]["series"][0]["fitted"]["auto"]
    assert set(auto["validation_crps"]) == {"analog", "bayes_ar_pool"}
    x = [float(v) for v in range(203)]
    body["series"][0]["covariates"] = {"temp": {"values": x[:200], "future": x[200:]}}
    body["model"]["params"]["candidates"] = ["analog"]
    r = client.post("/v1/forecasts", json=body, headers=headers)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "model.params.candidates"
    body["model"]["params"]["candidates"] = ["bayes_ar"]
    r = client.post("/v1/forecasts", json=body, headers=headers)
    assert r.status_code == 422 and r.json()["detail"][0]["field"].startswith("model")


def test_conformal_calibration_is_reported_beside(
    client: TestClient, headers: dict[str, str]
) -> None:
    body = {
        "series": [{"id": "s", "values": ar2(300, 5)}],
        "horizon": 5,
        "levels": [80, 95],
        "calibration": "conformal",
        "calibration_folds": 10,
    }
    out = client.post("/v1/forecasts?wait=30", json=body, headers=headers).json()
    assert out["status"] == "succeeded", out
    s = out["result"]["series"][0]
    assert set(s["calibrated_intervals"]) == {"80", "95"} and set(s["intervals"]) == {"80", "95"}
    assert s["calibration"]["method"] == "split_conformal" and s["calibration"]["folds"] == 10
    assert s["calibrated_intervals"] != s["intervals"]
    origins = s["calibration"]["origins"]  # spread over the series, the last ending at T
    assert len(origins) == 10 and origins[-1] == 300 - 5 and origins[0] < 50


def test_conformal_calibration_on_a_too_short_series_is_refused_up_front(
    client: TestClient, headers: dict[str, str]
) -> None:
    body = {
        "series": [{"id": "s", "values": ar2(40, 5)}],
        "horizon": 30,
        "model": {"kind": "bayes_ar", "params": {"lags": 2}},
        "calibration": "conformal",
    }
    r = client.post("/v1/forecasts?wait=30", json=body, headers=headers)
    assert r.status_code == 422, r.text
    (item,) = r.json()["detail"]
    assert item["field"] == "series.0.values" and "to calibrate" in item["msg"]


def test_cancel_stops_training(client: TestClient, headers: dict[str, str]) -> None:
    long = {"lags": 16, "hidden": 64, "members": 8, "epochs": 5000, "patience": 5000}
    r = client.post(
        "/v1/models",
        json={
            "name": "long",
            "model": {"kind": "ensemble", "params": long},
            "series": [{"id": "t", "values": ar2(3000, 9)}],
        },
        headers=headers,
    )
    job_id = r.json()["id"]
    assert r.json()["queue"] == "gpu"
    deadline = time.monotonic() + 60
    while (job := client.get(f"/v1/jobs/{job_id}", headers=headers).json())["progress"] == 0:
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
    assert job["status"] == "running"
    assert client.post(f"/v1/jobs/{job_id}/cancel", headers=headers).json()["status"] == "cancelled"
    # The single embedded worker is free again once training has stopped.
    started = time.monotonic()
    quick = {"series": [{"id": "s", "values": ar2(50, 0)}], "horizon": 2}
    out = client.post("/v1/forecasts?wait=30", json=quick, headers=headers).json()
    assert out["status"] == "succeeded"
    assert time.monotonic() - started < 15
    final = client.get(f"/v1/jobs/{job_id}", headers=headers).json()
    assert final["status"] == "cancelled" and final["progress"] < 1
    assert client.get("/v1/models/long", headers=headers).status_code == 404


def test_an_analog_library_forecasts_a_short_series(
    client: TestClient, headers: dict[str, str]
) -> None:
    """Several series make a library (a library kind only); a forecast with the version
    matches a short posted series against it, and the version's own forecast holds up. A
    logger's error code in a library series is set aside (not matched) and reported."""
    t = np.arange(300)
    library = [
        {"id": f"s{i}", "values": (3 + np.sin(2 * np.pi * t / 25 + i)).round(6).tolist()}
        for i in range(3)
    ]
    library[1]["values"][40] = 9999.0
    body = {"name": "shapes", "model": {"kind": "analog"}, "series": library}
    r = client.post("/v1/models", json=body, headers=headers)
    assert r.status_code == 202, r.text
    job = wait_job(client, r.json()["id"], headers)
    assert job["status"] == "succeeded", job
    version = client.get("/v1/models/shapes/versions/1", headers=headers).json()
    fitted = version["metrics"]["fitted"]
    assert version["kind"] == "analog" and fitted["library_series"] == 3
    (aside,) = fitted["set_aside"]
    assert (aside["series"], aside["index"], aside["value"]) == (1, 40, 9999.0)

    short = (3 + np.sin(2 * np.pi * np.arange(75) / 25 + 0.5)).round(6).tolist()
    ask = {"series": [{"id": "new", "values": short}], "horizon": 10}
    r = client.post(
        "/v1/forecasts?wait=20",
        json={**ask, "model": {"name": "shapes", "version": 1}},
        headers=headers,
    )
    assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text
    mean = np.asarray(r.json()["result"]["series"][0]["mean"])
    truth = 3 + np.sin(2 * np.pi * np.arange(75, 85) / 25 + 0.5)
    assert np.max(np.abs(mean - truth)) < 0.2

    one_series = {**body, "model": {"kind": "bayes_ar"}}
    r = client.post("/v1/models", json=one_series, headers=headers)
    assert r.status_code == 422 and "analog" in r.json()["detail"][0]["msg"]
