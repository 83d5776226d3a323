"""The gain network: M members' MLPs as stacked weights, evaluated as batched products."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def init_theta(sizes: list[int], M: int, generator: torch.Generator) -> list[Tensor]:
    """Stacked [W_0, b_0, ..., W_out, b_out, W_var, b_var] for M members.

    He-scaled hidden layers; a small output layer, so training starts near a zero gain.
    """
    theta: list[Tensor] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        scale = math.sqrt(2.0 / a) if i < len(sizes) - 2 else 0.01 / math.sqrt(a)
        theta += [scale * torch.randn((M, a, b), generator=generator), torch.zeros((M, 1, b))]
    hidden = sizes[-2]
    return [*theta, torch.zeros((M, hidden, 1)), torch.zeros((M, 1, 1))]


def mlp(theta: list[Tensor], x: Tensor) -> tuple[Tensor, Tensor]:
    """Stacked members: x (M, P, n_in) -> gain outputs (M, P, n_out), variance logits (M, P).

    The variance head reads the last hidden layer but does not train it (detached), so the
    trunk is shaped by the analysis error alone.
    """
    h = x
    layers = theta[:-2]
    last = len(layers) // 2 - 1
    for i in range(last):
        h = torch.tanh(torch.baddbmm(layers[2 * i + 1], h, layers[2 * i]))
    out = torch.baddbmm(layers[-1], h, layers[-2])
    rho = torch.baddbmm(theta[-1], h.detach(), theta[-2])[..., 0]
    return out, rho
