"""Bred vectors: orthonormal, aligned with the fastest error growth, restarted if lost."""

from __future__ import annotations

import math

import torch

from models.assimilation.observer.bred import breed, orthonormalize, start_vectors
from models.dynamics import Lorenz96, integrate


def test_orthonormalize_keeps_the_first_direction() -> None:
    g = torch.Generator().manual_seed(0)
    B = torch.randn((3, 20, 4), generator=g, dtype=torch.float64)
    Q = orthonormalize(B)
    gram = Q.transpose(-1, -2) @ Q / 20  # unit RMS: Q^T Q = n I
    torch.testing.assert_close(gram, torch.eye(4, dtype=torch.float64).expand(3, -1, -1))
    cos = (Q[..., 0] * B[..., 0]).sum(-1) / (Q[..., 0].norm(dim=-1) * B[..., 0].norm(dim=-1))
    torch.testing.assert_close(cos, torch.ones(3, dtype=torch.float64))


def test_the_leading_vector_grows_at_the_leading_lyapunov_rate() -> None:
    """On Lorenz-96 (n = 40, F = 8) the leading Lyapunov exponent is about 1.7 per time
    unit (Lorenz & Emanuel 1998; Karimi & Paul 2010); bred along a trajectory, the leading
    vector's mean log-growth comes out there."""
    l96, dt = Lorenz96(n=40), 0.05
    g = torch.Generator().manual_seed(1)
    x = integrate(l96, 8 * torch.rand(40, generator=g, dtype=torch.float64), 0.0, 20.0, dt)
    B = torch.from_numpy(start_vectors(40, 6))
    rates = []
    for k in range(600):
        xf = integrate(l96, x, 0.0, dt, dt)
        lead = (integrate(l96, x + 1e-3 * B[:, 0], 0.0, dt, dt) - xf) / 1e-3
        if k >= 200:
            rates.append(math.log(float(lead.norm()) / math.sqrt(40)) / dt)
        B, x = breed(l96, x, xf, B, 0.0, dt, dt, eps=1e-3), xf
    assert 1.3 < sum(rates) / len(rates) < 2.1
    torch.testing.assert_close(B.T @ B / 40, torch.eye(6, dtype=torch.float64))


def test_vectors_of_a_diverged_forecast_start_afresh() -> None:
    l96 = Lorenz96(n=12)
    x = torch.ones((2, 12), dtype=torch.float64)
    x[1, 0] = float("nan")
    B = torch.from_numpy(start_vectors(12, 3)).expand(2, -1, -1).flip(-1)
    out = breed(l96, x, integrate(l96, x, 0.0, 0.05, 0.05), B, 0.0, 0.05, 0.05, eps=0.01)
    assert bool(torch.isfinite(out).all())
    torch.testing.assert_close(out[1], torch.from_numpy(start_vectors(12, 3)))
