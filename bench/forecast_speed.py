"""Fit+forecast speed and accuracy: our BayesianAR vs statsforecast AutoARIMA / AutoETS.

Every method sees the same simulated stationary AR series and forecasts the same held-out
continuation (h=200). Run from the repo root: `python bench/forecast_speed.py [--quick]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import scipy
from scipy.signal import lfilter
from scipy.stats import norm

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # lets `python bench/forecast_speed.py` work without the install
    sys.path.insert(0, str(ROOT))

import statsforecast  # noqa: E402
from statsforecast.models import AutoARIMA, AutoETS  # noqa: E402

from bench._common import machine_info  # noqa: E402
from models.forecasting.bayes_ar import BayesianAR  # noqa: E402
from models.metrics import crps_from_samples, interval_coverage  # noqa: E402

H, LEVEL, NUM_SAMPLES, SEASON = 200, 95, 1000, 1  # season 1: the simulated data are non-seasonal
PROCESSES = {  # name -> (AR coefficients, mean); noise std 1
    "AR2(0.6,-0.3)": ((0.6, -0.3), 10.0),
    "AR3(0.5,0.2,-0.3)": ((0.5, 0.2, -0.3), -5.0),
}
FULL_REPS = {1_000: 5, 10_000: 3, 100_000: 2}
QUICK_REPS = {1_000: 2}


def simulate(phi: tuple[float, ...], mean: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """n values of a stationary AR(p) with N(0, 1) noise, after a 1,000-step burn-in."""
    companion = np.eye(len(phi), k=-1)
    companion[0] = phi
    assert np.max(np.abs(np.linalg.eigvals(companion))) < 1, f"AR{phi} is not stationary"
    e = rng.standard_normal(n + 1_000)
    return mean + lfilter([1.0], np.r_[1.0, -np.asarray(phi)], e)[1_000:]


def run_bayes_ar(y: np.ndarray) -> dict:
    model = BayesianAR(max_lag=12).fit(y)
    fc = model.predict(H, levels=[80, 95], num_samples=NUM_SAMPLES, seed=0)
    lo, hi = fc.intervals[float(LEVEL)]
    return {"mean": fc.mean[:, 0], "lo": lo[:, 0], "hi": hi[:, 0], "fc": fc, "model": model}


def run_statsforecast(cls):
    def run(y: np.ndarray) -> dict:
        out = cls(season_length=SEASON).fit(y).predict(h=H, level=[LEVEL])
        return {"mean": out["mean"], "lo": out[f"lo-{LEVEL}"], "hi": out[f"hi-{LEVEL}"]}

    return run


METHODS = {
    "bayes_ar": run_bayes_ar,
    "AutoARIMA": run_statsforecast(AutoARIMA),
    "AutoETS": run_statsforecast(AutoETS),
}


def score(method: str, out: dict, future: np.ndarray) -> dict:
    """95% coverage, MAE of the mean forecast, CRPS; epistemic/aleatoric std for bayes_ar."""
    res = {
        "coverage95": interval_coverage(out["lo"], out["hi"], future),
        "mae": float(np.mean(np.abs(out["mean"] - future))),
    }
    if method == "bayes_ar":  # sample CRPS; same seed, so these are the timed call's paths
        fc = out["model"].predict(
            H, levels=[80, 95], num_samples=NUM_SAMPLES, seed=0, return_samples=True
        )
        res["crps"] = float(np.mean(crps_from_samples(fc.samples[:, :, 0], future)))
        res["epistemic_std"] = float(np.mean(out["fc"].epistemic_std))
        res["aleatoric_std"] = float(np.mean(out["fc"].aleatoric_std))
    else:  # statsforecast's native intervals are Gaussian: sigma from the 95% half-width
        sd = (out["hi"] - out["lo"]) / (2 * norm.ppf(0.5 + LEVEL / 200))
        z = (future - out["mean"]) / sd
        crps = sd * (z * (2 * norm.cdf(z) - 1) + 2 * norm.pdf(z) - 1 / np.sqrt(np.pi))
        res["crps"] = float(np.mean(crps))
    return res


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="T=1,000 only, 2 replicates")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/forecast_speed.json")
    ap.add_argument(
        "--budget",
        type=float,
        default=90.0,
        help="seconds per (T, method): once a method's replicates at one T have used this "
        "much, its remaining replicates there are skipped (reported, never silent)",
    )
    args = ap.parse_args(argv)
    reps = QUICK_REPS if args.quick else FULL_REPS
    notes = [
        f"season_length={SEASON} for statsforecast (the simulated data are non-seasonal)",
        "warm-up: each method is run once on a T=300 series before timing; statsforecast "
        f"{statsforecast.__version__} uses compiled C++ (no numba), so this only takes "
        "import/first-call costs out of the timings",
        "time = fit + predict, time.perf_counter, median over replicates; replicate r uses "
        "process r mod 2 with its own seed",
        "thread settings are left as found (see machine.thread_env / thread_pools)",
        "CRPS: bayes_ar from its 1,000 sample paths; statsforecast from its Gaussian "
        "predictive (sigma from the 95% interval)",
    ]

    warm = simulate(*PROCESSES["AR2(0.6,-0.3)"], 300, np.random.default_rng(999))
    for run in METHODS.values():
        run(warm)

    records, rows = [], []
    for T, n_rep in reps.items():
        data = []
        for r in range(n_rep):
            proc = list(PROCESSES)[r % len(PROCESSES)]
            z = simulate(*PROCESSES[proc], T + H, np.random.default_rng([T, r]))
            data.append((proc, z[:T], z[T:]))
        medians = {}
        for method, run in METHODS.items():
            recs, spent = [], 0.0
            for r, (proc, y, future) in enumerate(data):
                if spent >= args.budget:
                    msg = f"T={T} {method}: budget {args.budget:.0f}s used, ran {r}/{n_rep} reps"
                    notes.append(msg)
                    print("NOTE:", msg, flush=True)
                    break
                t0 = time.perf_counter()
                out = run(y)
                sec = time.perf_counter() - t0
                spent += sec
                recs.append(
                    {"T": T, "method": method, "rep": r, "process": proc, "seconds": sec}
                    | score(method, out, future)
                )
            records += recs
            medians[method] = statistics.median(x["seconds"] for x in recs)
            row = {
                "T": T,
                "method": method,
                "reps": len(recs),
                "reps_planned": n_rep,
                "median_seconds": medians[method],
            }
            for k in ("coverage95", "mae", "crps", "epistemic_std", "aleatoric_std"):
                if k in recs[0]:
                    row[k] = float(np.mean([x[k] for x in recs]))
            rows.append(row)
        for row in rows[-len(METHODS) :]:
            row["bayes_ar_speedup"] = row["median_seconds"] / medians["bayes_ar"]

    machine = machine_info(scipy=scipy.__version__, statsforecast=statsforecast.__version__)
    print_table(rows)
    pools = machine["thread_pools"]
    if isinstance(pools, list):
        pools = ", ".join(f"{p['internal_api']}={p['num_threads']}" for p in pools)
    env = {k: v for k, v in machine["thread_env"].items() if v is not None} or "none set"
    print(f"\ncpus={machine['cpu_count']}  thread pools: {pools}  thread env: {env}")
    print("notes:\n" + "\n".join(f"  - {n}" for n in notes))
    result = {
        "config": {
            "horizon": H,
            "num_samples": NUM_SAMPLES,
            "level": LEVEL,
            "season_length": SEASON,
            "replicates": reps,
            "budget_s": args.budget,
            "processes": {
                k: {"phi": v[0], "mean": v[1], "noise_std": 1.0} for k, v in PROCESSES.items()
            },
        },
        "machine": machine,
        "notes": notes,
        "summary": rows,
        "replicates": records,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {args.out}")
    return result


def print_table(rows: list[dict]) -> None:
    head = f"{'T':>7}  {'method':<9} {'reps':>4} {'median s':>9} {'bayes_ar x':>10} "
    head += f"{'cov95':>6} {'MAE':>6} {'CRPS':>6}  epi/alea std"
    print(head + "\n" + "-" * len(head))
    for r in rows:
        ea = f"{r['epistemic_std']:.3f}/{r['aleatoric_std']:.3f}" if "epistemic_std" in r else "-"
        reps = f"{r['reps']}" + ("" if r["reps"] == r["reps_planned"] else f"/{r['reps_planned']}")
        print(
            f"{r['T']:>7,}  {r['method']:<9} {reps:>4} {r['median_seconds']:>9.3f} "
            f"{r['bayes_ar_speedup']:>10.1f} {r['coverage95']:>6.3f} {r['mae']:>6.3f} "
            f"{r['crps']:>6.3f}  {ea}"
        )
    print("bayes_ar x = method median / bayes_ar median at the same T (>1: bayes_ar is faster)")


if __name__ == "__main__":
    main()
