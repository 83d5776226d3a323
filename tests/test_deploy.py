"""No Docker engine runs here, so the compose file and Dockerfile are checked against the code."""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.config import Settings

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
OURS = [
    name
    for name, s in SERVICES.items()
    if s.get("image", "").startswith("kalmanac") or "build" in s
]


def test_topology() -> None:
    assert {"postgres", "redis", "migrate", "api", "worker-cpu", "worker-gpu"} <= set(SERVICES)
    for name in ("postgres", "redis", "api", "worker-cpu", "worker-gpu"):
        assert "healthcheck" in SERVICES[name], name
    assert SERVICES["migrate"]["command"] == ["alembic", "upgrade", "head"]
    gpu = SERVICES["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["driver"] == "nvidia" and "gpu" in gpu["capabilities"]
    for name in ("api", "worker-cpu", "worker-gpu"):
        deps = SERVICES[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully"


def test_gpu_worker_gets_the_cuda_build_of_torch() -> None:
    """The gpu queue's worker is built from the same Dockerfile with PyTorch's CUDA wheels;
    the CPU image would leave its reserved GPU idle."""
    worker = SERVICES["worker-gpu"]
    assert worker["image"] != SERVICES["worker-cpu"]["image"]
    index = worker["build"]["args"]["TORCH_INDEX"]
    assert re.search(r"download\.pytorch\.org/whl/cu\d+\}?$", index), index
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu" in dockerfile


def test_env_names_are_settings() -> None:
    fields = {f"KALMANAC_{name.upper()}" for name in Settings.model_fields}
    for name in OURS:
        env = SERVICES[name]["environment"]
        unknown = {k for k in env if k.startswith("KALMANAC_")} - fields
        assert not unknown, (name, unknown)
    dockerfile_env = re.findall(r"(KALMANAC_[A-Z_]+)=", (ROOT / "Dockerfile").read_text())
    assert set(dockerfile_env) <= fields


def test_production_env_is_accepted() -> None:
    env = {
        k.removeprefix("KALMANAC_").lower(): v for k, v in SERVICES["api"]["environment"].items()
    }
    env["secret_key"] = "s" * 32
    settings = Settings(**env)
    assert settings.env == "production" and not settings.run_embedded_worker


def _check_command(cmd: list[str]) -> None:
    exe = cmd[0]
    assert (BIN / exe).exists() or shutil.which(exe), f"{exe} is not installed"
    if exe == "uvicorn":
        module, attr = cmd[1].split(":")
        assert callable(getattr(importlib.import_module(module), attr))
        assert "--factory" in cmd
    if exe == "celery":
        app_module = cmd[cmd.index("-A") + 1]
        app = importlib.import_module(app_module).app
        if "worker" in cmd:
            assert set(cmd[cmd.index("-Q") + 1].split(",")) <= {"cpu", "gpu"}
        app.loader.import_default_modules()
        assert "forecast.run" in app.tasks
    if exe == "alembic":
        assert (ROOT / "alembic.ini").exists()


@pytest.mark.parametrize("name", OURS)
def test_commands_exist(name: str) -> None:
    service = SERVICES[name]
    _check_command(service["command"])
    if "healthcheck" in service:
        test = service["healthcheck"]["test"]
        assert test[0] == "CMD"
        if test[1] == "celery":
            _check_command(test[1:])


def test_worker_command_really_starts() -> None:
    """The worker command line parses (celery --help for the exact subcommand and options)."""
    cmd = SERVICES["worker-cpu"]["command"]
    out = subprocess.run(
        [str(BIN / cmd[0]), *cmd[1:], "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr


def test_dockerfile_is_multistage_and_unprivileged() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM .+ AS (\w+)", text, re.M)
    assert len(stages) >= 2
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    cmd = re.search(r"^CMD \[(.+)\]", text, re.M)
    assert cmd is not None
    _check_command([part.strip().strip('"') for part in cmd.group(1).split(",")])
    for path in re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.M):
        for item in path.split():
            assert (ROOT / item).exists(), item
