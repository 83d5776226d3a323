"""The gpu queue through the HTTP API: neural training jobs run where the worker has a GPU.

Starts `kalmanac serve` in embedded mode (SQLite, in-memory broker, the worker's lanes in the
API process, as `make run` does) on a free port, then through HTTP:
- trains a neural observer version with the API's defaults on Lorenz-96 (n=40, all observed);
- trains an ensemble version on a noisy oscillation (T=2,000) and forecasts with it;
- fits an ensemble forecast directly.
Prints each job's queue, device and time, and the observer's twin RMSE; writes JSON. On a
machine with CUDA the device column must say cuda (the script exits 1 otherwise).
Run from the repo root: `python bench/gpu_service.py [--quick] [--out PATH]`.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # lets `python bench/gpu_service.py` work without the install
    sys.path.insert(0, str(ROOT))

from bench._common import finish, machine_info  # noqa: E402
from bench.observer_api import wait_job  # noqa: E402
from bench.stack import free_port  # noqa: E402

L96 = {"system": "lorenz96", "params": {"n": 40, "F": 8.0}, "dt": 0.05}


def serve(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    # A private server on a loopback port: none of the caller's KALMANAC_* settings (auth,
    # rate limits, databases) apply to it.
    env = {k: v for k, v in os.environ.items() if not k.startswith("KALMANAC_")} | {
        "KALMANAC_DATABASE_URL": f"sqlite:///{workdir / 'kalmanac.db'}",
        "KALMANAC_BROKER_URL": "memory://",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    cmd = [sys.executable, "-m", "app.cli", "serve", "--migrate", "--port", str(port)]
    log = (workdir / "server.log").open("wb")
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_ready(client: httpx.Client, server: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}")
        try:
            if client.get("/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError("the server did not become ready")


def run_job(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """Submit, then poll the job to its end; returns the job with its wall time."""
    started = time.monotonic()
    job_id = client.post(path, json=body).raise_for_status().json()["id"]
    return wait_job(client, job_id, timeout=1800) | {"wall_s": time.monotonic() - started}


def oscillation(T: int) -> list[float]:
    return [
        round(math.sin(2 * math.pi * t / 50) + 0.3 * math.sin(2 * math.pi * t / 17 + 1), 4)
        for t in range(T)
    ]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny trainings")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/gpu_service.json")
    args = ap.parse_args(argv)
    observer: dict[str, Any] = {"dynamics": L96, "observation": {"indices": None, "noise_std": 1}}
    ensemble: dict[str, Any] = {}
    if args.quick:
        observer |= {"iterations": 20, "trajectories": 4, "hidden": 8}
        ensemble = {"epochs": 3, "members": 2}
    series = [{"id": "oscillation", "values": oscillation(300 if args.quick else 2000)}]
    fit = {"kind": "ensemble", "params": ensemble}
    stored = {"name": "osc", "version": 1}
    steps = [  # (label, path, body)
        ("observer version", "/v1/models",
         {"name": "l96-observer", "model": {"kind": "observer", "params": observer}}),
        ("ensemble version", "/v1/models", {"name": "osc", "model": fit, "series": series}),
        ("forecast, stored ensemble", "/v1/forecasts",
         {"series": series, "horizon": 20, "model": stored}),
        ("forecast, ensemble fit", "/v1/forecasts",
         {"series": series, "horizon": 20, "model": fit}),
    ]  # fmt: skip
    rows: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        server = serve(Path(tmp), port)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                wait_ready(client, server, timeout=120)
                for label, path, body in steps:
                    job = run_job(client, path, body)
                    metrics: dict[str, Any] = {}
                    if path == "/v1/models":  # the version the job stored
                        version = client.get(f"/v1/models/{body['name']}/versions/1").json()
                        metrics = version["metrics"]
                    rows.append((label, job, metrics))
        except Exception:
            print((Path(tmp) / "server.log").read_text()[-4000:], file=sys.stderr)
            raise
        finally:
            server.terminate()
            server.wait(timeout=30)
    table = [
        {
            "job": label,
            "queue": job["queue"],
            "device": job["device"],
            "wall_s": job["wall_s"],
            "train_s": metrics.get("train_seconds"),
            "twin_rmse": metrics.get("twin_rmse"),
        }
        for label, job, metrics in rows
    ]
    print(f"\n{'job':<26} {'queue':<5} {'device':<6} {'wall s':>7} {'train s':>8} {'twin RMSE':>9}")
    for r in table:
        train = "" if r["train_s"] is None else f"{r['train_s']:.1f}"
        rmse = "" if r["twin_rmse"] is None else f"{r['twin_rmse']:.3f}"
        print(
            f"{r['job']:<26} {r['queue']:<5} {r['device']:<6} {r['wall_s']:>7.1f} {train:>8} "
            f"{rmse:>9}"
        )
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    result = finish(args.out, {"rows": table, "machine": machine_info() | {"cuda": gpu}})
    neural = [r for r in table if r["queue"] == "gpu"]
    if gpu is not None and any(r["device"] != "cuda" for r in neural):
        sys.exit("a gpu-queue job did not run on CUDA")
    return result


if __name__ == "__main__":
    main()
