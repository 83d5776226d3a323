"""bench/missing_data.py runs in quick mode and writes well-formed JSON (its numbers are for
bench/; no accuracy assertions)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

pytest.importorskip("statsforecast")
pytest.importorskip("statsmodels")

from bench.missing_data import METHODS, OURS, VARIANTS  # noqa: E402
from bench.missing_data import main as missing_data_bench  # noqa: E402


def _finite(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


@pytest.mark.slow
def test_missing_data_quick(tmp_path: Path) -> None:
    out = tmp_path / "missing_data.json"
    result = missing_data_bench(["--quick", "--out", str(out)])
    saved = json.loads(out.read_text())  # strict JSON: NaN would have been written as null
    assert saved["summary"] == json.loads(json.dumps(result["summary"]))
    assert {"cpu_count", "numpy", "statsforecast", "date"} <= set(saved["machine"])
    assert saved["config"]["folds"] == 1 and len(saved["config"]["series"]) == 3

    rows = {(r["method"], r["variant"]): r for r in saved["summary"]}
    assert set(rows) == {(m, v) for m in METHODS for v in VARIANTS}
    for (method, variant), r in rows.items():
        for key in ("missing", "crps_vs_complete", "cov80", "cov95", "seconds"):
            assert _finite(r[key]), (method, variant, key)
        assert 0 <= r["cov80"] <= r["cov95"] <= 1
        assert r["crps_vs_complete"] > 0
        epi = (r["epi_first_vs_complete"], r["epi_mean_vs_complete"])
        assert all(_finite(e) and e > 0 for e in epi) if method in OURS else epi == (None, None)
        if variant == "complete":
            assert r["missing"] == 0 and r["crps_vs_complete"] == pytest.approx(1.0)
        floor = (r["epi_first_pooling_floor"], r["epi_mean_pooling_floor"])
        if method in OURS and variant == "complete":
            assert all(_finite(f) and f > 0 for f in floor)
        else:
            assert floor == (None, None)
    fractions = {v: rows["bayes_ar", v]["missing"] for v in VARIANTS}
    assert fractions["mcar10"] == pytest.approx(0.10, abs=0.01)
    assert fractions["mcar30"] == pytest.approx(0.30, abs=0.01)
    assert fractions["blocks5"] == pytest.approx(0.05, abs=0.015)

    goals = saved["targets"]
    for kind in OURS:
        for name in ("mcar30_cov80", "mcar30_cov95", "mcar30_crps_vs_complete"):
            assert _finite(goals[f"{kind}/{name}"]["measured"])
        for name in ("epi_first_grows", "epi_mean_grows"):
            assert len(goals[f"{kind}/{name}"]["measured"]) == 3
    assert all(isinstance(g["met"], bool) and g["target"] for g in goals.values())

    records = saved["records"]
    assert len(records) == 3 * len(METHODS) * len(VARIANTS)
    assert all(_finite(r["crps"]) and r["crps"] > 0 for r in records)
    for r in records:  # the last (only) origin's window ends at the series' end
        assert r["origin"] + r["horizon"] == saved["config"]["series"][r["series"]]["T"]
