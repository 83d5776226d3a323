"""Observations per second assimilated through the HTTP API, against the real stack.

Starts uvicorn and Celery worker processes over a fresh PostgreSQL database and Redis.
First the production topology of docker-compose.yml (two uvicorn workers, one Celery
worker on the cpu queue with two prefork children): a new Lorenz-96 stream (quality
control on, as by default) takes 2,000 observations in posts of 100 while a client polls
its state, from its first observation (target: 2,000 observations/s, for each of three
new streams, the first right after start-up). Then, on one uvicorn process and --workers
Celery workers, (1) one stream's observations in larger posts and (2) many streams fed at
once.
Throughput counts from the first post to the last analysis committed; every acknowledged
observation is then checked to have been assimilated.
Run from the repo root: `python bench/stream_throughput.py [--quick]`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # lets `python bench/stream_throughput.py` work without the install
    sys.path.insert(0, str(ROOT))

from bench._common import print_targets  # noqa: E402
from bench.stack import BIN, REDIS_URL, Databases, Stack, stack_env  # noqa: E402

N_VARS, DT = 40, 0.05
PRODUCTION_TARGET = 2000  # observations/s, one new stream on docker-compose.yml's topology
COMPOSE_CPU_POOL = ("--concurrency", "2")  # docker-compose.yml's worker-cpu: prefork, 2 children
PRODUCTION_RUNS = 3  # new streams, one after the other, each held to the target


def l96_stream(name: str, method: str = "etkf", inflation: Any = 1.02) -> dict[str, Any]:
    return {
        "name": name,
        "dynamics": {"system": "lorenz96", "params": {"n": N_VARS, "F": 8.0}, "dt": DT},
        "observation": {"indices": None, "noise_std": 1.0},
        "filter": {"method": method, "ensemble_size": 24, "inflation": inflation},
        "seed": 0,
    }


def observations(n: int, seed: int) -> list[dict[str, Any]]:
    # Throughput does not depend on the values; a noisy climatology-like signal suffices.
    rng = np.random.default_rng(seed)
    values = 2.3 + 3.6 * rng.standard_normal((n, N_VARS))
    return [
        {"seq": k + 1, "t": round((k + 1) * DT, 10), "values": values[k].round(4).tolist()}
        for k in range(n)
    ]


def wait_done(
    http: httpx.Client, sid: str, n: int, timeout: float, every: float = 0.02
) -> dict[str, Any]:
    """The stream's state once observations 1..n are all processed (assimilated or not),
    polled every `every` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = http.get(f"/v1/streams/{sid}").json()
        if state["last_seq"] >= n and state["pending"] == 0:
            return dict(state)
        time.sleep(every)
    raise RuntimeError(f"stream {sid} did not finish: {state}")


class Poller:
    """A client polling a stream's state every `every` seconds on its own connection, as a
    dashboard would, while the observations go in; it keeps each poll's latency."""

    def __init__(self, http: httpx.Client, sid: str, every: float = 0.05) -> None:
        self.client = httpx.Client(base_url=http.base_url, headers=http.headers, timeout=60)
        self.url, self.every = f"/v1/streams/{sid}", every
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            t0 = time.perf_counter()
            assert self.client.get(self.url).status_code == 200
            self.latencies.append(time.perf_counter() - t0)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.client.close()


def one_stream(
    http: httpx.Client,
    n_obs: int,
    batch: int,
    method: str,
    infl: Any,
    *,
    scenario: str = "one stream",
    poll: bool = False,
) -> dict[str, Any]:
    sid = http.post("/v1/streams", json=l96_stream(f"one-{method}-{infl}", method, infl)).json()[
        "id"
    ]
    obs = observations(n_obs, 0)
    latencies = []
    poller = Poller(http, sid) if poll else None
    start = time.perf_counter()
    try:
        for i in range(0, n_obs, batch):
            t0 = time.perf_counter()
            body = {"observations": obs[i : i + batch]}
            r = http.post(f"/v1/streams/{sid}/observations", json=body)
            latencies.append(time.perf_counter() - t0)
            assert r.status_code == 202, r.text
        acked = time.perf_counter() - start
        state = wait_done(http, sid, n_obs, timeout=600)
        total = time.perf_counter() - start
    finally:
        if poller is not None:
            poller.stop()
    return {
        "scenario": scenario,
        "filter": f"{method} N=24 infl={infl}",
        "observations": n_obs,
        "batch": batch,
        "ingest_obs_per_s": n_obs / acked,
        "assimilated_obs_per_s": n_obs / total,
        "post_p50_ms": 1e3 * statistics.median(latencies),
        "post_p99_ms": 1e3 * float(np.quantile(latencies, 0.99)),
        "lost": n_obs - state["n_assimilated"],
    } | ({"polls": len(poller.latencies)} if poller is not None else {})


