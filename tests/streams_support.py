"""Shared helpers for stream tests: a seeded truth run and its noisy observations."""

from __future__ import annotations

import time
from typing import Any

import torch
from fastapi.testclient import TestClient

from models.dynamics import integrate, make_dynamics


def twin(
    system: str, params: dict[str, Any], dt: float, n_obs: int, noise: float, seed: int = 1
) -> tuple[torch.Tensor, list[dict[str, Any]]]:
    """Truth states (n_obs, n) at t = dt, 2 dt, ... (after spin-up) and their observations."""
    g = torch.Generator().manual_seed(seed)
    model = make_dynamics(system, params)
    x = torch.randn(model.n, generator=g, dtype=torch.float64)
    x = integrate(model, x, 0.0, 20.0, dt)  # onto the attractor
    truth, obs = [], []
    for k in range(1, n_obs + 1):
        x = integrate(model, x, (k - 1) * dt, k * dt, dt)
        truth.append(x)
        y = x + noise * torch.randn(model.n, generator=g, dtype=torch.float64)
        obs.append({"seq": k, "t": round(k * dt, 10), "values": y.tolist()})
    return torch.stack(truth), obs


def wait_assimilated(
    client: TestClient, stream_id: str, headers: dict[str, str], n: int, timeout: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = client.get(f"/v1/streams/{stream_id}", headers=headers).json()
        if s["n_assimilated"] + s["n_skipped"] >= n and s["pending"] == 0:
            return dict(s)
        time.sleep(0.05)
    raise AssertionError(f"stream {stream_id} did not reach {n}: {s}")
