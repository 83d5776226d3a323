"""The forecast API through HTTP against PostgreSQL, with the embedded worker."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

AR2 = [float(x) for x in np.round(np.sin(np.arange(120) / 3.0) + 0.1 * np.arange(120) % 3, 4)]


def body(**overrides: object) -> dict[str, object]:
    b: dict[str, object] = {
        "series": [{"id": "s1", "values": AR2}],
        "horizon": 5,
        "levels": [80, 95],
        "quantiles": [0.1, 0.5, 0.9],
        "seed": 0,
    }
    b.update(overrides)
    return b


def test_wait_returns_result(client: TestClient, headers: dict[str, str]) -> None:
    r = client.post("/v1/forecasts?wait=20", json=body(), headers=headers)
    assert r.status_code == 200, r.text
    job = r.json()
    assert job["status"] == "succeeded"
    assert r.headers["location"] == f"/v1/forecasts/{job['id']}"
    (s,) = job["result"]["series"]
    assert s["id"] == "s1"
    for key in ("mean", "median", "std", "epistemic_std", "aleatoric_std"):
        assert len(s[key]) == 5
    assert set(s["intervals"]) == {"80", "95"}
    assert set(s["quantiles"]) == {"0.1", "0.5", "0.9"}
    lo80, hi80 = s["intervals"]["80"]["lower"], s["intervals"]["80"]["upper"]
    lo95, hi95 = s["intervals"]["95"]["lower"], s["intervals"]["95"]["upper"]
    assert all(a <= b <= c <= d for a, b, c, d in zip(lo95, lo80, hi80, hi95, strict=True))
    assert all(e > 0 and a > 0 for e, a in zip(s["epistemic_std"], s["aleatoric_std"], strict=True))


def test_202_then_poll(client: TestClient, headers: dict[str, str]) -> None:
    r = client.post("/v1/forecasts", json=body(), headers=headers)
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] in ("queued", "running", "succeeded")
    assert job["result"] is None
    final = wait_for(client, r.headers["location"], headers)
    assert final["status"] == "succeeded"
    assert final["attempts"] == 1 and final["device"] == "cpu" and final["worker"]
    assert final["started_at"] and final["finished_at"] and final["progress"] == 1.0


def wait_for(client: TestClient, url: str, headers: dict[str, str]) -> dict[str, object]:
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = client.get(url, headers=headers).json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"{url} did not finish")


def test_same_seed_same_numbers(client: TestClient, headers: dict[str, str]) -> None:
    a = client.post("/v1/forecasts?wait=20", json=body(seed=7), headers=headers).json()
    b = client.post("/v1/forecasts?wait=20", json=body(seed=7), headers=headers).json()
    c = client.post("/v1/forecasts?wait=20", json=body(seed=8), headers=headers).json()
    assert a["id"] != b["id"]
    assert a["result"] == b["result"]
    assert a["result"]["series"][0]["mean"] != c["result"]["series"][0]["mean"]
    assert a["seed"] == 7 and a["model"]["kind"] == "bayes_ar" and a["code_version"]


def test_idempotency_key(client: TestClient, headers: dict[str, str]) -> None:
    h = {**headers, "Idempotency-Key": "abc-123"}
    first = client.post("/v1/forecasts", json=body(), headers=h)
    again = client.post("/v1/forecasts", json=body(), headers=h)
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    other = client.post("/v1/forecasts", json=body(horizon=6), headers=h)
    assert other.status_code == 409
    assert other.json()["error"] == "conflict"
    jobs = client.get("/v1/jobs", headers=headers).json()["items"]
    assert len(jobs) == 1


def test_multivariate_rows(client: TestClient, headers: dict[str, str]) -> None:
    rng = np.random.default_rng(0)
    rows = np.cumsum(rng.normal(size=(80, 2)), axis=0) * 0.1
    r = client.post(
        "/v1/forecasts?wait=20",
        json=body(
            series=[{"id": "xy", "values": rows.tolist()}],
            horizon=4,
            return_samples=True,
            num_samples=50,
        ),
        headers=headers,
    )
    assert r.status_code == 200, r.text
    s = r.json()["result"]["series"][0]
    assert np.shape(s["mean"]) == (4, 2)
    assert np.shape(s["intervals"]["95"]["lower"]) == (4, 2)
    assert np.shape(s["samples"]) == (50, 4, 2)


def test_timestamps_continue(client: TestClient, headers: dict[str, str]) -> None:
    ts = [f"2026-01-01T{h:02d}:00:00Z" for h in range(24)]
    series = [{"id": "hourly", "values": AR2[:24], "timestamps": ts}]
    r = client.post("/v1/forecasts?wait=20", json=body(series=series, horizon=2), headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["result"]["series"][0]["timestamps"] == [
        "2026-01-02T00:00:00Z",
        "2026-01-02T01:00:00Z",
    ]


def test_model_averaging_kind(client: TestClient, headers: dict[str, str]) -> None:
    """bayes_ar_bma reports its candidates' weights; a positive trending series puts weight
    on the log scale, and a too-short series is refused with the minimum."""
    growth = np.exp(0.01 * np.arange(150) + 0.02 * np.sin(np.arange(150)) + 2.0).round(6)
    spec = {"kind": "bayes_ar_bma", "params": {"max_lag": 4}}
    series = [{"id": "g", "values": growth.tolist()}]
    r = client.post("/v1/forecasts?wait=20", json=body(series=series, model=spec), headers=headers)
    assert r.status_code == 200, r.text
    job = r.json()
    assert job["status"] == "succeeded", job
    (s,) = job["result"]["series"]
    cands = s["fitted"]["candidates"]
    assert sum(c["weight"] for c in cands) == pytest.approx(1.0)
    assert sum(c["weight"] for c in cands if c["log"]) > 0.5
    assert all(m > growth[-1] for m in s["median"])  # the growth carries on

    short = [{"id": "g", "values": [1.0, 2.0, 3.0, 4.0]}]
    r = client.post("/v1/forecasts", json=body(series=short, model=spec), headers=headers)
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "series.0.values" and "at least 7" in r.text
