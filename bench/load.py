"""Sustained load against the real server, and a check that nothing acknowledged was lost.

Starts uvicorn with two worker processes (`--workers 2`, Prometheus multiprocess mode),
Celery workers, a fresh PostgreSQL database and Redis, then drives them from this process
over loopback for `--duration` seconds:

* observations: one client thread per stream posts batches of `--batch` observations on a
  fixed schedule, together offering `--rate` observations/s;
* forecasts: one client thread submits small forecast jobs at `--forecast-rate`/s.

Latency is each request's own round trip (send to full response). Afterwards it waits for
the workers to drain and checks in the database that every acknowledged item is there:
each job id returned exists (and finished), each observation seq answered with 202 is
stored and assimilated, with an analysis. Targets: at least 2,000 observations/s sustained
for 60 s with p99 below 100 ms and nothing lost.
Run from the repo root: `python bench/load.py [--quick]`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # lets `python bench/load.py` work without the install
    sys.path.insert(0, str(ROOT))

from bench._common import machine_info, write_json  # noqa: E402
from bench.stack import REDIS_URL, Databases, Stack, stack_env  # noqa: E402
from bench.stream_throughput import N_VARS, create_key, l96_stream, observations  # noqa: E402

TARGET_OBS_PER_S = 2000
TARGET_P99_MS = 100.0
WARM_ROWS = [{"values": o["values"]} for o in observations(10, seed=1)]
SERIES = [round(float(np.sin(i / 3.0) + 0.05 * i), 4) for i in range(200)]


@dataclass
class Tally:
    """What one kind of request saw; appended to from several client threads."""

    latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, seconds: float, status: str) -> None:
        with self.lock:
            self.latencies.append(seconds)
            self.statuses[status] += 1


def timed_post(http: httpx.Client, url: str, body: bytes, tally: Tally) -> httpx.Response | None:
    t0 = time.perf_counter()
    try:
        r = http.post(url, content=body, headers={"Content-Type": "application/json"})
    except httpx.HTTPError as exc:
        tally.record(time.perf_counter() - t0, type(exc).__name__)
        return None
    tally.record(time.perf_counter() - t0, str(r.status_code))
    return r


def paced(interval: float, until: float) -> Any:
    """Yields on a fixed schedule until `until`; a late tick is sent at once, not skipped."""
    next_at = time.monotonic()
    while next_at < until:
        time.sleep(max(0.0, next_at - time.monotonic()))
        yield
        next_at += interval


def feed_stream(
    base: str,
    auth: dict[str, str],
    sid: str,
    batch: int,
    interval: float,
    until: float,
    tally: Tally,
    acked: list[int],
) -> None:
    pool = observations(4096, seed=0)  # values recycled; seq and t are not
    seq = 0
    with httpx.Client(base_url=base, headers=auth, timeout=30) as http:
        for _ in paced(interval, until):
            rows = []
            for _ in range(batch):
                seq += 1
                o = pool[seq % len(pool)]
                rows.append({"seq": seq, "t": round(seq * 0.05, 10), "values": o["values"]})
            body = json.dumps({"observations": rows}).encode()
            r = timed_post(http, f"/v1/streams/{sid}/observations", body, tally)
            if r is not None and r.status_code == 202:
                acked.extend(o["seq"] for o in rows)


def submit_forecasts(
    base: str, auth: dict[str, str], interval: float, until: float, tally: Tally, ids: list[str]
) -> None:
    body = json.dumps({"series": [{"id": "s", "values": SERIES}], "horizon": 10}).encode()
    with httpx.Client(base_url=base, headers=auth, timeout=30) as http:
        for _ in paced(interval, until):
            r = timed_post(http, "/v1/forecasts", body, tally)
            if r is not None and r.status_code == 202:
                ids.append(r.json()["id"])


def summarize(kind: str, tally: Tally, items: int, seconds: float) -> dict[str, Any]:
    lat = np.array(tally.latencies) * 1e3
    return {
        "kind": kind,
        "requests": len(lat),
        "items_acked": items,
        "items_per_s": items / seconds,
        "p50_ms": float(statistics.median(lat)) if len(lat) else None,
        "p99_ms": float(np.quantile(lat, 0.99)) if len(lat) else None,
        "max_ms": float(lat.max()) if len(lat) else None,
        "statuses": dict(tally.statuses),
    }


def verify(url: str, acked: dict[str, list[int]], job_ids: list[str], timeout: float) -> dict:
    """Waits for the workers to drain, then checks every acknowledged item in the database."""
    engine = create_engine(url)
    expected = sum(len(v) for v in acked.values())
    start = time.monotonic()
    try:
        with engine.connect() as conn:
            while time.monotonic() - start < timeout:
                busy = conn.execute(
                    text(
                        "SELECT (SELECT count(*) FROM observations WHERE status = 'pending')"
                        " + (SELECT count(*) FROM jobs WHERE status IN ('queued', 'running'))"
                    )
                ).scalar_one()
                conn.commit()
                if busy == 0:
                    break
                time.sleep(0.5)
            drain_s = time.monotonic() - start
            stored: dict[str, dict[int, str]] = {}
            for sid, seq, status in conn.execute(
                text("SELECT stream_id, seq, status FROM observations")
            ):
                stored.setdefault(sid, {})[seq] = status
            analysed = {
                (sid, seq) for sid, seq in conn.execute(text("SELECT stream_id, seq FROM analyses"))
            }
            jobs = dict(conn.execute(text("SELECT id, status FROM jobs")).all())
    finally:
        engine.dispose()
    missing = [(s, q) for s, seqs in acked.items() for q in seqs if q not in stored.get(s, {})]
    unassimilated = [
        (s, q)
        for s, seqs in acked.items()
        for q in seqs
        if stored.get(s, {}).get(q) != "assimilated" or (s, q) not in analysed
    ]
    return {
        "observations_acked": expected,
        "observations_missing": len(missing),
        "observations_not_assimilated": len(unassimilated),
        "jobs_acked": len(job_ids),
        "jobs_missing": sum(1 for j in job_ids if j not in jobs),
        "jobs_by_status": dict(Counter(jobs.get(j, "missing") for j in job_ids)),
        "drain_s": drain_s,
        "lost": len(missing) + len(unassimilated) + sum(1 for j in job_ids if j not in jobs),
    }


def requests_seen_by_metrics(base: str) -> int:
    """Observation posts counted by /metrics: both server processes' histograms, merged."""
    body = httpx.get(f"{base}/metrics", timeout=10).text
    route = 'route="/v1/streams/{stream_id}/observations"'
    return sum(
        int(float(line.rsplit(" ", 1)[1]))
        for line in body.splitlines()
        if line.startswith("kalmanac_http_request_duration_seconds_count") and route in line
    )


