"""Training time of the neural observer with the API's defaults, on the CPU and on a GPU.

What `POST /v1/models` with `"kind": "observer"` runs on a worker (`train_observer`, then
the twin score of `evaluate`), timed per device: CPU always, CUDA when a GPU is present
(the gpu queue's worker trains there). Setups: Lorenz-96 (n=40, all observed, R=I,
dt = interval = 0.05) and Kuramoto-Sivashinsky (n=128, every 4th point, dt 0.5, interval
1.0). Progress lines (elapsed, ETA) come every 10% of training.
Run from the repo root:
`python bench/observer_training.py [--quick] [--devices cpu cuda] [--setups "L96 full"]`.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # lets `python bench/observer_training.py` work without the install
    sys.path.insert(0, str(ROOT))

from bench._common import finish, machine_info  # noqa: E402
from models.assimilation import LinearObs  # noqa: E402
from models.assimilation.observer import ObserverConfig, evaluate, train_observer  # noqa: E402
from models.dynamics import Dynamics, KuramotoSivashinsky, Lorenz96  # noqa: E402

# name -> (dynamics, observation operator, dt, interval)
SETUPS: dict[str, tuple[Dynamics, LinearObs, float, float]] = {
    "L96 full": (Lorenz96(n=40), LinearObs.identity(40, 1.0), 0.05, 0.05),
    "KS quarter": (
        KuramotoSivashinsky(n=128, L=32 * math.pi),
        LinearObs.subset(128, list(range(0, 128, 4)), 1.0),
        0.5,
        1.0,
    ),
}


def progress_printer(label: str, started: float) -> Any:
    """A progress callback printing elapsed time and ETA at each tenth of the training."""
    shown = [0]

    def report(fraction: float) -> None:
        tenth = int(fraction * 10)
        if tenth > shown[0]:
            shown[0] = tenth
            elapsed = time.perf_counter() - started
            eta = elapsed * (1 - fraction) / fraction
            print(f"  {label}: {fraction:4.0%} in {elapsed:6.1f} s, ETA {eta:6.1f} s", flush=True)

    return report


def train_once(name: str, device: str, cfg: ObserverConfig, seed: int) -> dict[str, Any]:
    dynamics, obs, dt, interval = SETUPS[name]
    label = f"{name} on {device}"
    started = time.perf_counter()
    model = train_observer(
        dynamics, obs, interval, dt, cfg, seed, progress_printer(label, started), device=device
    )
    seconds = time.perf_counter() - started
    score = evaluate(model, dynamics, interval, dt)
    return {
        "setup": name,
        "device": device,
        "iterations": cfg.iterations,
        "train_s": seconds,
        "ms_per_iteration": 1e3 * seconds / cfg.iterations,
        "twin_rmse": score.rmse,
        "twin_spread": score.spread,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="40 iterations instead of the default")
    default_devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    ap.add_argument("--devices", nargs="+", default=default_devices)
    ap.add_argument("--setups", nargs="+", default=["L96 full"], choices=sorted(SETUPS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/observer_training.json")
    args = ap.parse_args(argv)
    cfg = ObserverConfig()
    if args.quick:
        cfg = dataclasses.replace(cfg, iterations=40)
    rows = [train_once(s, d, cfg, args.seed) for s in args.setups for d in args.devices]
    print(f"\n{'setup':<11} {'device':<6} {'its':>5} {'train s':>8} {'ms/it':>7} {'twin RMSE':>9}")
    for r in rows:
        print(
            f"{r['setup']:<11} {r['device']:<6} {r['iterations']:>5} {r['train_s']:>8.1f} "
            f"{r['ms_per_iteration']:>7.2f} {r['twin_rmse']:>9.3f}"
        )
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    machine = machine_info(torch=torch.__version__) | {"cuda": gpu}
    return finish(args.out, {"rows": rows, "config": dataclasses.asdict(cfg), "machine": machine})


if __name__ == "__main__":
    main()
