"""bench/load.py in quick mode: the real server under load loses nothing and never answers
5xx. Its speed is for the full run in bench/, not asserted here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.mark.slow
def test_load_quick_loses_nothing(tmp_path: Path, redis_url: str) -> None:
    from bench.load import main as load

    out = tmp_path / "load.json"
    result = load(["--quick", "--redis", redis_url, "--out", str(out)])
    assert json.loads(out.read_text())["verification"] == result["verification"]
    check = result["verification"]
    assert check["lost"] == 0 and check["observations_acked"] > 0 and check["jobs_acked"] > 0
    assert check["jobs_by_status"] == {"succeeded": check["jobs_acked"]}
    for row in result["rows"]:
        assert not [s for s in row["statuses"] if not s.startswith("2")], row["statuses"]
    # Both server processes' request samples reach /metrics (multiprocess mode).
    assert check["metrics_observation_posts"] >= check["client_observation_posts"]
