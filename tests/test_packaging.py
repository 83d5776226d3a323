"""The client installs alone: `pip install kalmanac` brings numpy and httpx, not the server.

A fresh virtual environment gets the repository installed without extras (with the pinned
constraints, from the same package index as everything else here); the client imports, the
command lists its client commands, and a server command says which extra to install.
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVER_ONLY = ("fastapi", "torch", "sqlalchemy", "celery", "scipy", "numba", "pandas")

pytestmark = pytest.mark.slow


def test_the_client_installs_without_the_server(tmp_path: Path) -> None:
    env_dir = tmp_path / "client-env"
    venv.create(env_dir, with_pip=True)
    python = str(env_dir / "bin" / "python")
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "-c", str(ROOT / "constraints.txt"), str(ROOT)],
        check=True, timeout=600,
    )  # fmt: skip
    installed = subprocess.run(
        [python, "-m", "pip", "list", "--format", "freeze"], capture_output=True, text=True
    ).stdout.lower()
    names = {line.split("==")[0] for line in installed.splitlines()}
    assert {"numpy", "httpx", "kalmanac"} <= names
    assert not names & set(SERVER_ONLY), names & set(SERVER_ONLY)
    code = "import kalmanac; c = kalmanac.Client('http://127.0.0.1:9'); print(type(c).__name__)"
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "Client"
    cli = str(env_dir / "bin" / "kalmanac")
    helped = subprocess.run([cli, "--help"], capture_output=True, text=True, check=True)
    assert "forecast" in helped.stdout
    served = subprocess.run([cli, "serve"], capture_output=True, text=True)
    assert served.returncode == 2 and "kalmanac[server]" in served.stderr, served.stderr
    assert sys.executable != python
