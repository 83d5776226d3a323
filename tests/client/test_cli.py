"""The `kalmanac` command's client side, in process, against a real server."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.cli import main
from bench.stack import Stack
from kalmanac import Client

PARAMS = '{"max_lag": 4}'


@pytest.fixture
def env(server: Stack, api_key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The CLI reads its server and key from the environment (read when the parser is built).
    monkeypatch.setenv("KALMANAC_URL", server.base)
    monkeypatch.setenv("KALMANAC_API_KEY", api_key)


def history() -> pd.DataFrame:
    t = pd.date_range("2026-03-01", periods=60, freq="D")
    return pd.DataFrame({"date": t, "sales": 10 + np.sin(np.arange(60) / 3.0)})


def test_forecast_from_csv_prints_a_table_and_plots(
    env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv, png = tmp_path / "data.csv", tmp_path / "out.png"
    history().to_csv(csv, index=False)
    argv = ["forecast", str(csv), "--horizon", "4", "--levels", "80", "95", "--params", PARAMS]
    assert main([*argv, "--plot", str(png)]) == 0
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert lines[0].split()[:3] == ["mean", "lower_80", "upper_80"]
    assert "epistemic_std" in lines[0] and "aleatoric_std" in lines[0]
    assert lines[2].startswith("2026-04-30") and len(lines) == 6  # header, index name, 4 steps
    assert "succeeded" in err and "%" in err  # the progress bar
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_forecast_from_parquet(
    env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "data.parquet"
    frame = history().set_index("date")
    frame["price"] = 2.0 + np.cos(np.arange(60) / 5.0)
    frame.to_parquet(path)
    argv = ["forecast", str(path), "--horizon", "2", "--params", PARAMS, "-q", "--format", "csv"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    table = pd.read_csv(io.StringIO(out), index_col=0)
    assert {"mean:sales", "mean:price", "lower_95:price"} <= set(table.columns)
    assert list(table.index) == ["2026-04-30", "2026-05-01"] and err == ""


def test_bad_input_exits_with_the_servers_reason(
    env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "data.csv"
    history().to_csv(csv, index=False)
    assert main(["forecast", str(csv), "--horizon", "0", "-q"]) == 1
    assert "horizon: Input should be greater than or equal to 1" in capsys.readouterr().err
    assert main(["forecast", str(tmp_path / "missing.csv"), "--horizon", "2"]) == 2


def test_a_missing_extra_is_named_without_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make run` installs the server alone: reading a CSV needs the client extra."""
    from kalmanac import series
    from kalmanac.cli import inputs

    def no_pandas() -> None:
        raise ImportError(series.PANDAS_HINT)

    monkeypatch.setattr(inputs, "pandas", no_pandas)
    csv = tmp_path / "data.csv"
    history().to_csv(csv, index=False)
    assert main(["forecast", str(csv), "--horizon", "2"]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {series.PANDAS_HINT}\n"


def test_jobs_and_models(env: None, client: Client, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "list"]) == 0
    assert capsys.readouterr().out.strip() == "no models"
    version = client.train_model("demand", np.sin(np.arange(80) / 4.0), model="bayes_ar")
    assert main(["models", "list"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[:2] == ["demand", "1"]
    assert main(["models", "alias", "demand", "production", "1"]) == 0
    assert "demand@production -> version 1" in capsys.readouterr().out
    assert main(["models", "show", "demand"]) == 0
    assert "production" in capsys.readouterr().out

    assert main(["jobs", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["id", "kind", "status"]
    assert version.job_id in out[1] and "train" in out[1] and "succeeded" in out[1]
    assert main(["jobs", "cancel", str(version.job_id)]) == 1  # already finished: 409
    assert "409 conflict" in capsys.readouterr().err
    # The training job names the version it created.
    summary = client.get_job(str(version.job_id)).summary
    assert summary is not None and (summary["model"], summary["version"]) == ("demand", 1)


def test_forecasts_show_prints_the_numbers(
    env: None, client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    done = client.forecast({"a": np.sin(np.arange(60) / 3.0), "b": np.arange(60.0)}, horizon=3)
    assert main(["forecasts", "show", done.id, "--format", "csv"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# a\n") and "\n# b\n" in out
    assert out.splitlines()[1].split(",")[:2] == ["step", "mean"]
    assert main(["forecasts", "show", done.id, "--format", "json"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == {"a", "b"}


def test_a_closed_pipe_ends_the_command_quietly() -> None:
    """`kalmanac ... | head`: the reader leaves early; no traceback, no 'Broken pipe'."""
    script = (
        "import argparse; from kalmanac.cli import run\n"
        "def chatty(client, args):\n"
        "    for i in range(200_000): print(f'line {i}')\n"
        "    return 0\n"
        "ns = argparse.Namespace(url='http://127.0.0.1:9', api_key=None, retries=0, "
        "handler=chatty)\n"
        "raise SystemExit(run(ns))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stdout.readline().startswith(b"line 0")
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and err == b"", err


def test_stream_create_push_watch(
    env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = [
        "stream",
        "create",
        "--system",
        "lorenz63",
        "--indices",
        "0",
        "2",
        "--ensemble-size",
        "8",
    ]
    assert main(argv) == 0
    stream_id = capsys.readouterr().out.strip()
    csv = tmp_path / "obs.csv"
    csv.write_text("".join(f"{0.05 * i:.2f},{i},{20 - i}\n" for i in range(1, 5)))  # t,v0,v1
    assert main(["stream", "push", stream_id, str(csv), "--wait"]) == 0
    assert "accepted 4" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("seq,t,x,z\n5,0.25,5,15\n"))
    assert main(["stream", "push", stream_id, "--wait"]) == 0
    assert "assimilated to seq 5" in capsys.readouterr().out
    assert main(["stream", "watch", stream_id, "--after-seq", "3", "--count", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[1:]] == ["4", "5"]
    monkeypatch.setattr("sys.stdin", io.StringIO("seq,t,x,z\n6,0.30,6,500\n"))  # z spikes
    assert main(["stream", "push", stream_id, "--wait"]) == 0
    capsys.readouterr()
    assert main(["stream", "watch", stream_id, "--after-seq", "5", "--count", "1"]) == 0
    assert capsys.readouterr().out.splitlines()[1].endswith("rejected [1]")
    assert main(["stream", "reset", stream_id, "--initial-std", "0.5"]) == 0
    assert "ensemble redrawn at t=0.3" in capsys.readouterr().out


def test_a_model_stream_from_a_csv_with_gaps(
    env: None, server: Stack, api_key: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A learned surrogate opened and reset from exports, empty cells included: the members
    start from draws of what is missing."""
    frame = history()
    with Client(server.base, api_key=api_key) as client:
        client.train_model("cli-sales", frame.set_index("date")["sales"], timeout=60,
                           model={"kind": "bayes_ar", "params": {"max_lag": 2}})  # fmt: skip
        frame.loc[59, "sales"] = np.nan  # the newest reading is missing
        frame.to_csv(tmp_path / "sales.csv", index=False)
        argv = ["stream", "create", "--model", "cli-sales@1", "--noise-std", "0.1"]
        assert main([*argv, "--series", str(tmp_path / "sales.csv"), "--ensemble-size", "8"]) == 0
        stream_id = capsys.readouterr().out.strip()
        deadline = time.monotonic() + 60
        while (stream := client.get_stream(stream_id)).mean is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        (cell,) = stream.config["initial"]["imputed"]
        assert cell["index"] == 59 and stream.spread[-1] > 0  # drawn, one draw per member
        assert main(["stream", "reset", stream_id, "--series", str(tmp_path / "sales.csv")]) == 0
        assert "ensemble redrawn at t=0" in capsys.readouterr().out
    assert main([*argv, "--system", "lorenz63", "--series", "x.csv"]) == 2
    assert "--model" in capsys.readouterr().err


def test_forecast_of_a_csv_with_empty_cells_and_anomalies(
    env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = history()
    frame.loc[[5, 6, 30], "sales"] = np.nan  # empty cells in the export
    frame.loc[45, "sales"] = 40.0  # a spike
    csv = tmp_path / "gaps.csv"
    frame.to_csv(csv, index=False)
    argv = ["forecast", str(csv), "--horizon", "3", "--params", PARAMS, "--anomalies", "99.9"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "mean" in out.splitlines()[0]
    assert "anomaly at 2026-04-15" in err and "outside" in err
    assert "set aside at 2026-04-15" in err  # a gross fault: fitted as missing by default
    kept = aleatoric([*argv, "--keep-outliers"])
    assert aleatoric(argv) < 0.5 * kept
    assert aleatoric([*argv, "--keep-outliers", "--exclude-anomalies"]) < 0.5 * kept


def aleatoric(argv: list[str]) -> float:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main([*argv, "--format", "csv", "--quiet"]) == 0
    return float(pd.read_csv(io.StringIO(out.getvalue()))["aleatoric_std"].iloc[0])


def test_forecast_of_a_long_csv_with_future_covariates(
    env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ds = pd.date_range("2026-01-01", periods=63, freq="D")
    temp = 15 + 5 * np.sin(np.arange(63) / 7)
    long = pd.DataFrame({"unique_id": "site", "ds": ds, "y": 3 * temp, "temp": temp})
    long.loc[40, "y"] += 30.0  # a spike
    long.loc[20, "temp"] = 9999.0  # the driver's logger failed once
    long.loc[61, "temp"] = 9999.0  # and its posted plan holds one too
    long.iloc[:60].to_csv(tmp_path / "long.csv", index=False)
    long.iloc[60:][["unique_id", "ds", "temp"]].to_csv(tmp_path / "future.csv", index=False)
    argv = ["forecast", str(tmp_path / "long.csv"), "--horizon", "3", "--params", PARAMS]
    argv += ["--future", str(tmp_path / "future.csv")]
    assert main([*argv, "--format", "csv", "--anomalies", "99.9"]) == 0
    out, err = capsys.readouterr()
    rows = pd.read_csv(io.StringIO(out))
    assert list(rows.columns[:3]) == ["unique_id", "ds", "mean"] and len(rows) == 3
    assert {"lo-80", "hi-95"} <= set(rows.columns)
    assert "site: anomaly at 2026-02-10" in err  # each series' flags, named
    assert "site: set aside in temp at 2026-01-21" in err
    assert "site: set aside in temp's future at 2026-03-03" in err
    assert main([*argv, "--plot", str(tmp_path / "out.png")]) == 2  # one series' chart only
    assert "--plot" in capsys.readouterr().err and not (tmp_path / "out.png").exists()


def test_the_progress_bar_shows_the_time_left() -> None:
    import io

    from kalmanac.cli.progress import ProgressBar
    from kalmanac.results import Job

    out = io.StringIO()
    record = {"id": "j1", "kind": "train", "status": "running", "progress": 0.5, "eta_s": 42.4}
    ProgressBar(out)(Job.from_json(record))
    assert "50%" in out.getvalue() and "~42s left" in out.getvalue()


def test_serve_announces_the_api_once_it_accepts_connections(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import socket

    from app.cli import announce_when_listening

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        announce_when_listening("127.0.0.1", port, "ready", timeout_s=0.5)
        assert capsys.readouterr().out == ""  # bound, not yet listening: no banner
        listener.listen()
        announce_when_listening("127.0.0.1", port, "ready", timeout_s=5.0)
        assert capsys.readouterr().out == "ready\n"


def test_serve_refuses_a_port_in_use_before_announcing_anything(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import socket

    from app.cli import serve

    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        assert serve("127.0.0.1", port) == 1
    captured = capsys.readouterr()
    assert "is already in use" in captured.err and f"--port {port + 1}" in captured.err
    assert "ready" not in captured.out


def test_a_backtest_of_a_csv_fits_each_fold_without_its_gross_faults(
    env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = history()
    frame.loc[20, "sales"] = 500.0  # in every fold's history
    csv = tmp_path / "spike.csv"
    frame.to_csv(csv, index=False)
    argv = ["backtest", str(csv), "--horizon", "3", "--folds", "2", "--params", PARAMS, "--quiet"]

    def crps(*extra: str) -> float:
        assert main([*argv, *extra]) == 0
        table = capsys.readouterr().out.splitlines()
        (row,) = [line.split() for line in table if line.startswith("crps ")]
        return float(row[1])

    assert crps() < 0.2 * crps("--keep-outliers")
