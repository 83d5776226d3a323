"""Training loop for the stacked anchored ensemble: all members in one optimiser step.

Each member sees its own shuffle of the training windows (Lakshminarayanan et al. 2017,
sec. 2.4: random order and random initialisation are enough diversity) and minimises
mean Gaussian NLL + anchor penalty / N (Pearce et al. 2020, eq. 5). Early stopping is per
member on the time-ordered validation windows, keeping each member's best weights
(Prechelt 1998, "Early stopping - but when?").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from models.forecasting.base import Progress
from models.forecasting.batched_mlp import anchor_penalty, forward, gaussian_nll


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser settings: epochs, minibatch size, Adam learning rate, early-stop patience,
    and the most optimiser steps, to which the epochs are cut: a long series' epoch holds
    many steps (80,000 windows: 313), and its members went on improving a little for all 300
    epochs, a training budget that grew with the series without bound."""

    epochs: int
    batch_size: int
    lr: float
    patience: int
    max_steps: int | None = None

    def epochs_for(self, n_batches: int) -> int:
        """The epochs to run with n_batches steps each."""
        if self.max_steps is None:
            return self.epochs
        return max(1, min(self.epochs, self.max_steps // n_batches))


@dataclass(frozen=True, eq=False)
class TrainResult:
    """theta: each member's best weights; best_epoch, best_val_nll: (M,) lists (epochs from 1;
    NLL per validation window in standardised units); epochs_run: epochs actually trained."""

    theta: list[Tensor]
    best_epoch: list[int]
    best_val_nll: list[float]
    epochs_run: int


def train_anchored(
    anchor: list[Tensor],
    stds: list[float],
    X: Tensor,
    Y: Tensor,
    X_val: Tensor,
    Y_val: Tensor,
    cfg: TrainConfig,
    generator: torch.Generator,
    progress: Progress | None = None,
) -> TrainResult:
    """Train M members from their anchors (theta_0 = theta_anc) with Adam.

    anchor: [W_0, b_0, ...] with leading axis M, on the training device; stds: prior std of
    each tensor; X: (N, n_in), Y: (N, d) training windows; X_val: (N_val, n_in),
    Y_val: (N_val, d). `generator` (CPU) drives the shuffles, so a seed fixes the run.
    `progress(epoch / epochs)` is called after every epoch (of `cfg.epochs_for` the
    minibatches an epoch holds); what it raises propagates.
    """
    M = anchor[0].shape[0]
    N = X.shape[0]
    device = X.device
    theta = [a.clone().requires_grad_(True) for a in anchor]
    opt = torch.optim.Adam(theta, lr=cfg.lr)
    # Equal-sized minibatches (no ragged last batch whose few windows would get a big step).
    n_batches = max(1, -(-N // cfg.batch_size))
    epochs = cfg.epochs_for(n_batches)

    best = [a.detach().clone() for a in anchor]
    best_nll = torch.full((M,), float("inf"), device=device)
    best_epoch = torch.zeros(M, dtype=torch.long, device=device)
    epoch = 0
    for epoch in range(1, epochs + 1):
        perm = torch.argsort(torch.rand(M, N, generator=generator), dim=1).to(device)
        for idx in torch.tensor_split(perm, n_batches, dim=1):  # idx: (M, B)
            mu, var = forward(theta, X[idx])
            nll = gaussian_nll(mu, var, Y[idx]).mean(dim=1)
            loss = torch.sum(nll + anchor_penalty(theta, anchor, stds) / N)
            opt.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]  # unannotated in torch
            opt.step()

        with torch.no_grad():
            mu, var = forward(theta, X_val)
            v = gaussian_nll(mu, var, Y_val).mean(dim=1)  # (M,); NaN never counts as better
            better = v < best_nll
            best_nll = torch.where(better, v, best_nll)
            best_epoch = torch.where(better, epoch, best_epoch)
            for b, p in zip(best, theta, strict=True):
                b.copy_(torch.where(better.view(M, 1, 1), p, b))
        if progress is not None:
            progress(epoch / epochs)
        if bool(torch.all(epoch - best_epoch >= cfg.patience)):
            break

    if progress is not None and epoch < epochs:
        progress(1.0)
    return TrainResult(
        theta=best,
        best_epoch=[int(e) for e in best_epoch.tolist()],
        best_val_nll=[float(v) for v in best_nll.tolist()],
        epochs_run=epoch,
    )
