"""Shared helpers: sample moments and the exact Kalman update."""

from __future__ import annotations

import torch
from torch import Tensor

from models.assimilation import LinearObs


def moments(E: Tensor) -> tuple[Tensor, Tensor]:
    """Sample mean (n,) and covariance (n, n) with the 1/(N-1) normalisation."""
    xbar = E.mean(0)
    A = E - xbar
    return xbar, A.T @ A / (E.shape[0] - 1)


def kalman_update(mu: Tensor, P: Tensor, y: Tensor, obs: LinearObs) -> tuple[Tensor, Tensor]:
    """Exact Kalman analysis (mean, covariance) for prior N(mu, P)."""
    H = obs.dense(mu)
    R = torch.diag(obs.R_diag.to(mu))
    K = P @ H.T @ torch.linalg.inv(H @ P @ H.T + R)
    Pa = (torch.eye(mu.numel(), dtype=mu.dtype) - K @ H) @ P
    return mu + K @ (y - H @ mu), (Pa + Pa.T) / 2
