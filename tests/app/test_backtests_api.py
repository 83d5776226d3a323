"""Backtests through HTTP: a rolling-origin job whose metrics stay in the job history."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient

from tests.app.test_models_api import ar2


def run_backtest(client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> Any:
    r = client.post("/v1/backtests", json=body, headers=headers)
    assert r.status_code == 202, r.text
    url = r.headers["location"]
    deadline = time.monotonic() + 60
    while (job := client.get(url, headers=headers).json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert job["status"] == "succeeded", job
    return job


def test_backtest_metrics(client: TestClient, headers: dict[str, str]) -> None:
    body = {
        "series": [{"id": "s1", "values": ar2(300, 0)}],
        "model": {"kind": "bayes_ar"},
        "horizon": 8,
        "folds": 4,
        "levels": [80, 95],
        "lyapunov_time": 4.0,
    }
    job = run_backtest(client, headers, body)
    m = job["result"]["series"][0]["metrics"]
    assert m["folds"] == 4 and m["horizon"] == 8
    overall = m["overall"]
    for key in ("crps", "mase", "smape", "coverage_80", "coverage_95", "interval_score_95", "vpt"):
        assert key in overall, key
    assert 0 <= overall["coverage_80"] <= overall["coverage_95"] <= 1
    assert 0 <= overall["smape"] <= 200 and len(m["per_step"]["crps"]) == 8
    history = client.get("/v1/jobs", params={"kind": "backtest"}, headers=headers).json()["items"]
    assert [j["id"] for j in history] == [job["id"]]


def test_each_fold_is_fitted_without_the_gross_faults_as_a_forecast_is(
    client: TestClient, headers: dict[str, str]
) -> None:
    values = ar2(300, 1)
    values[100] = 1e4  # in every fold's history
    body = {"series": [{"id": "s", "values": values}], "horizon": 8, "folds": 3}
    aside = run_backtest(client, headers, body)["result"]["series"][0]["metrics"]["overall"]
    kept = run_backtest(client, headers, {**body, "outliers": "keep"})
    fitted_on_it = kept["result"]["series"][0]["metrics"]["overall"]
    assert aside["crps"] < 0.2 * fitted_on_it["crps"]


def test_backtest_needs_enough_data(client: TestClient, headers: dict[str, str]) -> None:
    body = {"series": [{"id": "s1", "values": ar2(40, 0)}], "horizon": 10, "folds": 5}
    r = client.post("/v1/backtests", json=body, headers=headers)
    assert r.status_code == 422 and "too short" in r.json()["detail"][0]["msg"]
    auto = {**body, "series": [{"id": "s1", "values": ar2(400, 0)}], "model": {"kind": "auto"}}
    r = client.post("/v1/backtests", json=auto, headers=headers)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "model.kind"
