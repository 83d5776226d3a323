"""Forecasting through missing values: CRPS, coverage and epistemic spread of our gap-aware
forecasters (`GapForecaster`) when the training series has gaps, next to statsforecast
AutoARIMA and AutoETS given the linearly interpolated series (as a user would).

Series, horizons and rolling origins are those of bench/real_series.py (the last `folds`
windows of the M4 horizon). At each origin o the training part y[:o] comes in four variants:
complete, 10% and 30% of its values missing completely at random, and two contiguous blocks
totalling 5% of its length; the gaps are drawn from a seed derived from (series, fold,
variant) and the scored window y[o:o+h] is always complete. Every method sees the same gaps.
Run from the repo root: `python bench/missing_data.py [--quick]`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # lets `python bench/missing_data.py` work without the install
    sys.path.insert(0, str(ROOT))

from statsforecast.models import AutoARIMA, AutoETS  # noqa: E402

from app.api.schemas.model_specs import PARAMS  # noqa: E402
from app.services import fitting  # noqa: E402
from bench._common import (  # noqa: E402
    default_jobs,
    finish,
    fold_bench_parser,
    machine_info,
    print_targets,
)
from bench.chaos import StatsForecastModel, _version, pmap  # noqa: E402
from bench.real_series import HORIZON, HORIZON_OF_SEASON, LEVELS, SEASON, load_series  # noqa: E402
from models.forecasting.backtest import score_fold  # noqa: E402
from models.forecasting.gaps import COMPLETIONS, GapForecaster, pooled_predict  # noqa: E402
from models.forecasting.imputation import interpolate  # noqa: E402
from models.seeding import derived_seed  # noqa: E402

OURS = ("bayes_ar_bma", "bayes_ar", "bayes_ar_pool")
PEERS = {"AutoARIMA": AutoARIMA, "AutoETS": AutoETS}
METHODS = (*OURS, *PEERS)
VARIANTS = ("complete", "mcar10", "mcar30", "blocks5")
S = 500  # sample paths per forecast
QUICK_SERIES = ("nile", "air_passengers", "us_unemployment")


def gap_mask(o: int, variant: str, rng: np.random.Generator) -> np.ndarray:
    """Boolean (o,): True where the training value is removed."""
    miss = np.zeros(o, dtype=bool)
    if variant.startswith("mcar"):
        miss[rng.choice(o, round(int(variant[4:]) / 100 * o), replace=False)] = True
    elif variant == "blocks5":
        total, count = max(2, round(0.05 * o)), 2
        sizes = np.full(count, total // count)
        sizes[: total % count] += 1
        # observed values before each block: distinct, so at least one lies between blocks
        before = np.sort(rng.choice(o - total + 1, count, replace=False))
        starts = before + np.concatenate([[0], np.cumsum(sizes)[:-1]])
        for s, n in zip(starts, sizes, strict=True):
            miss[s : s + n] = True
    return miss


def fit_method(method: str, variant: str, train: np.ndarray, m: int, seed: int) -> Any:
    """`method` fitted on `train` (NaN where missing): ours as the forecast worker fits them
    (`fit_spec` with the schema's defaults and the season a monthly or quarterly grid
    offers, which the kind takes or leaves by evidence; through the gaps by `GapForecaster`),
    the peers on the linearly interpolated series with the true season."""
    if method in PEERS:
        filled = interpolate(train[:, None])[:, 0] if variant != "complete" else train
        return StatsForecastModel(PEERS[method], season_length=m).fit(filled)
    spec = {"kind": method, "params": PARAMS[method]().model_dump(mode="json")}
    periods = [m] if m > 1 else []
    return fitting.fit_spec(spec, train, HORIZON_OF_SEASON[m], seed, lambda _f: None, periods)[0]


def pooling_floor(model: Any, h: int, seed: int) -> np.ndarray | None:
    """Epistemic std (h,) of a complete-data fit pooled as COMPLETIONS identical members, as
    GapForecaster pools its completions: what the pooling alone adds (None with gaps)."""
    if isinstance(model, GapForecaster):
        return None
    fc = pooled_predict([model] * COMPLETIONS, [None], h, levels=(), num_samples=S, seed=seed)
    return np.asarray(fc.epistemic_std[:, 0])


def run_series(
    i: int, name: str, y: np.ndarray, freq: str, method: str, folds: int
) -> list[dict[str, Any]]:
    """One record per (fold, variant) of `method` on series i."""
    m, h = SEASON[freq], HORIZON[freq]
    T = len(y)
    records = []
    for k in range(folds):
        o = T - h - (folds - 1 - k) * h
        for v, variant in enumerate(VARIANTS):
            t0 = time.perf_counter()
            train = y[:o].copy()
            miss = gap_mask(o, variant, np.random.default_rng(derived_seed(i, k, v)))
            train[miss] = np.nan
            model = fit_method(method, variant, train, m, derived_seed(i, k, v, 1))
            # the same paths' seed for every variant and method: common random numbers
            fc = model.predict(
                h, levels=LEVELS, num_samples=S, seed=derived_seed(i, k), return_samples=True
            )
            sc = score_fold(fc, y[o : o + h, None], y[:o, None], LEVELS, m)
            epi = fc.epistemic_std[:, 0]
            floor = pooling_floor(model, h, derived_seed(i, k)) if method in OURS else None
            records.append(
                {
                    "series": name, "method": method, "variant": variant, "fold": k,
                    "origin": o, "horizon": h, "missing": float(miss.mean()),
                    "crps": float(sc.crps.mean()),
                    **{f"cov{L:g}": float(sc.covered[L].mean()) for L in LEVELS},
                    "epi_first": float(epi[0]) if method in OURS else None,
                    "epi_mean": float(epi.mean()) if method in OURS else None,
                    "epi_first_floor": None if floor is None else float(floor[0]),
                    "epi_mean_floor": None if floor is None else float(floor.mean()),
                    "seconds": time.perf_counter() - t0,
                }
            )  # fmt: skip
    return records


def summarise(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (method, variant): per-series fold means relative to the same method's
    complete variant, averaged over series; coverage pooled over series, folds and steps."""
    series = list(dict.fromkeys(r["series"] for r in records))

    def mean(key: str, s: str, meth: str, var: str) -> float:
        """NaN when no fold has the value (a pooling floor: none for a fit with gaps)."""
        selected = ((r["series"], r["method"], r["variant"]) == (s, meth, var) for r in records)
        vals = [r[key] for r, ok in zip(records, selected, strict=True) if ok]
        vals = [v for v in vals if v is not None]
        return float(np.mean(vals)) if vals else float("nan")

    def rel(key: str, meth: str, var: str, base: str | None = None) -> float:
        base = base or key
        return float(
            np.nanmean([mean(key, s, meth, var) / mean(base, s, meth, "complete") for s in series])
        )

    rows = []
    for meth in METHODS:
        for var in VARIANTS:
            sel = [r for r in records if r["method"] == meth and r["variant"] == var]
            row: dict[str, Any] = {"method": meth, "variant": var}
            row["missing"] = float(np.mean([r["missing"] for r in sel]))
            row["crps_vs_complete"] = rel("crps", meth, var)
            row |= {f"cov{L:g}": float(np.mean([r[f"cov{L:g}"] for r in sel])) for L in LEVELS}
            row["epi_first_vs_complete"] = rel("epi_first", meth, var) if meth in OURS else None
            row["epi_mean_vs_complete"] = rel("epi_mean", meth, var) if meth in OURS else None
            for key in ("epi_first", "epi_mean"):
                ok = meth in OURS and var == "complete"
                row[f"{key}_pooling_floor"] = rel(f"{key}_floor", meth, var, key) if ok else None
            row["seconds"] = float(sum(r["seconds"] for r in sel))
            rows.append(row)
    return rows


