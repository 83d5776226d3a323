"""Flagging sensor faults in a series' history (`detect_anomalies`): detection and false flags.

Simulated sensor records (an AR(1) around a level, and the same with a daily cycle), each
with injected faults: three spikes of 6 marginal std, a stuck run of 10 equal readings, and
a level shift of 5 marginal std. A fault counts as found when any of its readings is
flagged (a shift: its first reading); every other reading flagged is a false flag. Seeds
are fixed; nothing is tuned on these series (the levels are the user's nominal ones).
Run from the repo root: `python bench/anomalies.py [--quick]`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # lets `python bench/anomalies.py` work without the install
    sys.path.insert(0, str(ROOT))

from bench._common import finish, machine_info  # noqa: E402
from models.forecasting.anomalies import find_anomalies  # noqa: E402
from models.forecasting.bayes_ar import BayesianAR  # noqa: E402

LEVELS = (99.0, 99.9)
SYSTEMS = ("ar1", "ar1_daily")
T = 600


def sensor(system: str, rng: np.random.Generator) -> tuple[np.ndarray, list[list[int]]]:
    """A record with faults injected, and each fault's readings."""
    e = np.zeros(T)
    for t in range(1, T):
        e[t] = 0.8 * e[t - 1] + rng.standard_normal()
    scale = 1 / np.sqrt(1 - 0.64)
    y = 20 + e
    if system == "ar1_daily":
        y += 3 * np.sin(2 * np.pi * np.arange(T) / 24)
    spikes = rng.choice(np.arange(40, T - 40), 3, replace=False)
    faults: list[list[int]] = []
    for t in spikes:
        y[t] += rng.choice([-1, 1]) * 6 * scale
        faults.append([int(t)])
    s = int(rng.integers(60, T - 60))
    y[s : s + 10] = y[s]
    faults.append(list(range(s + 1, s + 10)))
    shift = int(rng.integers(T // 2, T - 30))
    y[shift:] += 5 * scale
    faults.append([shift])
    return y, faults


def score(system: str, seed: int, level: float) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    y, faults = sensor(system, rng)
    template = BayesianAR(season_length=24, fourier_order=2) if system == "ar1_daily" else None
    started = time.perf_counter()
    flags = {f["index"] for f in find_anomalies(y[:, None], level, template)}
    seconds = time.perf_counter() - started
    faulty = {t for fault in faults for t in fault}
    return {
        "found": sum(any(t in flags for t in fault) for fault in faults),
        "faults": len(faults),
        "false": len(flags - faulty),
        "clean": T - len(faulty),
        "seconds": seconds,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 seeds per system")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/anomalies.json")
    args = ap.parse_args(argv)
    seeds = range(2 if args.quick else 20)
    rows = []
    print(f"{'system':<11} {'level':>6} {'found':>7} {'false flags':>12} {'s/series':>9}")
    for system in SYSTEMS:
        for level in LEVELS:
            runs = [score(system, seed, level) for seed in seeds]
            found = sum(r["found"] for r in runs) / sum(r["faults"] for r in runs)
            false = sum(r["false"] for r in runs) / sum(r["clean"] for r in runs)
            secs = float(np.mean([r["seconds"] for r in runs]))
            rows.append({"system": system, "level": level, "found": found,
                         "false_flag_rate": false, "seconds_per_series": secs})  # fmt: skip
            print(f"{system:<11} {level:>6g} {found:>7.3f} {false:>12.4f} {secs:>9.2f}")
    targets = {
        f"{r['system']}@{r['level']:g}": {
            "found": r["found"],
            "false_flag_rate": r["false_flag_rate"],
            "target": ">= 0.9 found at < 0.01 false flags",
            "met": r["found"] >= 0.9 and r["false_flag_rate"] < 0.01,
        }
        for r in rows
    }
    for name, t in targets.items():
        print(f"target {name}: {'met' if t['met'] else 'NOT met'}")
    result = {"machine": machine_info(), "seeds": len(seeds), "length": T, "rows": rows,
              "targets": targets}  # fmt: skip
    return finish(args.out, result)


if __name__ == "__main__":
    main()