def warm_up(base: str, auth: dict[str, str], http: httpx.Client) -> None:
    """Unmeasured traffic first, over several connections so that every server process
    has imported its lazy modules and opened its database pool before the clock starts."""
    sid = http.post("/v1/streams", json=l96_stream("warm-up")).json()["id"]
    sink = Tally()

    def client(k: int) -> None:
        with httpx.Client(base_url=base, headers=auth, timeout=60) as c:
            for j in range(10):
                first = (j * 4 + k) * len(WARM_ROWS)  # the four clients fill seqs 1..400
                rows = [
                    {"seq": first + i + 1, "t": round((first + i + 1) * 0.05, 10), **o}
                    for i, o in enumerate(WARM_ROWS)
                ]
                body = json.dumps({"observations": rows}).encode()
                timed_post(c, f"/v1/streams/{sid}/observations", body, sink)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def run(stack: Stack, args: argparse.Namespace, duration: float) -> dict[str, Any]:
    auth = {"Authorization": f"Bearer {create_key(stack.env)}"}
    with httpx.Client(base_url=stack.base, headers=auth, timeout=60) as http:
        sids = [
            http.post("/v1/streams", json=l96_stream(f"load-{i}")).json()["id"]
            for i in range(args.streams)
        ]
        warm_up(stack.base, auth, http)
    obs_tally, fc_tally = Tally(), Tally()
    acked: dict[str, list[int]] = {sid: [] for sid in sids}
    job_ids: list[str] = []
    interval = args.batch * args.streams / args.rate
    start = time.monotonic()
    until = start + duration
    threads = [
        threading.Thread(
            target=feed_stream,
            args=(stack.base, auth, sid, args.batch, interval, until, obs_tally, acked[sid]),
        )
        for sid in sids
    ]
    if args.forecast_rate > 0:
        threads.append(
            threading.Thread(
                target=submit_forecasts,
                args=(stack.base, auth, 1 / args.forecast_rate, until, fc_tally, job_ids),
            )
        )
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    rows = [
        summarize("observations", obs_tally, sum(len(v) for v in acked.values()), elapsed),
        summarize("forecasts", fc_tally, len(job_ids), elapsed),
    ]
    check = verify(stack.env["KALMANAC_DATABASE_URL"], acked, job_ids, args.drain_timeout)
    check["metrics_observation_posts"] = requests_seen_by_metrics(stack.base)
    check["client_observation_posts"] = len(obs_tally.latencies)
    return {"rows": rows, "verification": check, "elapsed_s": elapsed}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a few seconds, for the smoke test")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of ingestion")
    parser.add_argument("--rate", type=float, default=2200.0, help="observations/s offered")
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument("--batch", type=int, default=100, help="observations per post")
    parser.add_argument("--forecast-rate", type=float, default=2.0, help="forecast jobs/s")
    parser.add_argument("--api-workers", type=int, default=2, help="uvicorn --workers")
    parser.add_argument("--celery-workers", type=int, default=2)
    parser.add_argument("--worker-nice", type=int, default=10, help="Celery workers' niceness")
    parser.add_argument("--drain-timeout", type=float, default=600.0)
    parser.add_argument("--redis", default=f"{REDIS_URL}/0", help="broker URL (a Redis DB)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/load.json")
    args = parser.parse_args(argv)
    duration = 4.0 if args.quick else args.duration
    if args.quick:
        args.rate, args.streams, args.drain_timeout = 500.0, 3, 120.0

    databases = Databases()
    logs = Path(tempfile.mkdtemp(prefix="kalmanac-load-"))
    env = stack_env(databases, args.redis)
    metrics_dir = logs / "prometheus"
    metrics_dir.mkdir()
    env.update(
        {
            # Samples of both server processes, merged at scrape time (prometheus_client).
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            # This measures capacity, not the per-tenant limits (one tenant sends it all).
            "KALMANAC_RATE_LIMIT_PER_S": "0",
            "KALMANAC_MAX_ACTIVE_JOBS": "0",
        }
    )
    stack = Stack(env, logs)
    try:
        for i in range(args.celery_workers):
            worker = stack.start_worker(f"worker{i + 1}")
            # With the server and the workers on the same few cores, answering posts comes
            # first: assimilation is asynchronous and catches up when the load eases.
            os.setpriority(os.PRIO_PROCESS, worker.pid, args.worker_nice)
        stack.start_api(workers=args.api_workers)
        result = run(stack, args, duration)
    finally:
        stack.stop_all()
        databases.drop_all()

    obs, fc = result["rows"]
    check = result["verification"]
    result["targets"] = {
        "obs_per_s": TARGET_OBS_PER_S,
        "p99_ms": TARGET_P99_MS,
        "met": (
            obs["items_per_s"] >= TARGET_OBS_PER_S
            and obs["p99_ms"] is not None
            and obs["p99_ms"] < TARGET_P99_MS
            and check["lost"] == 0
        ),
    }
    result["config"] = {
        "duration_s": duration,
        "offered_obs_per_s": args.rate,
        "streams": args.streams,
        "batch": args.batch,
        "values_per_observation": N_VARS,
        "forecast_rate": args.forecast_rate,
        "api_workers": args.api_workers,
        "celery_workers": args.celery_workers,
        "celery_worker_nice": args.worker_nice,
    }
    result["machine"] = machine_info()
    print(
        f"\n{'kind':<13} {'requests':>8} {'acked':>7} {'items/s':>8} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'max ms':>7}  statuses"
    )
    for r in result["rows"]:
        print(
            f"{r['kind']:<13} {r['requests']:>8} {r['items_acked']:>7} {r['items_per_s']:>8.1f} "
            f"{r['p50_ms'] or 0:>7.1f} {r['p99_ms'] or 0:>7.1f} {r['max_ms'] or 0:>7.1f}  "
            f"{r['statuses']}"
        )
    print(
        f"lost {check['lost']} (observations missing {check['observations_missing']}, "
        f"not assimilated {check['observations_not_assimilated']}, jobs missing "
        f"{check['jobs_missing']}); jobs {check['jobs_by_status']}; drained in "
        f"{check['drain_s']:.1f} s; /metrics counted {check['metrics_observation_posts']} of "
        f"{check['client_observation_posts']} posts"
    )
    print(
        f"targets: >= {TARGET_OBS_PER_S} obs/s, p99 < {TARGET_P99_MS:g} ms, nothing lost: "
        f"{'met' if result['targets']['met'] else 'NOT met'}"
    )
    write_json(args.out, result)
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
