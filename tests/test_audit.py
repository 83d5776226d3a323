"""The CI audit fails on fixable vulnerabilities and only warns on the rest."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / ".ci" / "audit.py"
spec = importlib.util.spec_from_file_location("ci_audit", SCRIPT)
assert spec is not None and spec.loader is not None
audit = importlib.util.module_from_spec(spec)
spec.loader.exec_module(audit)


def fake_pip_audit(monkeypatch: pytest.MonkeyPatch, stdout: str) -> None:
    def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(cmd, 1, stdout=stdout, stderr="boom")

    monkeypatch.setattr(audit.subprocess, "run", run)


def report(*vulns: dict[str, Any]) -> str:
    deps = [
        {"name": "pkg", "version": "1.0", "vulns": list(vulns)},
        {"name": "x", "skip_reason": "?"},
    ]
    return json.dumps({"dependencies": deps, "fixes": []})


def test_fixable_vulnerability_fails(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    fake_pip_audit(monkeypatch, report({"id": "GHSA-1", "fix_versions": ["1.1"]}))
    assert audit.main(["audit.py"]) == 1
    assert "FAIL (upgrade available): pkg 1.0: GHSA-1" in capsys.readouterr().out


def test_unfixed_vulnerability_and_unknown_pins_warn(
    monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    fake_pip_audit(monkeypatch, report({"id": "GHSA-2", "fix_versions": []}))
    assert audit.main(["audit.py"]) == 0
    out = capsys.readouterr().out
    assert "no fix released" in out and "1 pins unknown" in out


def test_unreachable_service_warns(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    fake_pip_audit(monkeypatch, "")
    assert audit.main(["audit.py"]) == 0
    assert "did not run to completion" in capsys.readouterr().out
