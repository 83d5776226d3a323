"""Observations per second assimilated through the HTTP API, against the real stack.

Starts a uvicorn server and Celery worker processes over a fresh PostgreSQL database and
Redis, then (1) pushes one Lorenz-96 stream's observations in batched posts and (2) feeds
many streams at once. Throughput counts from the first post to the last analysis
committed; every acknowledged observation is then checked to have been assimilated.
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
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # lets `python bench/stream_throughput.py` work without the install
    sys.path.insert(0, str(ROOT))

from bench.stack import BIN, REDIS_URL, Databases, Stack, stack_env  # noqa: E402

N_VARS, DT = 40, 0.05


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


def wait_done(http: httpx.Client, sid: str, n: int, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = http.get(f"/v1/streams/{sid}").json()
        if state["n_assimilated"] >= n and state["pending"] == 0:
            return dict(state)
        time.sleep(0.02)
    raise RuntimeError(f"stream {sid} did not finish: {state}")


def one_stream(
    http: httpx.Client, n_obs: int, batch: int, method: str, infl: Any
) -> dict[str, Any]:
    sid = http.post("/v1/streams", json=l96_stream(f"one-{method}-{infl}", method, infl)).json()[
        "id"
    ]
    obs = observations(n_obs, 0)
    latencies = []
    start = time.perf_counter()
    for i in range(0, n_obs, batch):
        t0 = time.perf_counter()
        r = http.post(f"/v1/streams/{sid}/observations", json={"observations": obs[i : i + batch]})
        latencies.append(time.perf_counter() - t0)
        assert r.status_code == 202, r.text
    acked = time.perf_counter() - start
    state = wait_done(http, sid, n_obs, timeout=600)
    total = time.perf_counter() - start
    return {
        "scenario": "one stream",
        "filter": f"{method} N=24 infl={infl}",
        "observations": n_obs,
        "batch": batch,
        "ingest_obs_per_s": n_obs / acked,
        "assimilated_obs_per_s": n_obs / total,
        "post_p50_ms": 1e3 * statistics.median(latencies),
        "post_p99_ms": 1e3 * float(np.quantile(latencies, 0.99)),
        "lost": n_obs - state["n_assimilated"],
    }


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

    databases = Databases()
    logs = Path(tempfile.mkdtemp(prefix="kalmanac-bench-"))
    stack = Stack(stack_env(databases, args.redis), logs)
    rows = []
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
    result = {
        "rows": rows,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d"),
            "celery_workers": args.workers,
        },
        "notes": [
            "one uvicorn process; Celery workers with --pool solo; PostgreSQL + Redis local",
            "assim/s counts from the first post to the last analysis committed",
        ],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
