"""What every benchmark records: the machine it ran on, and JSON-safe results."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def machine_info(**versions: Any) -> dict[str, Any]:
    """CPU, platform, Python/numpy and the given package versions, and thread settings as found."""
    try:
        from threadpoolctl import threadpool_info

        pools: Any = [
            {k: p.get(k) for k in ("user_api", "internal_api", "num_threads")}
            for p in threadpool_info()
        ]
    except ImportError:
        pools = "threadpoolctl not installed"
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        **versions,
        "thread_env": {v: os.environ.get(v) for v in THREAD_VARS},  # as found; not changed
        "thread_pools": pools,
    }


def json_safe(x: object) -> object:
    """JSON-safe copy: numpy scalars to Python, NaN and infinities to None."""
    if isinstance(x, dict):
        return {k: json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [json_safe(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def write_json(path: Path, result: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(json_safe(result), indent=2, allow_nan=False))


def default_jobs(quick: bool) -> int:
    """Worker processes for a bench: one in quick mode, else up to two of the usable CPUs."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return 1 if quick else min(2, cpus or 1)


def print_targets(goals: dict[str, dict[str, Any]]) -> None:
    """The targets block: name, measured value(s), target, met or not."""
    print("\ntargets")
    for name, g in goals.items():
        meas = g["measured"]
        shown = ", ".join(f"{x:.3f}" for x in meas) if isinstance(meas, list) else f"{meas:.3f}"
        print(f"  {name:<36} {shown:<22} {g['target']:<26} {'met' if g['met'] else 'NOT met'}")


def finish(path: Path, result: dict[str, Any]) -> dict[str, Any]:
    """Write the bench's JSON, say where, and hand the result back."""
    write_json(path, result)
    print(f"wrote {path}")
    return result


def fold_bench_parser(doc: str, name: str, quick: str, folds: int) -> argparse.ArgumentParser:
    """The options of a rolling-origin bench: --quick, --folds, --out (bench/results/<name>
    .json), --jobs; a bench adds its own."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help=quick)
    ap.add_argument("--folds", type=int, default=None, help=f"rolling origins (default {folds})")
    root = Path(__file__).resolve().parents[1]
    ap.add_argument("--out", type=Path, default=root / f"bench/results/{name}.json")
    ap.add_argument("--jobs", type=int, default=None, help="worker processes")
    return ap
