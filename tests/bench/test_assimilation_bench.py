"""bench/assimilation.py runs in quick mode and writes well-formed JSON (no timing checks)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from bench.assimilation import main as assimilation_bench  # noqa: E402


def test_assimilation_bench_quick(tmp_path: Path) -> None:
    out = tmp_path / "assimilation.json"
    result = assimilation_bench(["--quick", "--out", str(out)])
    saved = json.loads(out.read_text())  # strict JSON: NaN would have been written as null
    assert saved["summary"] == json.loads(json.dumps(result["summary"]))
    assert {"cpu_count", "torch", "numpy", "dapper", "date", "threads"} <= set(saved["machine"])

    rows = saved["summary"]
    assert {r["impl"] for r in rows} == {"ours", "dapper"}
    assert {r["setup"] for r in rows} == {"L63", "L96"}
    for setup, method in {(r["setup"], r["method"]) for r in rows}:
        impls = {r["impl"] for r in rows if (r["setup"], r["method"]) == (setup, method)}
        assert impls == {"ours", "dapper"}, (setup, method)
    for r in rows:
        assert r["seeds"] == 1 and r["diverged"] == 0, r
        for key in ("rmse_mean", "spread", "crps", "rank_hist_dev", "ms_per_cycle"):
            assert math.isfinite(r[key]) and r[key] >= 0, (key, r)
        assert 0 < r["rmse_mean"] < 2.0 and r["ms_per_analysis"] <= r["ms_per_cycle"]
        if r["impl"] == "ours":
            assert math.isfinite(r["rmse_ratio_vs_dapper"])

    for run in saved["runs"]:
        N = next(
            m["ours"]["ensemble_size"]
            for m in saved["config"][run["setup"]]["methods"]
            if m["label"] == run["method"]
        )
        assert len(run["rank_hist"]) == N + 1
        assert sum(run["rank_hist"]) == run["cycles_scored"] * (3 if run["setup"] == "L63" else 40)