def targets(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The acceptance targets, per kind of ours: measured value and whether it is met."""
    by = {(r["method"], r["variant"]): r for r in rows}
    out: dict[str, dict[str, Any]] = {}
    for kind in OURS:
        r30 = by[kind, "mcar30"]
        for L in LEVELS:
            cov = r30[f"cov{L:g}"]
            out[f"{kind}/mcar30_cov{L:g}"] = {
                "measured": cov, "target": f"|coverage - {L / 100:g}| <= 0.02",
                "met": abs(cov - L / 100) <= 0.02,
            }  # fmt: skip
        crps = r30["crps_vs_complete"]
        out[f"{kind}/mcar30_crps_vs_complete"] = {
            "measured": crps, "target": "<= 1.10", "met": crps <= 1.10,
        }  # fmt: skip
        for key in ("epi_first", "epi_mean"):
            seq = [by[kind, v][f"{key}_vs_complete"] for v in ("complete", "mcar10", "mcar30")]
            out[f"{kind}/{key}_grows"] = {
                "measured": seq, "target": "complete < mcar10 < mcar30",
                "met": bool(seq[0] < seq[1] < seq[2]),
            }  # fmt: skip
    return out


def print_table(rows: list[dict[str, Any]], goals: dict[str, dict[str, Any]]) -> None:
    head = f"{'method':<13} {'variant':<9} {'miss':>5} {'CRPS/compl':>10} {'cov80':>6} "
    head += f"{'cov95':>6} {'epi1/compl':>10} {'epiH/compl':>10} {'sec':>6}"
    print(head + "\n" + "-" * len(head))

    def f(x: float | None) -> str:
        return f"{x:>10.3f}" if x is not None else f"{'-':>10}"

    for r in rows:
        print(
            f"{r['method']:<13} {r['variant']:<9} {r['missing']:>5.2f} {f(r['crps_vs_complete'])} "
            f"{r['cov80']:>6.3f} {r['cov95']:>6.3f} {f(r['epi_first_vs_complete'])} "
            f"{f(r['epi_mean_vs_complete'])} {r['seconds']:>6.1f}"
        )
    for r in rows:
        if r["epi_first_pooling_floor"] is not None:
            print(
                f"{r['method']:<13} pooling floor (complete fit pooled {COMPLETIONS}x): "
                f"epi1 x{r['epi_first_pooling_floor']:.3f}, epiH x{r['epi_mean_pooling_floor']:.3f}"
            )
    print_targets(goals)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = fold_bench_parser(__doc__, "missing_data", "3 series, 1 fold", 3)
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    jobs = args.jobs or default_jobs(args.quick)
    full = load_series()  # a series' index in the full list seeds its gaps, --quick or not
    data = {k: full[k] for k in QUICK_SERIES} if args.quick else full
    folds = args.folds or (1 if args.quick else 3)
    index = {name: i for i, name in enumerate(full)}
    tasks = [(index[n], n, y, f, meth, folds) for n, (y, f) in data.items() for meth in METHODS]
    records = [r for rs in pmap(run_series, tasks, jobs) for r in rs]
    rows = summarise(records)
    goals = targets(rows)
    print(f"\n{len(data)} series x {folds} origin(s); relative columns: mean over series of the "
          "method's score / its score on the complete variant")  # fmt: skip
    print_table(rows, goals)
    notes = [
        "origins as bench/real_series.py: the last `folds` windows of the M4 horizon",
        "mcar10/mcar30: round(f * o) training values removed uniformly at random; blocks5: two "
        "contiguous gaps totalling round(0.05 * o) values, anywhere (the end included)",
        "ours: fit_spec (the forecast worker's) with the schema's defaults and periods [m] for "
        "monthly and quarterly series (what their grid offers; the kind keeps a season by "
        "evidence); with gaps GapForecaster(refit=cheap_fit); "
        f"{S} paths, the same predict seed for every variant (common random numbers)",
        "peers: StatsForecastModel (bench/chaos.py) on the linearly interpolated series (ends "
        "held); CRPS from its Gaussian quantile 'samples', scored by backtest.score_fold",
        "epi1 / epiH: epistemic std at the first step / averaged over the horizon",
        f"pooling floor: the complete-data fit pooled as {COMPLETIONS} identical members "
        f"({S // COMPLETIONS} paths each, gaps.pooled_predict) relative to its own forecast: "
        "the epistemic std the pooling adds with no information lost",
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
            "variants": list(VARIANTS),
            "jobs": jobs,
            "series": {k: {"T": len(y), "frequency": f} for k, (y, f) in data.items()},
        },  # fmt: skip
        "machine": machine_info(statsforecast=_version("statsforecast")),
        "notes": notes,
        "total_seconds": total,
        "summary": rows,
        "targets": goals,
        "records": records,
    }
    return finish(args.out, result)


if __name__ == "__main__":
    main()
