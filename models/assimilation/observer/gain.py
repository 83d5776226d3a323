"""Where the gain acts: a local gain shared by the points of a periodic grid, or, elsewhere,
the Kalman gain of a learned background covariance of the whole state. Each turns the
network's outputs into a correction."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from models.assimilation.observation import LinearObs
from models.assimilation.observer.bred import start_vectors
from models.observer_config import ObserverConfig

VAR_FLOOR = 1e-6  # predicted error variance's floor, in climatological variance units


def head_variance(rho: Tensor, std: float) -> Tensor:
    """The variance head's logits (..., n) -> predicted error variances in data units."""
    return (F.softplus(rho) + VAR_FLOOR) * std**2


def _periodic_index(n: int, radius: int) -> Tensor:
    """(n, 2 radius + 1) indices of each point's neighbours i - radius .. i + radius mod n."""
    offsets = torch.arange(-radius, radius + 1)
    return (torch.arange(n)[:, None] + offsets[None, :]) % n


MEMORY_REACH = 1  # grid points on each side whose memory a point's network reads


class LocalGain:
    """Gain shared by the points of a periodic grid, from each point's neighbourhood.

    With `memory` channels, the network reads, besides the forecast's patch, the
    innovations within reach and the memory of the points within MEMORY_REACH; it writes
    each point's next memory (tanh-bounded) beside its taps. A memoryless gain sees one
    forecast, while the error it must correct depends on the recent cycles, which an
    ensemble filter's covariance carries: on Lorenz-96 (n = 40, all observed, the defaults)
    16 channels took the RMSE through the service from 0.246 to 0.227. Reading the memory
    of the points within 1 (MEMORY_REACH) rather than 0 or 4 was the best trade of accuracy
    for training time in a scratch comparison (0.233, 0.225, 0.223 at 0.9x, 1x, 1.4x the
    time)."""

    kind: ClassVar[str] = "local"

    def __init__(
        self, obs: LinearObs, patch: int, reach: int, memory: int = 0, bred: int = 0
    ) -> None:
        n = obs.n
        self.n, self.patch, self.reach, self.memory = n, patch, reach, memory
        self.bred = min(bred, n)  # bred vectors (`bred`), channels after the memory's
        self.state_idx = _periodic_index(n, patch)
        self.innov_idx = _periodic_index(n, reach)
        self.memory_idx = _periodic_index(n, MEMORY_REACH)
        self.scatter = obs.dense().T.contiguous()  # (n, m): H^T puts innovations on the grid
        mask = self.scatter.sum(dim=1)  # 1 where observed
        self.mask_features = mask[self.innov_idx]  # (n, 2 reach + 1)
        self.n_taps = 2 * reach + 1  # one tap per innovation within reach
        recurrent = self.n_taps + memory * (2 * MEMORY_REACH + 1) if memory else 0
        self.n_in = 2 * patch + 1 + self.n_taps + recurrent + self.bred
        self.n_out = self.n_taps + memory + self.bred

    @property
    def channels(self) -> int:
        """Memory channels per grid point: the network's, then the bred vectors."""
        return self.memory + self.bred

    def start_memory(self, X: Tensor) -> Tensor:
        """The memory (..., n, channels) of states X (..., n) not analysed yet: zeros, and
        the bred vectors' fixed start."""
        mem = X.new_zeros((*X.shape, self.channels))
        if self.bred:
            mem[..., self.memory :] = torch.from_numpy(start_vectors(self.n, self.bred)).to(X)
        return mem

    def features(self, z: Tensor, d: Tensor, memory: Tensor | None) -> Tensor:
        """(..., n) standardised forecast, (..., m) innovations in climatological stds and
        (..., n, channels) memory -> (..., n, n_in) per-point inputs."""
        mask = self.mask_features.to(z).expand(*z.shape[:-1], -1, -1)
        parts = [z[..., self.state_idx], mask]
        if self.memory:
            assert memory is not None
            parts.append(self._on_grid(d)[..., self.innov_idx])
            parts.append(memory[..., : self.memory][..., self.memory_idx, :].flatten(-2))
        if self.bred:
            assert memory is not None
            parts.append(self._projected(memory[..., self.memory :], d) / self.n**0.5)
        return torch.cat(parts, dim=-1)

    def correction(self, out: Tensor, d: Tensor, memory: Tensor | None = None) -> Tensor:
        """Outputs (..., n, n_out), innovations d (..., m) and the memory -> the correction
        (..., n): the taps on the innovations within reach, and with bred vectors a
        multiple of the innovation's projection on each."""
        taps = out[..., : self.n_taps]
        dx = (taps * self._on_grid(d)[..., self.innov_idx]).sum(dim=-1)
        if self.bred:
            assert memory is not None
            B = memory[..., self.memory :]
            weights = out[..., self.n_taps + self.memory :]
            dx = dx + (weights * self._projected(B, d)).sum(dim=-1) / self.n
        return dx

    def _projected(self, B: Tensor, d: Tensor) -> Tensor:
        """B_j(i) (B_j . d) (..., n, k): the innovations' projection on each bred vector
        B (..., n, k), back on the grid (times n: B has unit RMS)."""
        q = (B * self._on_grid(d)[..., None]).sum(dim=-2)  # (..., k)
        return B * q[..., None, :]

    def next_memory(self, out: Tensor, memory: Tensor | None = None) -> Tensor | None:
        """Outputs (..., n, n_out) and this analysis' memory -> the memory (..., n,
        channels) the next analysis reads: the network's channels (tanh-bounded) and the
        bred vectors as they are (the next forecast breeds them)."""
        if not self.channels:
            return None
        net = torch.tanh(out[..., self.n_taps : self.n_taps + self.memory])
        if not self.bred:
            return net
        assert memory is not None
        return torch.cat((net, memory[..., self.memory :]), dim=-1)

    def _on_grid(self, d: Tensor) -> Tensor:
        return d @ self.scatter.to(d).T  # (..., n)

    def variance(self, out: Tensor, rho: Tensor, std: float) -> Tensor:
        """Predicted error variances (..., n): the head's, one per grid point already."""
        return head_variance(rho, std)

    def to(self, device: torch.device | str) -> LocalGain:
        """A copy whose index and mask tensors live on `device` (training on a GPU would
        otherwise copy them there at every step)."""
        moved = copy.copy(self)
        for name in ("state_idx", "innov_idx", "memory_idx", "scatter", "mask_features"):
            setattr(moved, name, getattr(self, name).to(device))
        return moved


