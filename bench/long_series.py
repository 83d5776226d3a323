"""Long sensor records with gaps: fit+forecast time of the kinds a forecast job fits, on
hourly series of 2,000 to 100,000 values, through the worker's path (`fit_spec` with the
seasons an hourly grid offers, 24 and 168), with the CRPS and 80/95% coverage of the next
48 hours.

The series: a daily and a weekly cycle, a slow random-walk drift and N(0, 0.5^2) noise, with
2% of its values missing at random and one logger outage of 24 values (a year of hourly
readings is 8,760 values; the service takes up to 200,000). The scored window is complete.
Run from the repo root: `python bench/long_series.py [--quick]`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # lets `python bench/long_series.py` work without the install
    sys.path.insert(0, str(ROOT))

from app.api.schemas.model_specs import PARAMS, AutoParams  # noqa: E402
from app.services.fitting import fit_spec  # noqa: E402
from bench._common import finish, machine_info  # noqa: E402
from models.forecasting.backtest import score_fold  # noqa: E402
from models.seeding import derived_seed  # noqa: E402

H, S, LEVELS, PERIODS = 48, 500, (80, 95), (24, 168)
OUTAGE = 24
# kind -> the lengths it runs at (auto trains the ensemble among its candidates)
FULL = {
    "bayes_ar": (2_000, 20_000, 100_000),
    "bayes_ar_pool": (2_000, 20_000),
    "auto": (2_000, 20_000, 100_000),
}
QUICK = {"bayes_ar": (500,)}


def sensor_record(T: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(training values with NaN gaps (T,), the complete next H values)."""
    rng = np.random.default_rng(derived_seed(11, T, seed))
    t = np.arange(T + H)
    y = (
        20
        + 5 * np.sin(2 * np.pi * t / 24)
        + 2 * np.sin(2 * np.pi * t / 168)
        + np.cumsum(rng.normal(0, 0.05, T + H))
        + rng.normal(0, 0.5, T + H)
    )
    train = y[:T].copy()
    train[rng.random(T) < 0.02] = np.nan
    start = int(rng.integers(T // 4, T - T // 4))
    train[start : start + OUTAGE] = np.nan
    return train, y[T:]


def run(kind: str, T: int, seed: int = 0) -> dict[str, Any]:
    """One fit+forecast of `kind` on a T-value record, timed and scored."""
    y, future = sensor_record(T, seed)
    params = AutoParams() if kind == "auto" else PARAMS[kind]()
    spec = {"kind": kind, "params": params.model_dump(mode="json")}
    t0 = time.perf_counter()
    model, fitted = fit_spec(spec, y, H, seed, lambda _: None, periods=PERIODS)
    fc = model.predict(H, levels=LEVELS, num_samples=S, seed=seed, return_samples=True)
    seconds = time.perf_counter() - t0
    observed = y[np.isfinite(y), None]
    sc = score_fold(fc, future[:, None], observed, LEVELS, 24)
    return {
        "kind": kind,
        "T": T,
        "missing": float(np.mean(np.isnan(y))),
        "seconds": seconds,
        "crps": float(sc.crps.mean()),
        **{f"cov{L}": float(sc.covered[L].mean()) for L in LEVELS},
        "fitted": fitted["model"],  # what was fitted (auto: its choice)
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="bayes_ar on 500 values only")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/long_series.json")
    args = ap.parse_args(argv)
    plan = QUICK if args.quick else FULL
    rows = []
    head = f"{'kind':<14} {'T':>8} {'missing':>8} {'seconds':>8} {'CRPS':>6} {'cov80':>6} "
    print(head + f"{'cov95':>6}  fitted")
    for kind, lengths in plan.items():
        for T in lengths:
            r = run(kind, T)
            rows.append(r)
            print(
                f"{kind:<14} {T:>8,} {r['missing']:>8.3f} {r['seconds']:>8.2f} {r['crps']:>6.3f} "
                f"{r['cov80']:>6.3f} {r['cov95']:>6.3f}  {r['fitted']}",
                flush=True,
            )
    print("the noise alone (sd 0.5) gives a perfect forecast a CRPS of 0.28 (sd / sqrt(pi))")
    result = {
        "config": {"horizon": H, "num_samples": S, "periods": PERIODS, "outage": OUTAGE},
        "machine": machine_info(),
        "rows": rows,
    }
    return finish(args.out, result)


if __name__ == "__main__":
    main()
