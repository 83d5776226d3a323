"""Linear observation operators with diagonal noise: y = H x + eps, eps ~ N(0, R), R diagonal.

Either a subset of state components (`indices`; None observes them all) or a dense matrix
H (m, n). Tensors are moved to the ensemble's device and dtype when applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import torch
from torch import Tensor


def _as_std(noise_std: float | Sequence[float] | Tensor, m: int) -> Tensor:
    std = torch.as_tensor(noise_std, dtype=torch.float64).detach().to("cpu").clone()
    if std.ndim == 0:
        std = std.expand(m).clone()
    if std.shape != (m,):
        raise ValueError(f"noise_std must be a scalar or have {m} entries, got {tuple(std.shape)}")
    if not bool(torch.isfinite(std).all()) or bool((std <= 0).any()):
        raise ValueError("noise_std must be positive and finite")
    return std


@dataclass(frozen=True, eq=False)
class LinearObs:
    """Linear observations of an n-vector; m observed values with noise std `noise_std` (m,).

    Build with `LinearObs.identity(n, std)`, `LinearObs.subset(n, indices, std)` or
    `LinearObs.matrix(H, std)`; the constructor validates and normalises its fields
    (indices: long (m,) or None; H: float64 (m, n) or None; noise_std: float64 (m,)).
    """

    n: int
    indices: Tensor | None = None
    H: Tensor | None = None
    noise_std: Tensor | float | Sequence[float] = 1.0

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"state size n must be >= 1, got {self.n}")
        if self.indices is not None and self.H is not None:
            raise ValueError("give either indices or H, not both")
        m = self.n
        if self.indices is not None:
            idx = torch.as_tensor(self.indices).detach().to("cpu")
            if idx.ndim != 1 or idx.numel() == 0 or idx.is_floating_point():
                raise ValueError("indices must be a non-empty 1-D sequence of integers")
            idx = idx.long()
            if bool(((idx < 0) | (idx >= self.n)).any()):
                raise ValueError(f"indices must lie in [0, {self.n})")
            object.__setattr__(self, "indices", idx)
            m = idx.numel()
        if self.H is not None:
            H = torch.as_tensor(self.H, dtype=torch.float64).detach().to("cpu")
            if H.ndim != 2 or H.shape[1] != self.n or H.shape[0] == 0:
                raise ValueError(f"H must be (m, {self.n}) with m >= 1, got {tuple(H.shape)}")
            if not bool(torch.isfinite(H).all()):
                raise ValueError("H must be finite")
            object.__setattr__(self, "H", H)
            m = H.shape[0]
        object.__setattr__(self, "noise_std", _as_std(self.noise_std, m))

    @classmethod
    def identity(cls, n: int, noise_std: float | Sequence[float] | Tensor = 1.0) -> LinearObs:
        """Observe every component."""
        return cls(n=n, noise_std=noise_std)

    @classmethod
    def subset(
        cls,
        n: int,
        indices: Sequence[int] | Tensor,
        noise_std: float | Sequence[float] | Tensor = 1.0,
    ) -> LinearObs:
        """Observe the components `indices` (m,)."""
        return cls(n=n, indices=torch.as_tensor(indices), noise_std=noise_std)

    @classmethod
    def matrix(
        cls,
        H: Sequence[Sequence[float]] | Tensor,
        noise_std: float | Sequence[float] | Tensor = 1.0,
    ) -> LinearObs:
        """Observe H x for a dense H (m, n)."""
        H = torch.as_tensor(H, dtype=torch.float64)
        if H.ndim != 2:
            raise ValueError(f"H must be 2-D (m, n), got shape {tuple(H.shape)}")
        return cls(n=H.shape[1], H=H, noise_std=noise_std)

    @property
    def m(self) -> int:
        """Number of observed values."""
        return self.std.numel()

    @property
    def std(self) -> Tensor:
        """Noise standard deviations (m,), float64 on the CPU."""
        assert isinstance(self.noise_std, Tensor)
        return self.noise_std

    @cached_property  # read every cycle by the background check
    def R_diag(self) -> Tensor:
        """Diagonal of R (m,), float64 on the CPU."""
        return self.std**2

    @property
    def positions(self) -> Tensor:
        """Grid position (m,) of each observation: its index, or argmax_j |H_ij| for a dense H."""
        if self.indices is not None:
            return self.indices.to(torch.float64)
        if self.H is not None:
            return self.H.abs().argmax(dim=1).to(torch.float64)
        return torch.arange(self.n, dtype=torch.float64)

    def H_apply(self, E: Tensor) -> Tensor:
        """H E: E (..., n) -> (..., m)."""
        if E.shape[-1] != self.n:
            raise ValueError(f"state has {E.shape[-1]} components, the operator expects {self.n}")
        if self.indices is not None:
            return E[..., self.indices.to(E.device)]
        if self.H is not None:
            return E @ self.H.to(device=E.device, dtype=E.dtype).T
        return E

    def rows(self, keep: Tensor) -> LinearObs:
        """The operator of the observed values where `keep` (m,) bool is true (a cycle's own
        operator when some components are missing or rejected); at least one must be."""
        keep = keep.to("cpu")
        if self.indices is not None:
            return LinearObs(self.n, indices=self.indices[keep], noise_std=self.std[keep])
        if self.H is not None:
            return LinearObs(self.n, H=self.H[keep], noise_std=self.std[keep])
        idx = torch.arange(self.n)[keep]
        return LinearObs(self.n, indices=idx, noise_std=self.std[keep])

    def with_noise(self, noise_std: float | Sequence[float] | Tensor) -> LinearObs:
        """The same operator with another noise std (scalar or (m,))."""
        return LinearObs(self.n, indices=self.indices, H=self.H, noise_std=noise_std)

    def dense(self, like: Tensor | None = None) -> Tensor:
        """H as a dense (m, n) matrix, on the device/dtype of `like` (float64 CPU if None)."""
        eye = torch.eye(self.n, dtype=torch.float64)
        H = self.H_apply(eye).T.contiguous()
        return H if like is None else H.to(device=like.device, dtype=like.dtype)


def check_shapes(E: Tensor, y: Tensor, obs: LinearObs) -> None:
    """ValueError unless E is an (N, n) ensemble with N >= 2 and y is (m,) for obs."""
    if E.ndim != 2 or E.shape[0] < 2:
        raise ValueError(f"E must be an (N, n) ensemble with N >= 2, got {tuple(E.shape)}")
    if y.shape != (obs.m,):
        raise ValueError(f"y must have shape ({obs.m},), got {tuple(y.shape)}")


def whitened_anomalies(
    E: Tensor, y: Tensor, obs: LinearObs
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Ensemble moments in whitened observation space, the common start of every analysis.

    E: (N, n) ensemble, y: (m,) observation. Returns
    xbar (n,) mean, A (N, n) anomalies E - xbar, Yw (N, m) = (H E - H xbar) R^{-1/2},
    dyw (m,) = (y - H xbar) R^{-1/2}.
    """
    check_shapes(E, y, obs)
    xbar = E.mean(dim=0)
    A = E - xbar
    std = obs.std.to(device=E.device, dtype=E.dtype)
    if obs.indices is None and obs.H is None:  # H = I: H E - H xbar is A itself (same ops)
        ybar = xbar
        Yw = A / std
    else:
        HE = obs.H_apply(E)
        ybar = HE.mean(dim=0)
        Yw = (HE - ybar) / std
    dyw = (y.to(device=E.device, dtype=E.dtype) - ybar) / std
    return xbar, A, Yw, dyw
