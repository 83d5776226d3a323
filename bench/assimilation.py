"""Ensemble DA accuracy and speed: our torch filters vs DAPPER on the same truth and observations.

Setups (DAPPER's HMMs and 'suggested tuning' hyperparameters): Lorenz-96 per Sakov & Oke
2008 (n=40, H=I, R=I, dt_obs=0.05; ETKF N=24 infl 1.013, LETKF N=7 infl 1.04 radius 4),
Lorenz-63 per Sakov et al. 2012 (dt 0.01, obs every 0.25, R=2I; ETKF N=10 infl 1.02) and
Kuramoto-Sivashinsky per Bocquet et al. 2019 (n=128, L=32 pi, dt 0.5, obs every 1.0, LETKF
N=16 infl 1.02 radius 51/1.82), each also with adaptive inflation (the EnKF-N; for the ETKF
also as published, "enkf_n", against DAPPER's EnKF_N with xN = 1). All rotate.
Run from the repo root: `python bench/assimilation.py [--quick] [--seeds N] [--out PATH]`.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # lets `python bench/assimilation.py` work without the install
    sys.path.insert(0, str(ROOT))

from bench._common import machine_info, write_json  # noqa: E402
from bench._da_setups import (  # noqa: E402
    DAPPER_VERSION,
    DIVERGENCE_WINDOW,
    Setup,
    build_setups,
    run_seed,
    warm_up,
)

QUICK = {  # setup -> (cycles, burn-in time, method labels)
    "L63": (200, 16.0, None),
    "L96": (300, 5.0, ("ETKF N=24 infl=1.013",)),
}


def _mean(xs: list[float]) -> float:
    return float(np.mean(xs)) if xs else float("nan")


def summarise(records: list[dict]) -> list[dict]:
    """One row per (setup, method, impl); accuracy over the seeds that did not diverge."""
    rows: list[dict] = []
    keys = dict.fromkeys((r["setup"], r["method"], r["impl"]) for r in records)
    for setup, method, impl in keys:
        recs = [r for r in records if (r["setup"], r["method"], r["impl"]) == (setup, method, impl)]
        ok = [r for r in recs if not r["diverged"]]
        rmses = [r["rmse"] for r in ok]
        rows.append(
            {
                "setup": setup,
                "method": method,
                "impl": impl,
                "seeds": len(recs),
                "diverged": len(recs) - len(ok),
                "diverged_seeds": [r["seed"] for r in recs if r["diverged"]],
                "rmse_mean": _mean(rmses),
                "rmse_sd": float(np.std(rmses, ddof=1)) if len(rmses) > 1 else 0.0,
                "rmse_median_all": float(np.median([r["rmse"] for r in recs])),
                "spread": _mean([r["spread"] for r in ok]),
                "crps": _mean([r["crps"] for r in ok]),
                "rank_hist_dev": _mean([r["rank_hist_dev"] for r in ok]),
                "ms_per_cycle": statistics.median(r["ms_per_cycle"] for r in recs),
                "ms_per_analysis": statistics.median(r["ms_per_analysis"] for r in recs),
            }
        )
    for row in rows:
        if row["impl"] != "ours":
            continue
        ref = {
            r["seed"]: r
            for r in records
            if (r["setup"], r["method"], r["impl"]) == (row["setup"], row["method"], "dapper")
        }
        mine = {
            r["seed"]: r
            for r in records
            if (r["setup"], r["method"], r["impl"]) == (row["setup"], row["method"], "ours")
        }
        paired = [s for s in ref if s in mine and not (ref[s]["diverged"] or mine[s]["diverged"])]
        if paired:
            row["rmse_ratio_vs_dapper"] = _mean([mine[s]["rmse"] for s in paired]) / _mean(
                [ref[s]["rmse"] for s in paired]
            )
            row["rmse_ratio_seeds"] = paired
        if ref:
            row["time_ratio_vs_dapper"] = row["ms_per_cycle"] / statistics.median(
                r["ms_per_cycle"] for r in ref.values()
            )
    return rows


def print_table(rows: list[dict], setups: dict[str, Setup]) -> None:
    listed = {(s.name, m.label): m.listed_rmse for s in setups.values() for m in s.methods}
    head = (
        f"{'setup':<5} {'method':<26} {'impl':<6} {'RMSE':>13} {'listed':>6} {'spread':>6} "
        f"{'CRPS':>6} {'RHdev':>5} {'ms/cyc':>7} {'ms/an':>6} {'div':>5} "
        f"{'RMSE o/d':>8} {'t o/d':>5}"
    )
    print(head + "\n" + "-" * len(head))
    for r in rows:
        ref = listed.get((r["setup"], r["method"]))
        ratio = r.get("rmse_ratio_vs_dapper")
        tratio = r.get("time_ratio_vs_dapper")
        rmse = f"{r['rmse_mean']:.4f}±{r['rmse_sd']:.4f}" if r["seeds"] > r["diverged"] else "-"
        print(
            f"{r['setup']:<5} {r['method']:<26} {r['impl']:<6} {rmse:>13} "
            f"{'' if ref is None else f'{ref:.2f}':>6} {r['spread']:>6.3f} {r['crps']:>6.3f} "
            f"{r['rank_hist_dev']:>5.3f} {r['ms_per_cycle']:>7.2f} {r['ms_per_analysis']:>6.2f} "
            f"{r['diverged']:>2}/{r['seeds']:<2} "
            f"{'' if ratio is None else f'{ratio:.3f}':>8} "
            f"{'' if tratio is None else f'{tratio:.2f}':>5}"
        )
    print(
        "RMSE: analysis-mean RMSE, mean±sd over non-diverged seeds; listed: rmse.a in DAPPER's "
        "module; spread/CRPS/RHdev: means over non-diverged seeds (RHdev = RMS relative "
        "deviation of the rank histogram from flat, 0 = flat); ms/cyc, ms/an: medians over "
        "seeds; div: diverged/seeds; RMSE o/d: ours/DAPPER on seeds where neither diverged; "
        "t o/d: ms/cycle ours/DAPPER (<1: ours faster)"
    )


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 seed, short runs, L63 + L96 ETKF")
    ap.add_argument("--seeds", type=int, default=None, help="seeds per setup (default: per setup)")
    ap.add_argument("--setups", nargs="+", default=None, help="subset of L96 L63 KS")
    ap.add_argument(
        "--threads", type=int, default=1, help="torch and BLAS threads (default 1 for both)"
    )
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/assimilation.json")
    args = ap.parse_args(argv)

    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    setups = build_setups()
    names = args.setups or (list(QUICK) if args.quick else list(setups))
    unknown = set(names) - set(setups)
    if unknown:
        ap.error(f"unknown setup(s) {sorted(unknown)}; choose from {list(setups)}")
    notes = [
        "truth and observations: DAPPER's HMM.simulate() (seeded per seed), handed to both; "
        "both start from the same initial ensemble, one draw from the HMM's X0 per seed and "
        "method",
        "DAPPER runs its own assimilate() with a minimal recorder instead of its Stats object "
        "(Stats would dominate its timings) and without progress bars",
        "ours: the loop of models.assimilation.assimilate (integrate, then analysis()), "
        "keeping each analysis ensemble; ms/analysis times analysis() alone; DAPPER's "
        "ms/analysis is its analysis + post_process (inflation, rotation)",
        f"threads: torch.set_num_threads({args.threads}) and threadpool_limits({args.threads}) "
        "on the BLAS pools (numpy and torch alike); float64 throughout",
        f"diverged: a non-finite analysis, or any {DIVERGENCE_WINDOW}-cycle window (after "
        "burn-in) whose mean analysis RMSE exceeds the observation noise std",
        "scores are over analyses after the burn-in; CRPS is the ensemble (energy-form) CRPS "
        "per component, averaged; the rank histogram pools the truth's rank over components "
        "and times",
    ]
    records: list[dict] = []
    config: dict = {}
    t_start = time.perf_counter()
    with threadpool_limits(args.threads):
        for name in names:
            setup = setups[name]
            if args.quick:
                cycles, burn_in, labels = QUICK.get(name, (100, setup.burn_in / 4, None))
                seeds = args.seeds or 1
            else:
                cycles, burn_in, labels = setup.cycles, setup.burn_in, None
                seeds = args.seeds or setup.seeds
            methods = tuple(m for m in setup.methods if labels is None or m.label in labels)
            HMM = setup.hmm(cycles, burn_in)
            t = HMM.tseq
            config[name] = {
                "dapper_module": setup.module,
                "cycles": cycles,
                "burn_in_time": burn_in,
                "cycles_scored": int(t.masko.sum()),
                "dt": t.dt,
                "dt_obs": t.dto,
                "seeds": seeds,
                "methods": [
                    {
                        "label": m.label,
                        "ours": dataclasses.asdict(m.ours),
                        "dapper": m.dapper_repr,
                        "dapper_listed_rmse": m.listed_rmse,
                        "dapper_seeds": min(seeds, m.dapper_seeds or seeds),
                    }
                    for m in methods
                ],
                "notes": list(setup.notes),
            }
            print(f"{name}: {cycles} cycles (burn-in {burn_in:g} time units), {seeds} seeds ...")
            warm_up(setup, methods)
            for i in range(seeds):
                records += run_seed(setup, HMM, i + 1, methods, seed_index=i)
            print(f"  done after {time.perf_counter() - t_start:.0f} s", flush=True)

    rows = summarise(records)
    machine = machine_info(
        torch=torch.__version__,
        dapper=DAPPER_VERSION,
        threads=args.threads,
        torch_num_threads=torch.get_num_threads(),
    )
    print()
    print_table(rows, setups)
    print(f"\ncpus={machine['cpu_count']}  torch {machine['torch']}  dapper {machine['dapper']}")
    print("notes:\n" + "\n".join(f"  - {n}" for n in notes))
    for name in names:
        for n in setups[name].notes:
            print(f"  - {name}: {n}")
    result = {
        "config": config,
        "machine": machine,
        "notes": notes,
        "seconds": time.perf_counter() - t_start,
        "summary": rows,
        "runs": records,
    }
    write_json(args.out, result)
    print(f"\nwrote {args.out}")
    return result


if __name__ == "__main__":
    main()