class DenseGain:
    """A full (n, m) gain matrix from the whole state: the layout of the observers of
    systems without a periodic grid stored before `CovarianceGain`, kept to load them. Its
    unconstrained gain could amplify the innovation, and on Lorenz-63 a filter trained with
    the defaults diverged (RMSE 113 where 3D-Var has 1.04)."""

    kind: ClassVar[str] = "dense"

    def __init__(self, obs: LinearObs) -> None:
        self.n, self.m = obs.n, obs.m
        self.n_in = obs.n
        self.n_out = obs.n * obs.m

    memory: ClassVar[int] = 0
    channels: ClassVar[int] = 0

    def features(self, z: Tensor, d: Tensor, memory: Tensor | None) -> Tensor:
        return z[..., None, :]  # one "point": the whole state

    def next_memory(self, out: Tensor, memory: Tensor | None = None) -> Tensor | None:
        return None

    def correction(self, out: Tensor, d: Tensor, memory: Tensor | None = None) -> Tensor:
        K = out[..., 0, :].reshape(*out.shape[:-2], self.n, self.m)
        return (K @ d[..., None])[..., 0]

    def variance(self, out: Tensor, rho: Tensor, std: float) -> Tensor:
        """The head's one level for the whole state."""
        return head_variance(rho, std).expand(*rho.shape[:-1], self.n)

    def to(self, device: torch.device | str) -> DenseGain:
        return self  # holds no tensors


