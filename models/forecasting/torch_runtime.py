"""Where and how the ensemble's tensors run: device choice and CPU thread count."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

# Below this many multiply-adds per training step one CPU thread is fastest: intra-op
# threads only add synchronisation (measured 5 ms/step on 1 thread vs 30 ms on 2 busy cores
# for the default net), and a fixed thread count also keeps CPU results reproducible.
_SMALL_STEP_MACS = 2**25


def resolve_device(device: str | None) -> torch.device:
    """`None` -> CUDA when available, else CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@contextmanager
def cpu_threads(device: torch.device, macs: int) -> Iterator[None]:
    """Run small CPU workloads on one intra-op thread, restoring the setting afterwards.

    The setting is process-wide: fits running concurrently in threads of one process would
    see each other's value (the workers run one job per process).
    """
    if device.type != "cpu" or macs >= _SMALL_STEP_MACS:
        yield
        return
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def step_macs(sizes: list[int], rows: int) -> int:
    """Multiply-adds of one forward pass of one member over `rows` inputs."""
    return rows * sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
