"""Faulty sensors in a twin experiment: how much quality control keeps the analysis.

Two setups, each filtered through the stream's own numerics
(`models.assimilation.stream.StreamModel`: the background check at the default gate 4 and
the sensor health that leaves failed sensors out), with the check on and off, on the same
truth and noise under each fault:
- Lorenz-96 (n = 40, F = 8), every variable observed with R = I every 0.05: the ETKF
  (N = 24, inflation 1.02) and the LETKF (N = 16, localisation radius 4, inflation 1.05);
  the faulty sensor is 7. Each reading is judged against the observation's other readings.
- Lorenz-63 with only x observed (one sensor, R = 1) every 0.05 (steps of 0.01): the ETKF
  (N = 10, adaptive inflation). A lone reading is judged against its sensor's recent ones.
Faults:
  none      no fault
  missing   20% of the readings missing at random every cycle
  stuck     the sensor stuck at a constant (the component's climatological mean) from t = 50
  bias      the sensor reads 5 sigma high from t = 50
  outliers  1% of the readings replaced by 10 sigma outliers
RMSE of the analysis mean over the cycles after 200 of spin-up, its ratio to the fault-free
RMSE with the check on, cycles from the onset until the faulty sensor is marked failed, the
share of outliers rejected, and the share of clean readings rejected.
Run from the repo root: `python bench/sensor_faults.py [--quick]`.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
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
from models.dynamics import Dynamics, Lorenz63, Lorenz96, integrate  # noqa: E402

GATE, SPINUP, ONSET_T, INTERVAL = 4.0, 200, 50.0, 0.05
FAULTS = ("none", "missing", "stuck", "bias", "outliers")


@dataclass(frozen=True)
class Setup:
    name: str
    dynamics: Dynamics
    indices: list[int] | None  # the observed components (None: all)
    dt: float  # integration step; observations every INTERVAL
    sensor: int  # the faulty sensor (a reading's index)
    stuck_at: float  # the observed component's climatological mean
    filters: dict[str, FilterConfig]


SETUPS = (
    Setup("L96 n=40", Lorenz96(n=40), None, 0.05, 7, 2.3, {
        "ETKF N=24": FilterConfig(method="etkf", ensemble_size=24, inflation=1.02),
        "LETKF N=16 r=4": FilterConfig(
            method="letkf", ensemble_size=16, inflation=1.05, localization_radius=4.0
        ),
    }),
    Setup("L63 x only", Lorenz63(), [0], 0.01, 0, 0.0, {
        "ETKF N=10 adaptive": FilterConfig(method="etkf", ensemble_size=10, inflation="adaptive"),
    }),
)  # fmt: skip


def twin(setup: Setup, cycles: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Truth (cycles, n) on the attractor and its clean observations (cycles, m), noise 1."""
    model, n = setup.dynamics, setup.dynamics.n
    g = torch.Generator().manual_seed(seed)
    x = integrate(model, 3 + torch.randn(n, generator=g, dtype=torch.float64), 0, 20, setup.dt)
    truth = np.empty((cycles, n))
    for k in range(cycles):
        x = integrate(model, x, k * INTERVAL, (k + 1) * INTERVAL, setup.dt)
        truth[k] = x.numpy()
    observed = truth if setup.indices is None else truth[:, setup.indices]
    noise = torch.randn(observed.shape, generator=g, dtype=torch.float64).numpy()
    return truth, observed + noise


