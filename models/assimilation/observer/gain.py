"""Where the gain acts: a local gain shared by the points of a periodic grid, or a dense
(n, m) matrix of the whole state. Each turns the network's outputs into a correction."""

from __future__ import annotations

import copy

import torch
from torch import Tensor

from models.assimilation.observation import LinearObs
from models.observer_config import ObserverConfig


def _periodic_index(n: int, radius: int) -> Tensor:
    """(n, 2 radius + 1) indices of each point's neighbours i - radius .. i + radius mod n."""
    offsets = torch.arange(-radius, radius + 1)
    return (torch.arange(n)[:, None] + offsets[None, :]) % n


class LocalGain:
    """Gain shared by the points of a periodic grid, from each point's neighbourhood."""

    def __init__(self, obs: LinearObs, patch: int, reach: int) -> None:
        n = obs.n
        self.n, self.patch, self.reach = n, patch, reach
        self.state_idx = _periodic_index(n, patch)
        self.innov_idx = _periodic_index(n, reach)
        self.scatter = obs.dense().T.contiguous()  # (n, m): H^T puts innovations on the grid
        mask = self.scatter.sum(dim=1)  # 1 where observed
        self.mask_features = mask[self.innov_idx]  # (n, 2 reach + 1)
        self.n_in = 2 * patch + 1 + 2 * reach + 1
        self.n_out = 2 * reach + 1  # one tap per innovation within reach

    def features(self, z: Tensor) -> Tensor:
        """(..., n) standardised forecast -> (..., n, n_in) per-point inputs."""
        mask = self.mask_features.to(z).expand(*z.shape[:-1], -1, -1)
        return torch.cat((z[..., self.state_idx], mask), dim=-1)

    def correction(self, out: Tensor, d: Tensor) -> Tensor:
        """Taps (..., n, n_out) and innovations d (..., m) -> the correction (..., n)."""
        d_grid = d @ self.scatter.to(d).T  # (..., n)
        return (out * d_grid[..., self.innov_idx]).sum(dim=-1)

    def variance(self, rho: Tensor) -> Tensor:
        return rho  # one per grid point already

    def to(self, device: torch.device | str) -> LocalGain:
        """A copy whose index and mask tensors live on `device` (training on a GPU would
        otherwise copy them there at every step)."""
        moved = copy.copy(self)
        for name in ("state_idx", "innov_idx", "scatter", "mask_features"):
            setattr(moved, name, getattr(self, name).to(device))
        return moved


class DenseGain:
    """A full (n, m) gain matrix from the whole state (systems without a periodic grid)."""

    def __init__(self, obs: LinearObs) -> None:
        self.n, self.m = obs.n, obs.m
        self.n_in = obs.n
        self.n_out = obs.n * obs.m

    def features(self, z: Tensor) -> Tensor:
        return z[..., None, :]  # one "point": the whole state

    def correction(self, out: Tensor, d: Tensor) -> Tensor:
        K = out[..., 0, :].reshape(*out.shape[:-2], self.n, self.m)
        return (K @ d[..., None])[..., 0]

    def variance(self, rho: Tensor) -> Tensor:
        return rho.expand(*rho.shape[:-1], self.n)  # one shared level for the whole state

    def to(self, device: torch.device | str) -> DenseGain:
        return self  # holds no tensors


def make_gain(obs: LinearObs, periodic: bool, cfg: ObserverConfig) -> LocalGain | DenseGain:
    """A local gain on a periodic grid, a dense one elsewhere."""
    return LocalGain(obs, cfg.patch, cfg.reach) if periodic else DenseGain(obs)