def many_streams(http: httpx.Client, n_streams: int, n_obs: int, batch: int) -> dict[str, Any]:
    sids = [
        http.post("/v1/streams", json=l96_stream(f"many-{i}")).json()["id"]
        for i in range(n_streams)
    ]
    obs = observations(n_obs, 1)

    def feed(sid: str) -> list[float]:
        lat = []
        for i in range(0, n_obs, batch):
            t0 = time.perf_counter()
            r = http.post(
                f"/v1/streams/{sid}/observations", json={"observations": obs[i : i + batch]}
            )
            lat.append(time.perf_counter() - t0)
            assert r.status_code == 202, r.text
        return lat

    start = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        latencies = [x for lat in pool.map(feed, sids) for x in lat]
    acked = time.perf_counter() - start
    lost = sum(n_obs - wait_done(http, sid, n_obs, timeout=900)["n_assimilated"] for sid in sids)
    total = time.perf_counter() - start
    return {
        "scenario": f"{n_streams} streams",
        "filter": "etkf N=24 infl=1.02",
        "observations": n_streams * n_obs,
        "batch": batch,
        "ingest_obs_per_s": n_streams * n_obs / acked,
        "assimilated_obs_per_s": n_streams * n_obs / total,
        "post_p50_ms": 1e3 * statistics.median(latencies),
        "post_p99_ms": 1e3 * float(np.quantile(latencies, 0.99)),
        "lost": lost,
    }


def create_key(env: dict[str, str]) -> str:
    out = subprocess.run(
        [str(BIN / "kalmanac"), "keys", "create", "--tenant", "bench"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return out.stdout.strip()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts, for the smoke test")
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes")
    parser.add_argument(
        "--batch", type=int, default=1000, help="observations per post (one stream)"
    )
    parser.add_argument("--redis", default=f"{REDIS_URL}/0", help="broker URL (a Redis DB)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/stream_throughput.json")
    args = parser.parse_args(argv)
    n_one, n_streams, n_each = (200, 5, 20) if args.quick else (5000, 100, 50)
    n_prod = 200 if args.quick else 2000

    databases = Databases()
    logs = Path(tempfile.mkdtemp(prefix="kalmanac-bench-"))
    rows = []
    stack = Stack(stack_env(databases, args.redis), logs)
    try:  # docker-compose.yml's topology, a new stream from its first observation
        stack.start_worker("prod-worker", queues="cpu", pool=COMPOSE_CPU_POOL)
        stack.start_api(workers=2)
        auth = {"Authorization": f"Bearer {create_key(stack.env)}"}
        with httpx.Client(base_url=stack.base, headers=auth, timeout=60) as http:
            for k in range(PRODUCTION_RUNS):  # the first, right after start-up, is the coldest
                rows.append(
                    one_stream(
                        http, n_prod, 100, "etkf", 1.02, scenario=f"production {k + 1}", poll=True
                    )
                )
    finally:
        stack.stop_all()
    stack = Stack(stack_env(databases, args.redis), logs)
    try:
        for i in range(args.workers):
            stack.start_worker(f"worker{i + 1}")
        stack.start_api()
        auth = {"Authorization": f"Bearer {create_key(stack.env)}"}
        with httpx.Client(base_url=stack.base, headers=auth, timeout=60) as http:
            rows.append(one_stream(http, n_one, args.batch, "etkf", 1.02))
            rows.append(one_stream(http, n_one, args.batch, "etkf", "adaptive"))
            rows.append(many_streams(http, n_streams, n_each, 25))
    finally:
        stack.stop_all()
        databases.drop_all()

    print(
        f"\n{'scenario':<12} {'filter':<26} {'obs':>6} {'batch':>5} {'ingest/s':>9} "
        f"{'assim/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'lost':>5}"
    )
    for r in rows:
        print(
            f"{r['scenario']:<12} {r['filter']:<26} {r['observations']:>6} {r['batch']:>5} "
            f"{r['ingest_obs_per_s']:>9.0f} {r['assimilated_obs_per_s']:>8.0f} "
            f"{r['post_p50_ms']:>7.1f} {r['post_p99_ms']:>7.1f} {r['lost']:>5}"
        )
    prod = min(r["assimilated_obs_per_s"] for r in rows[:PRODUCTION_RUNS])
    targets = {
        "production assimilated obs/s": {
            "measured": prod,
            "target": f">= {PRODUCTION_TARGET} on each new stream (the worst shown)",
            "met": prod >= PRODUCTION_TARGET,
        }
    }
    print_targets(targets)
    result = {
        "rows": rows,
        "targets": targets,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d"),
            "celery_workers": args.workers,
        },
        "notes": [
            "production: two uvicorn workers and one Celery worker on the cpu queue (prefork, "
            "two children, as docker-compose.yml's worker-cpu), a client "
            "polling the stream's state every 50 ms; the other rows: one uvicorn process and "
            "--workers Celery workers (solo pool); PostgreSQL + Redis local",
            "assim/s counts from the first post to the last analysis committed",
        ],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
