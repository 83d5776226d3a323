"""Small CPU tensors computed on NumPy views and compiled kernels instead of torch ops.

A torch op costs ~4-8 us whatever its size; a NumPy op about a third of that, and a numba
kernel one call for many ops. On the small states of a stream's cycle (Lorenz-96, N = 24
members of n = 40) the op count, not the arithmetic, sets the speed, so the hot paths run
here when the tensor is on the CPU and small. Larger states stay on torch's kernels.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

# Up to this many entries a CPU computation runs on the host (an L96 RK4 step with N=24,
# n=40: ~25 us on NumPy vs ~75 us on torch).
HOST_MAX_ELEMENTS = 1 << 14
FLOATS = (torch.float32, torch.float64)


def fits_host(x: Tensor, dtypes: tuple[torch.dtype, ...] = (torch.float64,)) -> bool:
    """Whether x is small enough, and plain enough (CPU, no autograd, one of `dtypes`), for
    its computation to run on NumPy views or compiled kernels instead of torch ops."""
    return (
        x.device.type == "cpu"
        and not x.requires_grad
        and x.dtype in dtypes
        and x.numel() <= HOST_MAX_ELEMENTS
    )


def all_finite(x: Tensor) -> bool:
    """Whether every entry of x is finite (on a NumPy view when x is a small CPU tensor)."""
    if fits_host(x, FLOATS):
        return bool(np.isfinite(x.detach().numpy()).all())
    return bool(torch.isfinite(x).all())


def member_mean(x: Tensor) -> Tensor:
    """The mean over members (the first axis) of x (M, ...), on a NumPy view when x is a
    small CPU tensor: torch's reduction costs ~10 us a call, a sizeable part of a neural
    observer's whole cycle on a small grid."""
    if not fits_host(x, FLOATS):
        return x.mean(0)
    a = x.detach().numpy()
    return torch.from_numpy(a[0] if a.shape[0] == 1 else a.sum(axis=0) / a.shape[0])
