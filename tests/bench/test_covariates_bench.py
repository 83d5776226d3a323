"""bench/covariates.py runs in quick mode and writes well-formed JSON (its numbers are for
bench/; no accuracy assertions)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("statsforecast")
pytest.importorskip("statsmodels")

from bench.covariates import METHODS, OURS, PEER, SIM, VARIANTS, simulate  # noqa: E402
from bench.covariates import main as covariates_bench  # noqa: E402
from models.forecasting.registry import KINDS  # noqa: E402


def _finite(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def test_simulated_series_follows_its_recursion() -> None:
    y, x = simulate(0)
    assert y.shape == (SIM["T"],) and x.shape == (SIM["T"], 1)
    e = y[1:] - SIM["a"] * y[:-1] - SIM["b"] * x[1:, 0]
    assert np.std(e) == pytest.approx(SIM["noise"], rel=0.15)
    assert np.corrcoef(x[1:, 0], x[:-1, 0])[0, 1] > 0.8  # a slow driver
    assert np.array_equal(simulate(0)[0], y) and not np.array_equal(simulate(1)[0], y)


@pytest.mark.slow
def test_covariates_quick(tmp_path: Path) -> None:
    out = tmp_path / "covariates.json"
    result = covariates_bench(["--quick", "--out", str(out)])
    saved = json.loads(out.read_text())  # strict JSON: NaN would have been written as null
    assert saved["summary"] == json.loads(json.dumps(result["summary"]))
    assert {"cpu_count", "numpy", "statsforecast", "date"} <= set(saved["machine"])
    assert saved["config"]["folds"] == 1
    assert saved["config"]["future_covariates"].startswith("oracle")
    assert {s["track"] for s in saved["config"]["series"].values()} == {"real", "sim"}

    rows = {(r["track"], r["method"], r["variant"]): r for r in saved["summary"]}
    assert set(rows) == {(t, m, v) for t in ("real", "sim") for m in METHODS for v in VARIANTS}
    for (track, method, variant), r in rows.items():
        for key in ("crps", "cov80", "cov95", "vs_peer", "seconds"):
            assert _finite(r[key]), (track, method, variant, key)
        assert r["crps"] > 0 and 0 <= r["cov80"] <= r["cov95"] <= 1
        ratio = r["with_vs_without"]
        assert (_finite(ratio) and ratio > 0) if variant == "with" else ratio is None
        if method == PEER:
            assert r["vs_peer"] == pytest.approx(1.0)
        if method == "auto":  # with covariates only the kinds that take them are candidates
            assert sum(r["auto_choices"].values()) == r["forecasts"]
            if variant == "with":
                assert set(r["auto_choices"]) <= {k.name for k in KINDS if k.auto and k.covariates}
    for rec in saved["records"]:  # the AR kinds report their covariate's coefficient
        has_coef = rec["method"] == "bayes_ar" and rec["variant"] == "with"
        assert _finite(rec["covariate_coef"]) if has_coef else True

    goals = saved["targets"]
    assert set(goals) == {
        f"{t}/{k}/{g}" for t in ("real", "sim") for k in OURS
        for g in ("with_vs_without", "vs_AutoARIMA_X")
    }  # fmt: skip
    assert all(_finite(g["measured"]) and isinstance(g["met"], bool) for g in goals.values())
