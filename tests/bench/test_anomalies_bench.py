"""bench/anomalies.py in quick mode: finds its injected faults and writes its targets."""

from __future__ import annotations

import json
from pathlib import Path

from bench.anomalies import main


def test_anomalies_quick(tmp_path: Path) -> None:
    out = tmp_path / "anomalies.json"
    result = main(["--quick", "--out", str(out)])
    assert json.loads(out.read_text())["targets"] == result["targets"]
    assert {(r["system"], r["level"]) for r in result["rows"]} == {
        (s, level) for s in ("ar1", "ar1_daily") for level in (99.0, 99.9)
    }
    assert all(r["found"] >= 0.8 and r["false_flag_rate"] < 0.03 for r in result["rows"])
