"""Finding the season: our `auto`, fitted through the service's path (`fit_spec`) with no
season in its params and only the periods the time grid suggests (12 for monthly data, 4
for quarterly), against statsforecast AutoARIMA, AutoETS and SeasonalNaive given the true
season.

Series: the monthly and quarterly series of bench/real_series.py (nothing is downloaded),
with its M4 horizons (monthly 18, quarterly 8) and rolling origins (the last `folds` windows
of the horizon, the last ending at T). "auto": every registry candidate, as the service runs
it; "auto-ar": the candidates restricted to the conjugate AR kinds' pool, bayes_ar_pool (its
season is then always reported). Run from the repo root: `python bench/seasons.py [--quick]`.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # lets `python bench/seasons.py` work without the install
    sys.path.insert(0, str(ROOT))

from statsforecast.models import AutoARIMA, AutoETS, SeasonalNaive  # noqa: E402

from app.api.schemas.model_specs import AutoParams, AutoSpec  # noqa: E402
from app.services import fitting  # noqa: E402
from bench._common import (  # noqa: E402
    default_jobs,
    finish,
    fold_bench_parser,
    machine_info,
    print_targets,
)
from bench.chaos import StatsForecastModel, _version, pmap  # noqa: E402
from bench.real_series import HORIZON, LEVELS, SEASON, load_series  # noqa: E402
from models.forecasting.backtest import score_fold  # noqa: E402
from models.seeding import derived_seed  # noqa: E402

OURS = {"auto": None, "auto-ar": ["bayes_ar_pool"]}  # name -> candidate kinds
PEERS = {"AutoARIMA": AutoARIMA, "AutoETS": AutoETS, "SeasonalNaive": SeasonalNaive}
METHODS = (*OURS, *PEERS)
S = 500  # sample paths per forecast
QUICK_SERIES = ("air_passengers", "us_unemployment")


def fit_ours(method: str, y: np.ndarray, h: int, m: int, seed: int) -> tuple[Any, dict]:
    """`auto` as the forecast worker fits it: the auto schema's defaults (no season), periods
    [m] from the grid; for "auto-ar", the AR kinds its only candidates."""
    params = AutoParams(candidates=OURS[method]).model_dump(mode="json")
    return fitting.fit_spec({"kind": "auto", "params": params}, y, h, seed, lambda _f: None, [m])


def run_series(i: int, name: str, y: np.ndarray, freq: str, method: str, folds: int) -> dict:
    """Scores of `method` on series i over its rolling origins (means over folds), with what
    `auto` chose at each origin. Origins whose history the service would refuse for `auto`
    (shorter than the auto spec's min_length) are left out, for every method."""
    m, h = SEASON[freq], HORIZON[freq]
    T = len(y)
    folds = min(folds, 1 + (T - h - AutoSpec(kind="auto").min_length()) // h)
    crps, cov, picks = [], {L: [] for L in LEVELS}, []
    t0 = time.perf_counter()
    for k in range(folds):
        o = T - h - (folds - 1 - k) * h
        if method in PEERS:
            model: Any = StatsForecastModel(PEERS[method], season_length=m).fit(y[:o])
        else:
            model, fitted = fit_ours(method, y[:o], h, m, derived_seed(i, k))
            season = fitted.get("seasonality") or {}
            picks.append({
                "kind": fitted["auto"]["choice"], "season_length": season.get("season_length"),
                "fourier_order": season.get("fourier_order"),
            })  # fmt: skip
        fc = model.predict(
            h, levels=LEVELS, num_samples=S, seed=derived_seed(i, k, 1), return_samples=True
        )
        sc = score_fold(fc, y[o : o + h, None], y[:o, None], LEVELS, m)
        crps.append(float(sc.crps.mean()))
        for L in LEVELS:
            cov[L].append(float(sc.covered[L].mean()))
    return {
        "series": name, "method": method, "T": T, "frequency": freq, "true_season": m,
        "horizon": h, "folds": folds, "crps": float(np.mean(crps)), "crps_folds": crps,
        **{f"cov{L:g}": float(np.mean(cov[L])) for L in LEVELS},
        "picks": picks or None, "seconds": time.perf_counter() - t0,
    }  # fmt: skip


def picks_text(picks: list[dict] | None) -> str:
    """'bayes_ar m=12 K=2 x3, ensemble x2' from the per-origin picks."""
    if not picks:
        return ""
    shown = [
        p["kind"] + (f" m={p['season_length']} K={p['fourier_order']}" if p["season_length"]
                     else " no season" if p["kind"].startswith("bayes") else "")
        for p in picks
    ]  # fmt: skip
    return ", ".join(f"{s} x{shown.count(s)}" for s in dict.fromkeys(shown))


def summarise(records: list[dict]) -> list[dict]:
    """Per method: CRPS relative to the best peer on each series, its median and mean over
    series, mean coverage, and the series where it has the lowest CRPS of all."""
    by = {(r["series"], r["method"]): r for r in records}
    series = list(dict.fromkeys(r["series"] for r in records))
    best = {s: min(by[s, p]["crps"] for p in PEERS) for s in series}
    rows = []
    for meth in METHODS:
        rel = [by[s, meth]["crps"] / best[s] for s in series]
        for s, r in zip(series, rel, strict=True):
            by[s, meth]["crps_vs_best_peer"] = r
        rows.append({
            "method": meth, "median_crps_vs_best_peer": statistics.median(rel),
            "mean_crps_vs_best_peer": float(np.mean(rel)),
            "crps_vs_best_peer": dict(zip(series, rel, strict=True)),
            **{f"mean_cov{L:g}": float(np.mean([by[s, meth][f"cov{L:g}"] for s in series]))
               for L in LEVELS},
            "best_crps_on": sum(
                min(METHODS, key=lambda k, s=s: by[s, k]["crps"]) == meth for s in series
            ),
            "seconds": float(sum(by[s, meth]["seconds"] for s in series)),
        })  # fmt: skip
    return rows


def targets(rows: list[dict]) -> dict[str, dict[str, Any]]:
    """Ours below the best peer's CRPS on the median series and on average."""
    out = {}
    for r in rows:
        if r["method"] in OURS:
            for stat in ("median", "mean"):
                v = r[f"{stat}_crps_vs_best_peer"]
                out[f"{r['method']}/{stat}_crps_vs_best_peer"] = {
                    "measured": v,
                    "target": "< 1",
                    "met": v < 1.0,
                }
    return out


def held_out_series() -> dict[str, tuple[np.ndarray, str]]:
    """Quarterly series outside the table above (statsmodels' macrodata columns it does not
    use, and the Danish money-demand data): a check that `auto` is not fitted to that set."""
    from statsmodels.datasets import danish_data, macrodata

    macro, danish = macrodata.load_pandas().data, danish_data.load_pandas().data
    out = {f"us_{c}": macro[c] for c in ("realinv", "realgovt", "m1", "cpi", "tbilrate", "pop")}
    out |= {f"dk_{c}": danish[c] for c in ("lrm", "lry", "lpy", "ibo", "ide")}
    return {k: (v.to_numpy(np.float64), "quarterly") for k, v in out.items()}


def print_summary(rows: list[dict], title: str) -> None:
    print(f"\n{title} (CRPS / the lowest peer CRPS on the series)")
    head = f"{'method':<13} {'median':>7} {'mean':>7} {'cov80':>6} {'cov95':>6} {'best':>5} "
    print(head + f"{'sec':>7}\n" + "-" * (len(head) + 7))
    for r in rows:
        print(
            f"{r['method']:<13} {r['median_crps_vs_best_peer']:>7.3f} "
            f"{r['mean_crps_vs_best_peer']:>7.3f} {r['mean_cov80']:>6.3f} "
            f"{r['mean_cov95']:>6.3f} {r['best_crps_on']:>5} {r['seconds']:>7.1f}"
        )


def print_tables(records: list[dict], rows: list[dict], goals: dict[str, dict]) -> None:
    by = {(r["series"], r["method"]): r for r in records}
    series = list(dict.fromkeys(r["series"] for r in records))
    head = f"{'series':<16} {'m':>2} {'h':>2} {'method':<13} {'CRPS':>10} {'/best peer':>10} "
    head += f"{'cov80':>6} {'cov95':>6}  chosen per origin"
    print(head + "\n" + "-" * len(head))
    for s in series:
        for j, meth in enumerate(METHODS):
            r = by[s, meth]
            lead = f"{s:<16} {r['true_season']:>2} {r['horizon']:>2}" if j == 0 else ""
            print(
                f"{lead:<22} {meth:<13} {r['crps']:>10.4g} {r['crps_vs_best_peer']:>10.3f} "
                f"{r['cov80']:>6.3f} {r['cov95']:>6.3f}  {picks_text(r['picks'])}"
            )
    print_summary(rows, f"Across {len(series)} series")
    print_targets(goals)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = fold_bench_parser(__doc__, "seasons", "2 series, 1 fold", 5)
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    jobs = args.jobs or default_jobs(args.quick)
    full = load_series()
    index = {name: i for i, name in enumerate(full)}
    data = {k: v for k, v in full.items() if v[1] in ("monthly", "quarterly")}
    data = {k: data[k] for k in QUICK_SERIES} if args.quick else data
    folds = args.folds or (1 if args.quick else 5)
    held = {} if args.quick else held_out_series()
    ids = index | {n: len(full) + i for i, n in enumerate(held)}
    tasks = [
        (ids[n], n, y, f, meth, folds) for n, (y, f) in (data | held).items() for meth in METHODS
    ]
    everything = pmap(run_series, tasks, jobs)
    records = [r for r in everything if r["series"] in data]
    held_records = [r for r in everything if r["series"] in held]
    rows = summarise(records)
    goals = targets(rows)
    short = {r["series"]: r["folds"] for r in records if r["folds"] < folds}
    fewer = f" (fewer, auto's min_length: {short})" if short else ""
    print(f"\n{len(data)} series x {folds} origin(s){fewer}; ours given NO season (periods = "
          "the grid's: [12] monthly, [4] quarterly), peers given the true one")  # fmt: skip
    print_tables(records, rows, goals)
    held_rows = summarise(held_records) if held_records else []
    if held_rows:
        print_summary(held_rows, f"Held out: {len(held)} quarterly series ({', '.join(held)})")
    notes = [
        "origins and horizons as bench/real_series.py (M4: monthly 18, quarterly 8); a series "
        "gets fewer origins where the first would leave `auto` less history than its spec's "
        f"min_length (the API would refuse it): {short or 'none'}",
        "auto: fit_spec({'kind': 'auto', 'params': AutoParams() defaults}, y[:o], h, seed, "
        "periods=[m]) as the forecast worker calls it: every registry candidate (bayes_ar_pool, "
        "ensemble, analog); the AR pool picks its season by evidence",
        "auto-ar: the same with candidates [bayes_ar_pool]",
        "chosen per origin: the kind auto picked and the season (m) and Fourier order (K) its "
        "evidence chose (none reported for ensemble / analog, which take no season)",
        f"{S} paths per forecast, one Monte Carlo seed; peers: StatsForecastModel "
        "(bench/chaos.py) with season_length=m, CRPS from their Gaussian quantile 'samples'",
        "macrodata's series (us_*) are seasonally adjusted: their 'true' season is nominal",
        "held out: quarterly series outside the table (macrodata's other columns, "
        "statsmodels' danish_data), scored the same way, no targets: a check that auto is "
        "not fitted to the table's series",
    ]
    total = time.perf_counter() - t_start
    print(f"total {total:.0f} s")
    result = {
        "config": {
            "quick": args.quick,
            "folds": folds,
            "num_samples": S,
            "levels": list(LEVELS),
            "methods": list(METHODS),
            "jobs": jobs,
            "auto_kinds": {k: list(v) if v else "all registry candidates" for k, v in OURS.items()},
            "series": {k: {"T": len(y), "frequency": f} for k, (y, f) in data.items()},
        },  # fmt: skip
        "machine": machine_info(statsforecast=_version("statsforecast")),
        "notes": notes,
        "total_seconds": total,
        "summary": rows,
        "targets": goals,
        "records": records,
        "held_out": {"summary": held_rows, "records": held_records},
    }
    return finish(args.out, result)


if __name__ == "__main__":
    main()