class CovarianceGain:
    """The Kalman gain K = P H^T (H P H^T + R)^-1 of a background covariance P = r A A^T
    that the network gives for the whole state (systems without a periodic grid): A is
    (n, m), H^T plus the network's outputs, and r the mean observation noise variance.

    P is positive semi-definite whatever the weights, so the correction cannot amplify an
    innovation: with every component observed, K's eigenvalues lie in [0, 1) and the
    analysis stays between forecast and observation. A free gain matrix has no such bound
    (`DenseGain`). The rows of unobserved components stay free. A has as many entries as
    K, so the network is the size of a dense gain's. At the start (outputs near 0), P = r
    H^T H: observed components move half-way for equal noise, the others not at all. The
    predicted analysis error is P's own (`variance`)."""

    kind: ClassVar[str] = "covariance"

    def __init__(self, obs: LinearObs) -> None:
        self.n, self.m = obs.n, obs.m
        self.n_in = obs.n
        self.n_out = obs.n * obs.m  # the entries of A
        self.H = obs.dense()  # (m, n)
        self.R = torch.diag(obs.R_diag)
        self.scale = float(obs.R_diag.mean())

    memory: ClassVar[int] = 0  # a whole-state gain carries none
    channels: ClassVar[int] = 0

    def features(self, z: Tensor, d: Tensor, memory: Tensor | None) -> Tensor:
        return z[..., None, :]  # one "point": the whole state

    def next_memory(self, out: Tensor, memory: Tensor | None = None) -> Tensor | None:
        return None

    def factor(self, out: Tensor) -> Tensor:
        """Outputs (..., 1, n_out) -> A (..., n, m)."""
        return out[..., 0, :].reshape(*out.shape[:-2], self.n, self.m) + self.H.to(out).T

    def _cross(self, out: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """A (..., n, m), P H^T (..., n, m) and the lower Cholesky factor of H P H^T + R."""
        A = self.factor(out)
        HA = self.H.to(A) @ A  # (..., m, m); P H^T = r A (HA)^T, H P H^T = r HA (HA)^T
        PHt = self.scale * (A @ HA.transpose(-1, -2))
        S = self.scale * (HA @ HA.transpose(-1, -2)) + self.R.to(A)  # positive definite: R is
        return A, PHt, torch.linalg.cholesky(S)

    def correction(self, out: Tensor, d: Tensor, memory: Tensor | None = None) -> Tensor:
        _, PHt, C = self._cross(out)
        return (PHt @ torch.cholesky_solve(d[..., None], C))[..., 0]

    def variance(self, out: Tensor, rho: Tensor, std: float) -> Tensor:
        """diag((I - K H) P) (..., n): the analysis error variance P implies, the observer's
        predicted error for each component (the variance head is not used). Detached:
        training's variance loss must not shape the gain. On Lorenz-63 (600 iterations) it
        matched each component's RMSE within 3% (0.65, 1.08, 0.95 against 0.63, 1.10,
        0.92), where one shared level from a variance head gave 0.92 for all."""
        A, PHt, C = self._cross(out.detach())
        K = torch.cholesky_solve(PHt.transpose(-1, -2), C).transpose(-1, -2)  # P H^T S^-1
        var = self.scale * A.pow(2).sum(dim=-1) - (K * PHt).sum(dim=-1)
        return var.clamp(min=VAR_FLOOR * std**2)

    def to(self, device: torch.device | str) -> CovarianceGain:
        """A copy whose tensors live on `device`."""
        moved = copy.copy(self)
        moved.H, moved.R = self.H.to(device), self.R.to(device)
        return moved


Gain = LocalGain | DenseGain | CovarianceGain

# Each gain by the kind an artifact records ("dense": observers stored before the
# covariance gain), built from the observation operator and the settings.
GAINS: dict[str, Callable[[LinearObs, ObserverConfig], Gain]] = {
    LocalGain.kind: lambda obs, cfg: LocalGain(obs, cfg.patch, cfg.reach, cfg.memory, cfg.bred),
    CovarianceGain.kind: lambda obs, cfg: CovarianceGain(obs),
    DenseGain.kind: lambda obs, cfg: DenseGain(obs),
}


def make_gain(obs: LinearObs, kind: str, cfg: ObserverConfig) -> Gain:
    """The gain of `kind` (a key of GAINS)."""
    if kind not in GAINS:
        raise ValueError(f"unknown gain kind {kind!r}; expected one of {', '.join(GAINS)}")
    return GAINS[kind](obs, cfg)


def gain_kind(periodic: bool) -> str:
    """A new observer's gain: local on a periodic grid, a learned covariance elsewhere."""
    return LocalGain.kind if periodic else CovarianceGain.kind
