"""M independent heteroscedastic MLPs held as stacked tensors, with their anchored prior.

Every parameter carries a leading member axis: layer l has W_l: (M, n_l, n_{l+1}) and
b_l: (M, 1, n_{l+1}), so one matmul evaluates all members and autograd, Adam and early
stopping act on each member independently (Adam is elementwise; the loss is a sum over
members, so member m's gradient is that of its own loss).

Prior (Neal 1996, "Bayesian Learning for Neural Networks", sec. 2.2): W_l entries
~ N(0, prior_std^2 / n_l), biases ~ N(0, prior_std^2), so the prior function keeps the
O(1) scale of standardised data whatever the width. Anchored ensembling (Pearce et al.
2020, "Uncertainty in Neural Networks: Approximately Bayesian Ensembling", AISTATS) draws
one theta_anc,m per member from this prior, starts member m there and regularises it
towards it; the ensemble then approximates posterior samples.

Heteroscedastic Gaussian head (Lakshminarayanan et al. 2017, "Simple and Scalable Predictive
Uncertainty Estimation using Deep Ensembles"): the last layer emits 2d numbers, the mean mu
and rho with var = softplus(rho) + VAR_FLOOR.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import Tensor

# Rollout states are clipped here (standardised units, i.e. training stds from the training
# mean): that far outside the data an MLP's extrapolation is meaningless, and an unstable
# member must neither overflow nor dominate the pooled paths. At 1e4 a few runaway paths on
# Arneodo (bench/chaos.py) took CRPS/sd from ~1 to 27-50; at 50 it is 0.8-1.4 there (the
# track's median moved by 0.005). 50 stds leaves room for a trend carried far past the data.
_STATE_BOUND = 50.0
# In standardised units: keeps log var finite on noise-free series (std 1e-3 of the data's).
VAR_FLOOR = 1e-6


def layer_sizes(n_in: int, hidden: int, depth: int, d: int) -> list[int]:
    """[n_in, hidden x depth, 2 d]: widths of the layers, input first."""
    return [n_in, *([hidden] * depth), 2 * d]


def prior_stds(sizes: list[int], prior_std: float) -> list[float]:
    """Prior std of each parameter tensor, in the order [W_0, b_0, W_1, b_1, ...]."""
    out: list[float] = []
    for n in sizes[:-1]:
        out += [prior_std / math.sqrt(n), prior_std]
    return out


def param_shapes(M: int, sizes: list[int]) -> list[tuple[int, int, int]]:
    """Shapes [W_0: (M, n_0, n_1), b_0: (M, 1, n_1), ...] of the stacked parameters."""
    out: list[tuple[int, int, int]] = []
    for n_a, n_b in zip(sizes[:-1], sizes[1:], strict=True):
        out += [(M, n_a, n_b), (M, 1, n_b)]
    return out


def sample_prior(
    M: int, sizes: list[int], prior_std: float, generator: torch.Generator
) -> list[Tensor]:
    """M independent draws theta_anc,m from the prior: [W_0, b_0, ...], float32 on the CPU.

    Drawn on the generator's (CPU) device so a seed gives the same anchors on any device.
    """
    stds = prior_stds(sizes, prior_std)
    shapes = param_shapes(M, sizes)
    return [
        s * torch.randn(shape, generator=generator) for s, shape in zip(stds, shapes, strict=True)
    ]


def forward(theta: list[Tensor], x: Tensor) -> tuple[Tensor, Tensor]:
    """All members at once: x: (M, B, n_in) or (B, n_in) shared -> mu, var: (M, B, d).

    ReLU hidden layers: they extrapolate linearly, so members anchored at different prior
    draws keep disagreeing away from the data (Pearce et al. 2020, sec. 5), which is the
    epistemic signal we want; saturating units would flatten that disagreement.
    """
    h = x
    n = len(theta) // 2
    for i in range(n):
        h = torch.matmul(h, theta[2 * i]) + theta[2 * i + 1]
        if i < n - 1:
            h = F.relu(h)
    mu, rho = h.chunk(2, dim=-1)
    return mu, F.softplus(rho) + VAR_FLOOR


def gaussian_nll(mu: Tensor, var: Tensor, y: Tensor) -> Tensor:
    """Per-window NLL summed over dimensions: mu, var (M, B, d), y (M, B, d) or (B, d) -> (M, B).

    0.5 sum_j [log(2 pi var_j) + (y_j - mu_j)^2 / var_j].
    """
    return 0.5 * torch.sum(torch.log(2.0 * math.pi * var) + (y - mu) ** 2 / var, dim=-1)


def anchor_penalty(theta: list[Tensor], anchor: list[Tensor], stds: list[float]) -> Tensor:
    """Per-member sum_k (theta_k - theta_anc,k)^2 / (2 sigma_k^2): -> (M,).

    This is -log prior up to a constant, centred on the member's own anchor (Pearce et al.
    2020, eq. 5); the caller divides by the number of training windows N so that the
    per-window NLL plus penalty / N is the MAP objective scaled by 1/N.
    """
    total = torch.zeros(theta[0].shape[0], device=theta[0].device)
    for p, a, s in zip(theta, anchor, stds, strict=True):
        total = total + torch.sum((p - a) ** 2, dim=(1, 2)) / (2.0 * s * s)
    return total


def count_params(sizes: list[int]) -> int:
    """Parameters of one member."""
    return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))


def sample_step(theta: list[Tensor], x: Tensor, eps: Tensor | None) -> tuple[Tensor, Tensor]:
    """One step of every member from windows x: (M, B, lags d), standardised units.

    Returns (z, mu), both (M, B, d): mu the member's mean, z = mu + sqrt(var) eps (mu itself
    when eps is None), both clipped to +-_STATE_BOUND.
    """
    mu, var = forward(theta, x)
    mu = torch.clamp(mu, -_STATE_BOUND, _STATE_BOUND)
    if eps is None:
        return mu, mu
    return torch.clamp(mu + var.sqrt() * eps, -_STATE_BOUND, _STATE_BOUND), mu


def rollout(
    theta: list[Tensor],
    x0: Tensor,
    h: int,
    S: int,
    generator: torch.Generator,
    exog: Tensor | None = None,
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """S sampled paths h steps ahead from the window x0: (lags d,), standardised units;
    exog: (h, c) known inputs of each step (the drivers), after the window in the input.

    Returns Z, the paths, and Mu, the conditional means mu_m(x_{s,j}) each draw was taken
    around, both (S, h, d) float32.

    Path s = j M + m runs member m, so the (M, ceil(S/M)) grid is one batched forward per
    step; the padding paths past S are dropped. Noise comes from the CPU `generator`, so a
    seed gives the same draws on any device.
    """
    M = theta[0].shape[0]
    d = theta[-1].shape[-1] // 2
    J = -(-S // M)
    eps = torch.randn((h, J, M, d), generator=generator).to(x0.device).transpose(1, 2)
    x = x0.expand(M, J, -1)  # (M, J, lags d)
    zs, mus = [], []
    with torch.no_grad():
        for j in range(h):
            inputs = x if exog is None else torch.cat([x, exog[j].expand(M, J, -1)], dim=-1)
            z, mu = sample_step(theta, inputs, eps[j])
            zs.append(z)
            mus.append(mu)
            x = torch.cat([x[..., d:], z], dim=-1)

    def paths(a: list[Tensor]) -> NDArray[np.float32]:
        A = torch.stack(a, dim=2)  # (M, J, h, d) -> path s = j M + m
        return np.asarray(A.transpose(0, 1).reshape(J * M, h, d)[:S].cpu().numpy())

    return paths(zs), paths(mus)
