"""The small-tensor helpers give torch's answers, on NumPy views or on torch's kernels."""

from __future__ import annotations

import math

import pytest
import torch

from models.host import HOST_MAX_ELEMENTS, all_finite, member_mean


@pytest.mark.parametrize("shape", [(1, 40), (3, 40), (2, 5, 8), (2, HOST_MAX_ELEMENTS)])
def test_member_mean_is_torchs(shape: tuple[int, ...]) -> None:
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    got = member_mean(x)
    assert got.shape == shape[1:]
    torch.testing.assert_close(got, x.mean(0))


def test_member_mean_keeps_gradients() -> None:
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    member_mean(x).sum().backward()  # type: ignore[no-untyped-call]  # unannotated in torch
    assert x.grad is not None
    torch.testing.assert_close(x.grad, torch.full((3, 4), 1 / 3, dtype=torch.float64))


def test_all_finite() -> None:
    x = torch.zeros(4, dtype=torch.float64)
    assert all_finite(x)
    x[2] = math.nan
    assert not all_finite(x)
