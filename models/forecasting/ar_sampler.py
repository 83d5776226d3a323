"""Posterior draws of an intercept-only VAR(p) as a batched one-step predictive: the
surrogate dynamics a stream steps (`BayesianAR.one_step_sampler`)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True, eq=False)
class ARSampler:
    """Posterior draws of an intercept-only VAR(p), stepping windows in torch float64.

    B: (S, 1 + p d, d) intercept then lags 1..p (standardised units); U: (S, d, d) noise
    roots (U U' = Sigma); mu, sd: (d,) the standardisation. Same draw-then-step as
    `var_design.rollout`, one step at a time for a caller that owns the window.
    """

    B: torch.Tensor
    U: torch.Tensor
    mu: torch.Tensor
    sd: torch.Tensor

    @property
    def members(self) -> int:
        return int(self.B.shape[0])

    def __call__(
        self, W: torch.Tensor, generator: torch.Generator | None = None, noise: bool = True
    ) -> torch.Tensor:
        """W: (R, p, d) windows, oldest first -> next values (R, d); row r uses draw r % S."""
        R, p, d = W.shape
        k = torch.arange(R) % self.members
        z = (W.detach().to("cpu", torch.float64) - self.mu) / self.sd
        lags = z.flip(1).reshape(R, p * d)  # [z_{t-1}, ..., z_{t-p}]: the design's column order
        B = self.B[k]
        m = B[:, 0] + torch.einsum("rk,rkd->rd", lags, B[:, 1:])
        if noise:
            e = torch.randn((R, d), generator=generator, dtype=torch.float64)
            m = m + torch.einsum("rij,rj->ri", self.U[k], e)
        return (self.mu + self.sd * m).to(W.device)
