"""The neural observer through the service, next to the ensemble filters on the same truths.

Starts the real stack (a uvicorn server, a Celery worker, PostgreSQL, Redis). Per setup of
`bench/observer.py`: trains an observer through `POST /v1/models` with the setup's settings
(the API's defaults on Lorenz-96; the training time is the job's wall time, queue
included), then filters held-out truths (seeds the training never drew) through streams,
with the observer and with the setup's ensemble filters, each stream from the same
perturbed start and with quality control on, as by default. Each truth goes through two
streams per method: live (posts of 100 as they come) and from a backlog (posted ahead, then
drained; see `timed_stream`). RMSE of the analysis mean after burn-in and spread/RMSE are
read back from the analyses endpoint; the cost per observation is the wall time from the
post that sets a stream going to its last analyses stored (the stream's `updated_at`),
over the observations.
Run through `python bench/observer.py` (its last table), or alone:
`python bench/observer_api.py [--quick]`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # lets `python bench/observer_api.py` work without the install
    sys.path.insert(0, str(ROOT))

from app.api.schemas.stream_specs import SYSTEM_PARAMS  # noqa: E402
from bench._common import machine_info, print_targets, write_json  # noqa: E402
from bench.observer import Setup, setups, twin  # noqa: E402
from bench.stack import REDIS_URL, Databases, Stack, stack_env  # noqa: E402
from bench.stream_throughput import create_key, wait_done  # noqa: E402
from models.assimilation import FilterConfig  # noqa: E402
from models.dynamics.registry import make_dynamics, spec_of  # noqa: E402

POST_BATCH = 100
JSON = {"Content-Type": "application/json"}
# The end of a stream's run is its last store (`updated_at`), not the poll that saw it: the
# polls can be sparse, so that they take little of the two cores the stack shares.
POLL_S = 0.1
# A backlog stream awaits its first observation this long: the cycles that found the gap
# retry only after the bench has finished, not inside another stream's timing.
BACKLOG_GAP_S = 3600.0
TRUTH_SEEDS = (200, 201, 202)  # the in-process bench filters seed 100; training draws its own


@dataclasses.dataclass(frozen=True)
class CpuMeter:
    """CPU seconds (user + system, from Linux's /proc) of the stack's processes: the server,
    the worker, every PostgreSQL process (its connections' backends) and this client. The
    live cost is set by all of them at once on a small machine, not by the worker alone."""

    server: int
    worker: int
    PARTS = ("server", "worker", "postgres", "client")

    def read(self) -> dict[str, float]:
        postgres = [int(p) for p in os.listdir("/proc") if p.isdigit() and _comm(p) == "postgres"]
        return {
            "server": _cpu_s([self.server]),
            "worker": _cpu_s([self.worker]),
            "postgres": _cpu_s(postgres),
            "client": time.process_time(),
        }


def _comm(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:  # gone since the listing
        return ""


def _cpu_s(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
    return total / os.sysconf("SC_CLK_TCK")


def dynamics_spec(setup: Setup) -> dict[str, Any]:
    """The setup's dynamics as the API takes them: the parameters its schema has. The
    registry knows a few more (KS's contour points and dealiasing), which must then be the
    defaults a stream builds with, else the service would run another system."""
    system, params = spec_of(setup.dynamics)
    taken = {k: v for k, v in params.items() if k in SYSTEM_PARAMS[system].model_fields}
    if spec_of(make_dynamics(system, taken)) != (system, params):
        raise ValueError(f"{setup.name}: the API cannot give {system} parameters {params}")
    return {"system": system, "params": taken, "dt": setup.dt}


def observation_spec(setup: Setup) -> dict[str, Any]:
    obs = setup.obs
    indices = None if obs.indices is None else obs.indices.tolist()
    return {"indices": indices, "noise_std": float(obs.std[0])}


def filter_spec(cfg: FilterConfig) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "method": cfg.method,
        "ensemble_size": cfg.ensemble_size,
        "inflation": cfg.inflation,
    }
    if cfg.localization_radius is not None:
        spec["localization_radius"] = cfg.localization_radius
    return spec


def wait_job(http: httpx.Client, job_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = http.get(f"/v1/jobs/{job_id}").raise_for_status().json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            if job["status"] != "succeeded":
                raise RuntimeError(f"job {job_id} {job['status']}: {job.get('error')}")
            return dict(job)
        time.sleep(0.5)
    raise RuntimeError(f"job {job_id} did not finish in {timeout:.0f} s")


def train(http: httpx.Client, setup: Setup, name: str) -> float:
    """Seconds from the POST to the version stored."""
    params = dataclasses.asdict(setup.observer) | {
        "dynamics": dynamics_spec(setup),
        "observation": observation_spec(setup),
        "interval": setup.interval,  # KS is observed every 1.0, integrated in steps of 0.5
    }
    started = time.perf_counter()
    r = http.post(
        "/v1/models", json={"name": name, "model": {"kind": "observer", "params": params}}
    )
    r.raise_for_status()
    wait_job(http, r.json()["id"], timeout=3600)
    return time.perf_counter() - started


def filter_truth(
    http: httpx.Client,
    cpu: CpuMeter,
    setup: Setup,
    flt: dict[str, Any],
    truth: np.ndarray,
    ys: np.ndarray,
    start: np.ndarray,
    err: float,
) -> dict[str, float]:
    """One truth through two streams, live and from a backlog: RMSE and spread after
    burn-in (of the live one; a stream's analyses do not depend on how its observations
    were batched), each one's ms per observation, and the live one's CPU ms per observation
    by process."""
    body = {
        "dynamics": dynamics_spec(setup),
        "observation": observation_spec(setup),
        "filter": flt,
        "initial": {"mean": start.tolist(), "std": err},
        "seed": 1,
    }
    K = ys.shape[0]
    obs = [
        {"seq": k + 1, "t": round((k + 1) * setup.interval, 10), "values": ys[k].tolist()}
        for k in range(K)
    ]
    seconds, used = {}, {}
    for mode in ("backlog", "live"):
        gap = {"gap_timeout_s": BACKLOG_GAP_S} if mode == "backlog" else {}
        sid = http.post("/v1/streams", json=body | gap).raise_for_status().json()["id"]
        wait_initialised(http, sid)
        before = cpu.read()
        seconds[mode] = timed_stream(http, sid, obs, backlog=mode == "backlog")
        used = {k: v - before[k] for k, v in cpu.read().items()}
    sq_err, var = [], []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 5000} | ({"cursor": cursor} if cursor else {})
        page = http.get(f"/v1/streams/{sid}/analyses", params=params).raise_for_status().json()
        for a in page["items"]:
            if a["seq"] > setup.burn_in:
                sq_err.append(np.mean((np.asarray(a["mean"]) - truth[a["seq"] - 1]) ** 2))
                var.append(np.mean(np.asarray(a["spread"]) ** 2))
        cursor = page["next_cursor"]
        if cursor is None:
            break
    rmse = float(np.mean(np.sqrt(sq_err))) if sq_err else math.inf
    spread = float(np.mean(np.sqrt(var))) if var else math.nan
    return {
        "rmse": rmse,
        "spread_over_rmse": spread / rmse,
        "ms_per_obs": 1e3 * seconds["live"] / K,
        "ms_per_obs_backlog": 1e3 * seconds["backlog"] / K,
        **{f"cpu_ms_per_obs_{k}": 1e3 * v / K for k, v in used.items()},  # the live stream's
        "analysed": len(sq_err) / max(1, K - setup.burn_in),
    }


def timed_stream(http: httpx.Client, sid: str, obs: list[dict[str, Any]], backlog: bool) -> float:
    """Seconds from the post that lets the stream run to its last analyses stored.

    Live: from the first of the posts, POST_BATCH observations each in order, as a sensor
    gateway sends them; one client's posts then bound a fast filter. Backlog: all but the
    first are posted and wait (the stream awaits seq 1: its gap timeout is BACKLOG_GAP_S),
    then the first: the stream drains them (as after an outage, or a replay), bound by its
    own work alone. The bodies are encoded before the clock starts: a gateway encodes on
    its own machine, and here the client shares the two cores with the service."""
    first = obs
    if backlog:
        post_observations(http, sid, encoded_posts(obs[1:]))
        time.sleep(1.0)  # the cycles those posts sent have run (each found the gap)
        first = obs[:1]
    bodies = encoded_posts(first)
    started = time.time()
    post_observations(http, sid, bodies)
    state = wait_done(http, sid, len(obs), timeout=600, every=POLL_S)
    return datetime.fromisoformat(state["updated_at"]).timestamp() - started


def wait_initialised(http: httpx.Client, sid: str, timeout: float = 60) -> None:
    """Until the worker has drawn the stream's initial ensemble (a cycle of its own)."""
    deadline = time.monotonic() + timeout
    while http.get(f"/v1/streams/{sid}").raise_for_status().json()["mean"] is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"stream {sid} got no initial ensemble in {timeout:.0f} s")
        time.sleep(0.05)


def encoded_posts(obs: list[dict[str, Any]]) -> list[bytes]:
    """The JSON bodies of the posts of `obs`, POST_BATCH observations each."""
    batches = [obs[i : i + POST_BATCH] for i in range(0, len(obs), POST_BATCH)]
    return [json.dumps({"observations": b}).encode() for b in batches]


def post_observations(http: httpx.Client, sid: str, bodies: list[bytes]) -> None:
    for body in bodies:
        http.post(f"/v1/streams/{sid}/observations", content=body, headers=JSON).raise_for_status()


def bench_setup(
    http: httpx.Client, cpu: CpuMeter, setup: Setup, seeds: tuple[int, ...]
) -> list[dict[str, Any]]:
    name = "observer-" + setup.name.lower().replace(" ", "-")
    train_s = train(http, setup, name)
    methods = {
        f"observer M={setup.observer.members}": {
            "method": "observer",
            "model": {"name": name, "version": 1},
        }
    }
    methods |= {label: filter_spec(cfg) for label, cfg in setup.filters.items()}
    runs: dict[str, list[dict[str, float]]] = {label: [] for label in methods}
    for seed in seeds:
        X, Y = twin(setup, setup.cycles, seed)
        truth, ys = X.numpy(), Y.numpy()
        g = torch.Generator().manual_seed(seed)
        err = 0.5 * float(truth.std())  # as bench/observer.py: half the climatological spread
        start = (
            truth[0] + err * torch.randn(truth.shape[1], generator=g, dtype=torch.float64).numpy()
        )
        for label, flt in methods.items():
            runs[label].append(filter_truth(http, cpu, setup, flt, truth, ys, start, err))
    rows = []
    for label, results in runs.items():
        row: dict[str, Any] = {"setup": setup.name, "method": label, "truths": len(results)}
        for key in results[0]:
            row[key] = statistics.fmean(r[key] for r in results)
        rows.append(row)
    rows[0]["train_s"] = train_s
    reference = rows[1]  # the setup's first ensemble filter
    for row in rows:
        row["rmse_vs_filter"] = row["rmse"] / reference["rmse"]
        row["cost_vs_filter"] = row["ms_per_obs"] / reference["ms_per_obs"]
        row["backlog_cost_vs_filter"] = row["ms_per_obs_backlog"] / reference["ms_per_obs_backlog"]
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    head = (
        f"{'setup':<11} {'method':<28} {'train s':>7} {'RMSE':>7} {'spr/RMSE':>8} "
        f"{'RMSE x':>7} {'ms/obs':>7} {'cost x':>7} {'backlog':>8} {'cost x':>7}"
    )
    print(
        "\nthrough the API (streams over held-out truths; x: against the setup's first filter;"
        "\nms/obs: live, posts of 100 as they come; backlog: draining observations posted ahead)"
    )
    print(head + "\n" + "-" * len(head))
    for r in rows:
        train = f"{r['train_s']:.0f}" if "train_s" in r else ""
        print(
            f"{r['setup']:<11} {r['method']:<28} {train:>7} {r['rmse']:>7.3f} "
            f"{r['spread_over_rmse']:>8.2f} {r['rmse_vs_filter']:>7.2f} {r['ms_per_obs']:>7.3f} "
            f"{r['cost_vs_filter']:>7.2f} {r['ms_per_obs_backlog']:>8.3f} "
            f"{r['backlog_cost_vs_filter']:>7.2f}"
        )
    print("\nCPU of a live stream, ms per observation, by process (two cores run them all)")
    head = f"{'setup':<11} {'method':<28} " + " ".join(f"{p:>8}" for p in CpuMeter.PARTS)
    print(head + f" {'all':>8} {'wall':>8}\n" + "-" * (len(head) + 18))
    for r in rows:
        parts = [r[f"cpu_ms_per_obs_{p}"] for p in CpuMeter.PARTS]
        print(
            f"{r['setup']:<11} {r['method']:<28} "
            + " ".join(f"{x:>8.3f}" for x in parts)
            + f" {sum(parts):>8.3f} {r['ms_per_obs']:>8.3f}"
        )


# The neural observer's targets through the service, per setup: its RMSE and its cost
# (live, backlog) against the setup's first filter (L96: the ETKF N=24; KS: the LETKF).
TRAINING_S = 300.0  # the defaults train in at most 5 minutes on this machine's CPU
RMSE_TARGETS = {"L96 full": 1.2, "KS quarter": 1.3}
COST_TARGETS = {"L96 full": 0.5, "KS quarter": 0.2}


def targets(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The targets block of the setups that ran (each setup's first row is its observer)."""
    observers = {r["setup"]: r for r in rows if r["method"].startswith("observer")}
    goals: dict[str, dict[str, Any]] = {}
    for name, row in observers.items():
        if name in RMSE_TARGETS:
            limit = RMSE_TARGETS[name]
            met = row["rmse_vs_filter"] <= limit
            goals[f"{name}: RMSE x"] = _goal(row["rmse_vs_filter"], f"<= {limit}", met)
        if name in COST_TARGETS:
            costs = [row["cost_vs_filter"], row["backlog_cost_vs_filter"]]
            limit = COST_TARGETS[name]
            met = max(costs) <= limit
            goals[f"{name}: cost x live, backlog"] = _goal(costs, f"<= {limit} each", met)
    if "L96 full" in observers:
        seconds = observers["L96 full"]["train_s"]
        goals["L96 full: training s"] = _goal(
            seconds, f"<= {TRAINING_S:.0f}", seconds <= TRAINING_S
        )
    return goals


def _goal(measured: float | list[float], target: str, met: bool) -> dict[str, Any]:
    return {"measured": measured, "target": target, "met": bool(met)}


def run_all(quick: bool, only: list[str] | None = None) -> list[dict[str, Any]]:
    """Every setup through one stack; rows as `print_table` shows them."""
    databases = Databases()
    stack = Stack(
        stack_env(databases, f"{REDIS_URL}/0"), Path(tempfile.mkdtemp(prefix="observer-api-"))
    )
    rows: list[dict[str, Any]] = []
    try:
        stack.start_worker("worker1")
        stack.start_api()
        headers = {"Authorization": f"Bearer {create_key(stack.env)}"}
        with httpx.Client(base_url=stack.base, headers=headers, timeout=120) as http:
            chosen = [s for s in setups(quick) if not only or s.name in only]
            for setup in chosen[:1] if quick else chosen:  # quick: L96 full, one truth
                seeds = TRUTH_SEEDS[:1] if quick else TRUTH_SEEDS
                cpu = CpuMeter(stack.procs["api"].pid, stack.procs["worker1"].pid)
                rows += bench_setup(http, cpu, setup, seeds)
                print(f"{setup.name} through the API: done", flush=True)
    finally:
        stack.stop_all()
        databases.drop_all()
    return rows


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short runs, L96 only, small training")
    ap.add_argument("--setups", nargs="+", default=None, help="names to run, e.g. 'KS quarter'")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/observer_api.json")
    args = ap.parse_args(argv)
    rows = run_all(args.quick, args.setups)
    print_table(rows)
    goals = targets(rows)
    print_targets(goals)
    result = {
        "rows": rows,
        "targets": goals,
        "machine": machine_info(torch=torch.__version__),
        "quick": args.quick,
    }
    write_json(args.out, result)
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