def faulty(y: np.ndarray, fault: str, setup: Setup, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The readings under `fault` (NaN: missing), and which are faults (not clean)."""
    rng = np.random.default_rng(seed + 1)
    out, bad = y.copy(), np.zeros(y.shape, dtype=bool)
    onset, j = int(ONSET_T / INTERVAL), setup.sensor
    if fault == "missing":
        out[rng.random(y.shape) < 0.2] = np.nan
    elif fault == "stuck":
        out[onset:, j], bad[onset:, j] = setup.stuck_at, True
    elif fault == "bias":
        out[onset:, j] += 5.0
        bad[onset:, j] = True
    elif fault == "outliers":
        bad = rng.random(y.shape) < 0.01
        out[bad] += 10.0 * rng.choice([-1.0, 1.0], size=int(bad.sum()))
    return out, bad


def forecast_mean(stream: StreamModel, E: torch.Tensor, t0: float, t1: float) -> torch.Tensor:
    """The members' mean integrated from t0 to t1 (an observation was skipped)."""
    return integrate(stream.dynamics, E, t0, t1, stream.dt).mean(0)


def run(
    setup: Setup,
    cfg: FilterConfig,
    truth: np.ndarray,
    y: np.ndarray,
    bad: np.ndarray,
    gate: float | None,
) -> dict[str, Any]:
    stream = StreamModel.build(
        setup.dynamics, cfg, indices=setup.indices, noise_std=1.0, dt=setup.dt, seed=0, gate=gate
    )
    E = stream.initial_ensemble(truth[0].tolist(), 1.0)
    sensors = Sensors.new(y.shape[1])
    se, failed_at, rejected_clean, clean, caught = [], None, 0, 0, 0
    t = 0.0  # the ensemble's time: an observation skipped (nothing usable) leaves it behind
    for k in range(1, truth.shape[0]):
        exclude = sensors.failed if gate is not None else None
        result = stream.cycle(E, t, k * INTERVAL, y[k].tolist(), k, None, exclude, sensors.recent)
        if result is not None and result.E is not None:
            E, t = result.E, k * INTERVAL
        if result is not None and result.screened is not None:
            sensors = sensors.update(result.screened)
            rej = result.screened.rejected
            ok = ~bad[k] & np.isfinite(y[k])
            rejected_clean += int((rej & ok).sum())
            caught += int((rej & bad[k]).sum())
            clean += int(ok.sum())
        if failed_at is None and sensors.failed[setup.sensor] and bad[k, setup.sensor]:
            failed_at = k - int(ONSET_T / INTERVAL)
        if k >= SPINUP:  # the estimate of x_k: the analysis, or the forecast to t_k
            mean = E.mean(0) if t == k * INTERVAL else forecast_mean(stream, E, t, k * INTERVAL)
            se.append(float(np.mean((mean.numpy() - truth[k]) ** 2)))
    faults = int(bad[1:].sum())
    return {
        "rmse": float(np.sqrt(np.mean(se))),
        "detection_cycles": failed_at,
        "clean_rejected": rejected_clean / clean if clean else None,
        "faults_rejected": caught / faults if faults else None,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer cycles, one filter a setup")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/sensor_faults.json")
    args = ap.parse_args(argv)
    cycles = 1300 if args.quick else 3000
    rows = []
    started = time.perf_counter()
    for setup in SETUPS:
        truth, clean = twin(setup, cycles, seed=42)
        filters = list(setup.filters.items())
        for name, cfg in filters[:1] if args.quick else filters:
            base = None
            for fault in FAULTS:
                y, bad = faulty(clean, fault, setup, seed=42)
                on = run(setup, cfg, truth, y, bad, GATE)
                off = run(setup, cfg, truth, y, bad, None)
                base = on["rmse"] if fault == "none" else base
                rows.append(
                    {
                        "setup": setup.name,
                        "filter": name,
                        "fault": fault,
                        "rmse_qc": on["rmse"],
                        "rmse_no_qc": off["rmse"],
                        "ratio_to_fault_free": on["rmse"] / base if base else None,
                        "detection_cycles": on["detection_cycles"],
                        "faults_rejected": on["faults_rejected"],
                        "clean_rejected": on["clean_rejected"],
                    }
                )
    print(f"noise std 1, observed every {INTERVAL}; {cycles} cycles, RMSE after {SPINUP}; "
          f"gate {GATE}")  # fmt: skip
    head = f"{'setup':<11} {'filter':<19} {'fault':<9} {'RMSE qc':>8} {'no qc':>8} {'/clean':>7} "
    head += f"{'detect':>7} {'faults rej':>11} {'clean rej':>10}"
    print(head + "\n" + "-" * len(head))

    def pct(v: float | None) -> str:
        return f"{'-':>10}" if v is None else f"{100 * v:>9.2f}%"

    for r in rows:
        detect = "-" if r["detection_cycles"] is None else str(r["detection_cycles"])
        print(
            f"{r['setup']:<11} {r['filter']:<19} {r['fault']:<9} {r['rmse_qc']:>8.3f} "
            f"{r['rmse_no_qc']:>8.3f} {r['ratio_to_fault_free']:>7.3f} {detect:>7} "
            f"{pct(r['faults_rejected']):>11} {pct(r['clean_rejected'])}"
        )
    print(
        "/clean: RMSE with QC / the fault-free RMSE with QC; detect: cycles from the onset "
        "until the faulty sensor is marked failed; faults rej: faulty readings rejected by the "
        "check; clean rej: clean readings rejected"
    )
    result = {
        "config": {"cycles": cycles, "spinup": SPINUP, "gate": GATE, "interval": INTERVAL,
                   "setups": [s.name for s in SETUPS]},
        "rows": rows,
        "seconds": time.perf_counter() - started,
        "machine": machine_info(torch=torch.__version__),
    }  # fmt: skip
    write_json(args.out, result)
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
