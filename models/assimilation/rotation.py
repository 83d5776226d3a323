"""Mean-preserving random rotations of ensemble anomalies.

A random orthogonal Omega (N, N) with Omega 1 = 1 (Haar-distributed on the orthogonal
complement of the ones vector): applied to anomalies A (N, n) it keeps their sum zero
and their covariance A^T A / (N - 1), while mixing the members so that a deterministic
square-root filter does not lock into a few outlier members.
Refs: Sakov & Oke 2008, "Implications of the form of the ensemble transformation in the
ensemble square root filters", MWR 136; Mezzadri 2007 (Haar orthogonal via QR);
DAPPER's `genOG_1`.
"""

from __future__ import annotations

from functools import lru_cache

import torch
from torch import Tensor


@lru_cache(maxsize=64)
def _basis(N: int, dtype: torch.dtype, device: torch.device) -> tuple[Tensor, Tensor]:
    """(11^T / N (N, N), V (N, N-1)): V orthonormal with V^T 1 = 0 (fixed; cached)."""
    with torch.inference_mode(False):  # usable with autograd even if first built in inference
        ones = torch.full((N, 1), N**-0.5, dtype=dtype, device=device)
        # Orthonormal basis (N, N) with first column 1/sqrt(N): QR of [1/sqrt(N) | I[:, :N-1]].
        eye = torch.eye(N, dtype=dtype, device=device)
        V = torch.linalg.qr(torch.cat((ones, eye[:, :-1]), dim=1))[0][:, 1:]
        return ones @ ones.T, V


def random_rotation(
    N: int,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | None = None,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """A Haar-random orthogonal (N, N) matrix Omega with Omega 1 = 1 (and so 1^T Omega = 1^T)."""
    if N < 1:
        raise ValueError(f"N must be >= 1, got {N}")
    dev = torch.get_default_device() if device is None else torch.device(device)
    P1, V = _basis(N, dtype, dev)
    Z = torch.randn((N - 1, N - 1), generator=generator, dtype=dtype, device=device)
    Q, Rz = torch.linalg.qr(Z)
    Q = Q * torch.sign(torch.diagonal(Rz))  # Mezzadri's correction: Haar measure
    Omega: Tensor = P1 + V @ Q @ V.T
    return Omega


def rotate_anomalies(E: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """E (N, n) -> xbar + Omega (E - xbar) with a fresh mean-preserving random rotation."""
    xbar = E.mean(dim=0)
    Omega = random_rotation(E.shape[0], generator=generator, device=E.device, dtype=E.dtype)
    return xbar + Omega @ (E - xbar)
