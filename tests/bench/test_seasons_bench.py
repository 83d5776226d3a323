"""bench/seasons.py runs in quick mode and writes well-formed JSON (its numbers are for
bench/; no accuracy assertions)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

pytest.importorskip("statsforecast")
pytest.importorskip("statsmodels")

from bench.seasons import METHODS, OURS, PEERS, QUICK_SERIES, picks_text  # noqa: E402
from bench.seasons import main as seasons_bench  # noqa: E402


def _finite(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def test_picks_text() -> None:
    picks = [
        {"kind": "bayes_ar", "season_length": 12, "fourier_order": 2},
        {"kind": "bayes_ar", "season_length": 12, "fourier_order": 2},
        {"kind": "bayes_ar_bma", "season_length": None, "fourier_order": 0},
        {"kind": "ensemble", "season_length": None, "fourier_order": None},
    ]
    text = "bayes_ar m=12 K=2 x2, bayes_ar_bma no season x1, ensemble x1"
    assert picks_text(picks) == text and picks_text(None) == ""


@pytest.mark.slow
def test_seasons_quick(tmp_path: Path) -> None:
    out = tmp_path / "seasons.json"
    result = seasons_bench(["--quick", "--out", str(out)])
    saved = json.loads(out.read_text())  # strict JSON: NaN would have been written as null
    assert saved["summary"] == json.loads(json.dumps(result["summary"]))
    assert {"cpu_count", "numpy", "statsforecast", "date"} <= set(saved["machine"])
    assert saved["config"]["folds"] == 1 and set(saved["config"]["series"]) == set(QUICK_SERIES)

    rows = {r["method"]: r for r in saved["summary"]}
    assert list(rows) == list(METHODS)
    for method, r in rows.items():
        for key in ("median_crps_vs_best_peer", "mean_crps_vs_best_peer", "mean_cov80",
                    "mean_cov95", "seconds"):  # fmt: skip
            assert _finite(r[key]), (method, key)
        assert set(r["crps_vs_best_peer"]) == set(QUICK_SERIES)
    assert min(rows[p]["crps_vs_best_peer"][s] for p in PEERS for s in QUICK_SERIES) == 1.0

    for rec in saved["records"]:
        assert _finite(rec["crps"]) and rec["crps"] > 0
        assert rec["true_season"] == {"monthly": 12, "quarterly": 4}[rec["frequency"]]
        if rec["method"] in OURS:  # what auto chose at each origin, and the season it found
            assert len(rec["picks"]) == rec["folds"] == 1
            for p in rec["picks"]:
                if rec["method"] == "auto-ar":
                    assert p["kind"] == "bayes_ar_pool"
                if p["season_length"] is not None:
                    assert p["season_length"] >= 2 and p["fourier_order"] >= 1
        else:
            assert rec["picks"] is None

    assert saved["held_out"] == {"summary": [], "records": []}  # full runs only

    goals = saved["targets"]
    assert set(goals) == {f"{m}/{s}_crps_vs_best_peer" for m in OURS for s in ("median", "mean")}
    assert all(_finite(g["measured"]) and isinstance(g["met"], bool) for g in goals.values())
