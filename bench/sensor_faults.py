"""Faulty sensors in a twin experiment: how much quality control keeps the analysis.

Lorenz-96 (n = 40, F = 8), every variable observed with R = I every dt = 0.05; the ETKF
(N = 24, inflation 1.02) and the LETKF (N = 16, localisation radius 4, inflation 1.05) run
through the stream's own numerics (`models.assimilation.stream.StreamModel`, the background
check at the default gate 4 and the sensor health that leaves failed sensors out), with the
check on and off, on the same truth and noise under each fault:
  none      no fault
  missing   20% of the readings missing at random every cycle
  stuck     sensor 7 stuck at a constant (the climatological mean) from t = 50
  bias      sensor 7 reads 5 sigma high from t = 50
  outliers  1% of the readings replaced by 10 sigma outliers
RMSE of the analysis mean over t > 10 (200 cycles of spin-up), its ratio to the fault-free
RMSE with the check on, cycles from the onset until sensor 7 is marked failed, and the share
of clean readings rejected. Run from the repo root: `python bench/sensor_faults.py [--quick]`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # lets `python bench/sensor_faults.py` work without the install
    sys.path.insert(0, str(ROOT))

from bench._common import machine_info, write_json  # noqa: E402
from models.assimilation.config import FilterConfig  # noqa: E402
from models.assimilation.quality import Sensors  # noqa: E402
from models.assimilation.stream import StreamModel  # noqa: E402
from models.dynamics import Lorenz96, integrate  # noqa: E402

N_VARS, DT, GATE, SPINUP, ONSET_T, SENSOR = 40, 0.05, 4.0, 200, 50.0, 7
FAULTS = ("none", "missing", "stuck", "bias", "outliers")
FILTERS = {
    "ETKF N=24": FilterConfig(method="etkf", ensemble_size=24, inflation=1.02),
    "LETKF N=16 r=4": FilterConfig(
        method="letkf", ensemble_size=16, inflation=1.05, localization_radius=4.0
    ),
}


def twin(cycles: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Truth (cycles, n) on the attractor and its clean observations y = x + N(0, 1)."""
    model = Lorenz96(n=N_VARS)
    g = torch.Generator().manual_seed(seed)
    x = integrate(model, 3 + torch.randn(N_VARS, generator=g, dtype=torch.float64), 0, 20, DT)
    truth = np.empty((cycles, N_VARS))
    for k in range(cycles):
        x = integrate(model, x, k * DT, (k + 1) * DT, DT)
        truth[k] = x.numpy()
    noise = torch.randn((cycles, N_VARS), generator=g, dtype=torch.float64).numpy()
    return truth, truth + noise


def faulty(y: np.ndarray, fault: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The readings under `fault` (NaN: missing), and which are faults (not clean)."""
    rng = np.random.default_rng(seed + 1)
    out, bad = y.copy(), np.zeros(y.shape, dtype=bool)
    onset = int(ONSET_T / DT)
    if fault == "missing":
        out[rng.random(y.shape) < 0.2] = np.nan
    elif fault == "stuck":
        out[onset:, SENSOR], bad[onset:, SENSOR] = 2.3, True  # L96's climatological mean
    elif fault == "bias":
        out[onset:, SENSOR] += 5.0
        bad[onset:, SENSOR] = True
    elif fault == "outliers":
        bad = rng.random(y.shape) < 0.01
        out[bad] += 10.0 * rng.choice([-1.0, 1.0], size=int(bad.sum()))
    return out, bad


def run(
    cfg: FilterConfig, truth: np.ndarray, y: np.ndarray, bad: np.ndarray, gate: float | None
) -> dict[str, Any]:
    model = Lorenz96(n=N_VARS)
    stream = StreamModel.build(model, cfg, indices=None, noise_std=1.0, dt=DT, seed=0, gate=gate)
    E = stream.initial_ensemble(truth[0].tolist(), 1.0)
    sensors = Sensors.new(N_VARS)
    se, failed_at, rejected_clean, clean = [], None, 0, 0
    for k in range(1, truth.shape[0]):
        exclude = sensors.failed if gate is not None else None
        result = stream.cycle(E, (k - 1) * DT, k * DT, y[k].tolist(), k, exclude=exclude)
        if result is not None and result.E is not None:
            E = result.E
        if result is not None and result.screened is not None:
            sensors = sensors.update(result.screened)
            rej = result.screened.rejected
            ok = ~bad[k] & np.isfinite(y[k])
            rejected_clean += int((rej & ok).sum())
            clean += int(ok.sum())
        if failed_at is None and sensors.failed[SENSOR] and bad[k, SENSOR]:
            failed_at = k - int(ONSET_T / DT)
        if k >= SPINUP:
            se.append(float(np.mean((E.mean(0).numpy() - truth[k]) ** 2)))
    return {
        "rmse": float(np.sqrt(np.mean(se))),
        "detection_cycles": failed_at,
        "clean_rejected": rejected_clean / clean if clean else None,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer cycles, one filter")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/sensor_faults.json")
    args = ap.parse_args(argv)
    cycles = 1300 if args.quick else 3000
    filters = dict(list(FILTERS.items())[:1]) if args.quick else FILTERS
    truth, clean = twin(cycles, seed=42)
    rows = []
    started = time.perf_counter()
    for name, cfg in filters.items():
        base = None
        for fault in FAULTS:
            y, bad = faulty(clean, fault, seed=42)
            on = run(cfg, truth, y, bad, GATE)
            off = run(cfg, truth, y, bad, None)
            base = on["rmse"] if fault == "none" else base
            rows.append(
                {
                    "filter": name,
                    "fault": fault,
                    "rmse_qc": on["rmse"],
                    "rmse_no_qc": off["rmse"],
                    "ratio_to_fault_free": on["rmse"] / base if base else None,
                    "detection_cycles": on["detection_cycles"],
                    "clean_rejected": on["clean_rejected"],
                }
            )
    print(f"Lorenz-96 n={N_VARS}, R=I, dt={DT}; {cycles} cycles, RMSE after {SPINUP}; gate {GATE}")
    head = f"{'filter':<16} {'fault':<9} {'RMSE qc':>8} {'no qc':>8} {'/clean':>7} "
    head += f"{'detect':>7} {'clean rej':>10}"
    print(head + "\n" + "-" * len(head))
    for r in rows:
        detect = "-" if r["detection_cycles"] is None else str(r["detection_cycles"])
        print(
            f"{r['filter']:<16} {r['fault']:<9} {r['rmse_qc']:>8.3f} {r['rmse_no_qc']:>8.3f} "
            f"{r['ratio_to_fault_free']:>7.3f} {detect:>7} {100 * r['clean_rejected']:>9.2f}%"
        )
    print(
        "/clean: RMSE with QC / the fault-free RMSE with QC; detect: cycles from the onset "
        f"until sensor {SENSOR} is marked failed; clean rej: clean readings rejected"
    )
    result = {
        "config": {"cycles": cycles, "spinup": SPINUP, "gate": GATE, "dt": DT, "n": N_VARS},
        "rows": rows,
        "seconds": time.perf_counter() - started,
        "machine": machine_info(torch=torch.__version__),
    }
    write_json(args.out, result)
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
