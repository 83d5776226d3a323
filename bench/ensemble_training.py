"""Training time of the anchored deep ensemble: M=8 members, T=5,000, default settings.

Runs on the CPU, and on CUDA too when a GPU is present. Early stopping is on (the
service's behaviour) and also off (a fixed number of epochs), so both figures are seen.
Run from the repo root: `python bench/ensemble_training.py [--quick]`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # lets `python bench/ensemble_training.py` work without the install
    sys.path.insert(0, str(ROOT))

from models.forecasting.ensemble import AnchoredEnsembleAR  # noqa: E402


def series(T: int, seed: int) -> np.ndarray:
    """A noisy nonlinear oscillation (sine with AR(1) noise), so training has work to do."""
    rng = np.random.default_rng(seed)
    e = np.zeros(T)
    for t in range(1, T):
        e[t] = 0.5 * e[t - 1] + 0.3 * rng.standard_normal()
    x = np.arange(T)
    return np.sin(2 * np.pi * x / 50) + 0.5 * np.sin(2 * np.pi * x / 17) ** 3 + e


def run(T: int, members: int, epochs: int, patience: int, device: str) -> dict[str, Any]:
    y = series(T, 0)
    model = AnchoredEnsembleAR(members=members, epochs=epochs, patience=patience, device=device)
    start = time.perf_counter()
    model.fit(y)
    seconds = time.perf_counter() - start
    p = model.params_
    return {
        "T": T,
        "members": members,
        "device": device,
        "early_stopping": patience < epochs,
        "epochs_run": int(p["epochs_run"]),
        "seconds": seconds,
        "seconds_per_epoch": seconds / max(int(p["epochs_run"]), 1),
        "n_params": int(p["n_params"]),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/ensemble_training.json")
    default_devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    parser.add_argument("--devices", nargs="+", default=default_devices)
    args = parser.parse_args(argv)
    T, epochs = (600, 5) if args.quick else (5000, 300)
    rows = []
    for device in args.devices:
        AnchoredEnsembleAR(members=2, epochs=1, lags=4, device=device).fit(series(100, 1))  # warm
        rows.append(run(T, 8, epochs, 30, device))
        rows.append(run(T, 8, 20 if not args.quick else 3, 10**6, device))
    print(
        f"\n{'T':>6} {'M':>3} {'device':<6} {'early stop':<10} {'epochs':>6} {'seconds':>8} "
        f"{'s/epoch':>8} {'params':>7}"
    )
    for r in rows:
        print(
            f"{r['T']:>6} {r['members']:>3} {r['device']:<6} {str(r['early_stopping']):<10} "
            f"{r['epochs_run']:>6} {r['seconds']:>8.2f} {r['seconds_per_epoch']:>8.3f} "
            f"{r['n_params']:>7}"
        )
    result = {
        "rows": rows,
        "machine": {
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
            "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d"),
        },
        "settings": "AnchoredEnsembleAR defaults: lags 32, hidden 64, depth 2, batch 256, lr 3e-3",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
