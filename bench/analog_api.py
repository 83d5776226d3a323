"""The published chaos track forecast by `analog` through the HTTP API: a real server and one
Celery worker over Redis and PostgreSQL, the 131 series posted in batches of the per-request
limit (KALMANAC_MAX_SERIES, 100), each call answered with its result (`?wait=`).

Prints the wall time of the calls (server, queue, worker and database included; the worker
and server start-up excluded) and the median sMAPE of the returned medians, which matches
the in-process figure of bench/chaos.py up to the sampling (the service draws each series'
paths from a seed of its own). Run from the repo root: `python bench/analog_api.py`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # lets `python bench/analog_api.py` work without the install
    sys.path.insert(0, str(ROOT))

from bench._common import machine_info, write_json  # noqa: E402
from bench.chaos import DATA, PUB_FILES, PUB_FIT, PUB_H, PUB_SCORE  # noqa: E402
from bench.stack import REDIS_URL, Databases, Stack, stack_env  # noqa: E402
from bench.stream_throughput import create_key  # noqa: E402
from models.metrics import smape  # noqa: E402

BATCH = 100  # the server's default KALMANAC_MAX_SERIES


def forecast_batch(client: httpx.Client, series: list[dict[str, Any]]) -> dict[str, Any]:
    body = {
        "series": series,
        "horizon": PUB_H,
        "levels": [80, 95],
        "num_samples": 200,
        "model": {"kind": "analog"},
    }
    job = client.post("/v1/forecasts", params={"wait": 30}, json=body).raise_for_status().json()
    while job["status"] in ("queued", "running"):
        time.sleep(0.05)
        job = client.get(f"/v1/forecasts/{job['id']}").raise_for_status().json()
    if job["status"] != "succeeded":
        raise RuntimeError(f"forecast job {job['id']} {job['status']}: {job['error']}")
    return dict(job)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="12 series (the smoke test)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/analog_api.json")
    args = ap.parse_args(argv)
    with gzip.open(DATA / PUB_FILES["pts_per_period_100"][0], "rt") as fh:
        raw = json.load(fh)
    published = json.loads((DATA / "published_smape.json").read_text())
    systems = sorted(published["pts_per_period_100_per_system"])[: 12 if args.quick else None]
    ys = {s: np.asarray(raw[s]["values"], dtype=float) for s in systems}
    posted = [{"id": s, "values": ys[s][:PUB_FIT].tolist()} for s in systems]

    databases = Databases()
    stack = Stack(stack_env(databases, REDIS_URL), Path(tempfile.mkdtemp(prefix="analog-api-")))
    try:
        stack.start_worker("worker1")
        stack.start_api()
        headers = {"Authorization": f"Bearer {create_key(stack.env)}"}
        with httpx.Client(base_url=stack.base, headers=headers, timeout=120) as client:
            started = time.perf_counter()
            jobs = [
                forecast_batch(client, posted[i : i + BATCH]) for i in range(0, len(posted), BATCH)
            ]
            seconds = time.perf_counter() - started
    finally:
        stack.stop_all()
        databases.drop_all()

    scores = {}
    for job in jobs:
        for s in job["result"]["series"]:
            y = ys[s["id"]]
            scores[s["id"]] = smape(y[PUB_FIT : PUB_FIT + PUB_SCORE], s["median"][:PUB_SCORE])
    row = {
        "series": len(systems),
        "calls": len(jobs),
        "wall_seconds": round(seconds, 2),
        "worker_seconds": round(sum(_duration(j) for j in jobs), 2),
        "median_smape": statistics.median(scores.values()),
    }
    print("analog through the API (published track, 100 points/period)")
    print(f"{'series':>7} {'calls':>6} {'wall s':>8} {'worker s':>9} {'median sMAPE':>13}")
    print(
        f"{row['series']:>7} {row['calls']:>6} {row['wall_seconds']:>8.2f} "
        f"{row['worker_seconds']:>9.2f} {row['median_smape']:>13.2f}"
    )
    result = {"result": row, "per_system": scores, "machine": machine_info()}
    write_json(args.out, result)
    print(f"wrote {args.out}")
    return result


def _duration(job: dict[str, Any]) -> float:
    """Seconds the job ran on its worker (claimed to finished)."""
    start, end = (datetime.fromisoformat(job[k]) for k in ("started_at", "finished_at"))
    return (end - start).total_seconds()


if __name__ == "__main__":
    main()
