"""Reproducible randomness keyed by integers: (job seed, series index), (stream seed, seq),
(stream seed, seq, use). The same key gives the same numbers in any process and any batching;
different keys give independent streams (NumPy's SeedSequence hashing).
"""

from __future__ import annotations

import numpy as np
import torch


def derived_seed(*key: int) -> int:
    """A 32-bit seed (NumPy generators, a forecast's per-series seed) derived from `key`."""
    return int(np.random.SeedSequence(list(key)).generate_state(1)[0])


def derived_seed63(*key: int) -> int:
    """A 63-bit seed (torch generators, parameter draws) derived from `key`."""
    return int(np.random.SeedSequence(list(key)).generate_state(1, np.uint64)[0] >> 1)


def derived_generator(*key: int) -> torch.Generator:
    """A CPU torch generator seeded from `key` (`derived_seed63`)."""
    return torch.Generator().manual_seed(derived_seed63(*key))
