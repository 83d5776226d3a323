"""bench/chaos.py and bench/real_series.py run in quick mode and write well-formed JSON (their
numbers are for bench/; no timing or accuracy assertions)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

pytest.importorskip("statsforecast")

from bench.chaos import DATA  # noqa: E402
from bench.chaos import main as chaos_bench  # noqa: E402
from bench.real_series import main as real_series_bench  # noqa: E402


def _all_finite_or_null(x: object) -> bool:
    if isinstance(x, dict):
        return all(_all_finite_or_null(v) for v in x.values())
    if isinstance(x, list):
        return all(_all_finite_or_null(v) for v in x)
    return not isinstance(x, float) or math.isfinite(x)


@pytest.mark.slow
def test_chaos_quick(tmp_path: Path) -> None:
    pytest.importorskip("dysts")
    if not (DATA / "published_smape.json").exists():
        pytest.fail(f"dysts benchmark data missing at {DATA}", pytrace=False)
    out = tmp_path / "chaos.json"
    result = chaos_bench(["--quick", "--out", str(out), "--cache", str(tmp_path / "cache")])
    saved = json.loads(out.read_text())  # strict JSON: NaN would have been written as null
    assert _all_finite_or_null(saved)
    assert {"cpu_count", "numpy", "statsforecast", "date"} <= set(saved["machine"])

    ours = saved["published"]["ours"]
    assert set(ours) == {"pts_per_period_100", "pts_per_period_100_noise", "pts_per_period_15"}
    for track, kinds in ours.items():
        assert "analog" in kinds and ("bayes_ar" in kinds) == (track != "pts_per_period_15")
        assert set(saved["published"]["reference"][track]) >= {"NBEATSModel", "AutoARIMA"}
        for row in kinds.values():
            assert 0 <= row["median_smape"] <= 200
            assert len(row["per_system"]) == row["n_systems"] == 6

    rows = saved["uncertainty"]["summary"]
    assert {r["noise"] for r in rows} == {"clean", "noisy"}
    assert {"bayes_ar", "analog", "AutoARIMA", "AutoETS"} <= {r["method"] for r in rows}
    for r in rows:
        assert r["crps"] > 0 and r["vpt"] >= 0
        for k in ("cov80", "cov95", "cov80_cf", "cov95_cf", "cov80_ncf", "cov95_ncf"):
            assert k not in r or 0 <= r[k] <= 1
    assert all("cov95_cf" in r and "cov95_ncf" in r for r in rows if r["method"] == "bayes_ar")
    assert len(saved["uncertainty"]["records"]) == len(result["uncertainty"]["records"])


@pytest.mark.slow
def test_real_series_quick(tmp_path: Path) -> None:
    pytest.importorskip("statsmodels")
    out = tmp_path / "real_series.json"
    result = real_series_bench(["--quick", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert _all_finite_or_null(saved)
    assert saved["summary"] == json.loads(json.dumps(result["summary"]))
    methods = {r["method"] for r in saved["summary"]}
    assert {"bayes_ar", "bayes_ar_bma", "AutoARIMA", "AutoETS", "SeasonalNaive"} <= methods
    series = {r["series"] for r in saved["records"]}
    assert len(series) == 3 and len(saved["records"]) == len(series) * len(methods)
    for r in saved["records"]:
        assert r["mase"] > 0 and r["crps"] > 0 and 0 <= r["cov95"] <= 1
        assert len(r["origins"]) == saved["config"]["folds"]
