"""The benchmarks run (quick mode) and write well-formed JSON; their numbers are for bench/."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from bench.forecast_speed import main as forecast_speed


def test_forecast_speed_quick(tmp_path: Path) -> None:
    out = tmp_path / "forecast_speed.json"
    result = forecast_speed(["--quick", "--out", str(out)])
    saved = json.loads(out.read_text())
    methods = {row["method"] for row in saved["summary"]}
    assert methods == {"bayes_ar", "AutoARIMA", "AutoETS"}
    for row in result["summary"]:
        assert row["median_seconds"] > 0 and 0 <= row["coverage95"] <= 1


def test_long_series_quick(tmp_path: Path) -> None:
    """A gappy record goes through the worker's fit path and is scored on complete values."""
    from bench.long_series import main as long_series

    out = tmp_path / "long_series.json"
    result = long_series(["--quick", "--out", str(out)])
    (row,) = json.loads(out.read_text())["rows"]
    assert row == json.loads(json.dumps(result["rows"][0]))
    assert (row["kind"], row["T"]) == ("bayes_ar", 500) and 0.06 < row["missing"] < 0.1
    assert row["seconds"] > 0 and np.isfinite(row["crps"]) and 0 <= row["cov95"] <= 1


def test_stream_throughput_quick_loses_nothing(tmp_path: Path, redis_url: str) -> None:
    from bench.stream_throughput import main as stream_throughput

    out = tmp_path / "stream_throughput.json"
    result = stream_throughput(["--quick", "--redis", redis_url, "--out", str(out)])
    assert json.loads(out.read_text())["rows"] == result["rows"]
    production = [r for r in result["rows"] if r["scenario"].startswith("production")]
    assert len(production) == 3 and all(r["batch"] == 100 and "polls" in r for r in production)
    assert "production assimilated obs/s" in result["targets"]
    for row in result["rows"]:
        assert row["lost"] == 0 and row["assimilated_obs_per_s"] > 0


def test_ensemble_training_quick(tmp_path: Path) -> None:
    from bench.ensemble_training import main as ensemble_training

    result = ensemble_training(["--quick", "--out", str(tmp_path / "e.json")])
    assert {r["device"] for r in result["rows"]} >= {"cpu"}
    assert all(r["epochs_run"] >= 1 and r["seconds"] > 0 for r in result["rows"])


def test_observer_training_quick(tmp_path: Path) -> None:
    from bench.observer_training import main as observer_training

    out = tmp_path / "t.json"
    result = observer_training(
        ["--quick", "--devices", "cpu", "--setups", "KS quarter", "--out", str(out)]
    )
    (row,) = result["rows"]
    assert (row["setup"], row["device"], row["iterations"]) == ("KS quarter", "cpu", 40)
    assert row["train_s"] > 0 and 0 < row["twin_rmse"] < 10 and out.exists()


def test_gpu_service_quick(tmp_path: Path) -> None:
    """The gpu queue's jobs through a real embedded-mode server, on the device there is."""
    from bench.gpu_service import main as gpu_service

    result = gpu_service(["--quick", "--out", str(tmp_path / "g.json")])
    device = "cuda" if torch.cuda.is_available() else "cpu"
    assert [(r["queue"], r["device"]) for r in result["rows"]] == [("gpu", device)] * 4
    assert 0 < result["rows"][0]["twin_rmse"] < 10


def test_observer_quick(tmp_path: Path) -> None:
    """Every method runs on every quick setup, and the tuned 3D-Var and the filters track."""
    from bench.observer import main as observer

    result = observer(["--quick", "--no-api", "--out", str(tmp_path / "o.json")])
    by = {(r["setup"], r["method"].split(" ")[0]): r for r in result["rows"]}
    assert {m for _, m in by} == {"ETKF", "LETKF", "3D-Var", "observer"}
    assert by[("L96 full", "LETKF")]["rmse"] < 0.5 and by[("L96 full", "3D-Var")]["rmse"] < 1.0
    assert all(r["ms_per_cycle"] > 0 for r in result["rows"])


def test_observer_api_quick(tmp_path: Path) -> None:
    """An observer trained through POST /v1/models and the setup's filters, each filtering
    a held-out truth through a stream; every figure comes back from the service."""
    from bench.observer_api import main as observer_api

    result = observer_api(["--quick", "--out", str(tmp_path / "o.json")])
    methods = [r["method"].split(" ")[0] for r in result["rows"]]
    assert methods == ["observer", "ETKF", "LETKF"]
    assert result["rows"][0]["train_s"] > 0
    for row in result["rows"]:
        assert row["analysed"] > 0.9 and np.isfinite(row["rmse"]) and row["ms_per_obs"] > 0
        assert row["ms_per_obs_backlog"] > 0  # the drain after the awaited first observation
        # the live stream's CPU: the worker filtered, the server took the posts in
        assert row["cpu_ms_per_obs_worker"] > 0 and row["cpu_ms_per_obs_server"] > 0
    assert result["rows"][1]["rmse"] < 1.0  # the ETKF tracks its truth through the stream
    goals = result["targets"]  # judged on what ran (a quick run trains far less)
    assert set(goals) == {
        "L96 full: RMSE x",
        "L96 full: cost x live, backlog",
        "L96 full: training s",
    }
    assert goals["L96 full: training s"]["measured"] == result["rows"][0]["train_s"]


def test_analog_api_quick(tmp_path: Path, redis_url: str) -> None:
    """A real server and worker forecast chaos series with analog; the figures come back."""
    from bench.analog_api import main as analog_api

    out = tmp_path / "analog_api.json"
    result = analog_api(["--quick", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["result"] == result["result"]
    assert result["result"]["series"] == 12 and len(result["per_system"]) == 12
    assert all(0 <= v <= 200 for v in result["per_system"].values())


def test_inflation_quick(tmp_path: Path) -> None:
    from bench.inflation import main as inflation

    result = inflation(["--quick", "--out", str(tmp_path / "inflation.json")])
    for summary in result["summary"].values():
        methods = summary["methods"]
        assert {"adaptive", "enkf_n"} <= set(methods) and len(methods) > 2
        best = methods[str(summary["best_fixed"])]
        assert best["ratio_to_best_fixed"] == 1.0
        fixed = [m for k, m in methods.items() if k not in ("adaptive", "enkf_n")]
        assert all(m["rmse"] >= best["rmse"] for m in fixed)
        assert all(m["rmse"] > 0 and m["spread_over_rmse"] > 0 for m in methods.values())
    assert set(result["targets"]) == {
        "adaptive RMSE / best fixed",
        "adaptive diverged runs",
        "adaptive spread / RMSE",
    }


def test_sensor_faults_quick(tmp_path: Path) -> None:
    from bench.sensor_faults import FAULTS, SETUPS
    from bench.sensor_faults import main as sensor_faults

    result = sensor_faults(["--quick", "--out", str(tmp_path / "faults.json")])
    assert [r["fault"] for r in result["rows"]] == list(FAULTS) * len(SETUPS)
    for r in result["rows"]:
        assert r["rmse_qc"] > 0 and r["rmse_no_qc"] > 0 and 0 <= r["clean_rejected"] <= 1
    lone = {r["fault"]: r for r in result["rows"] if r["setup"] == SETUPS[1].name}
    assert lone["outliers"]["faults_rejected"] > 0.5  # a lone sensor's outliers are caught
