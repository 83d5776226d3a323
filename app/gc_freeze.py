"""Keeping the cycle collector off what lives as long as the process.

A server or worker process holds hundreds of thousands of objects from its imports (torch,
numba's kernels, SQLAlchemy, matplotlib once a plot was drawn) for as long as it runs. A
full collection walks every tracked object: in a worker, ~500,000 of them took 0.35 s, a
pause inside a live stream's cycles. Frozen (`gc.freeze`), they are left out of every
collection. Garbage is collected first, so none of it is frozen.
"""

from __future__ import annotations

import gc
import sys

_modules_at_freeze = 0  # how many modules were loaded at the last freeze


def freeze_long_lived() -> None:
    """Collect the garbage, then freeze everything else loaded so far."""
    global _modules_at_freeze
    gc.collect()
    gc.freeze()
    _modules_at_freeze = len(sys.modules)


def freeze_new_modules() -> None:
    """Freeze again when modules were imported since the last freeze (a first training's
    optimiser step loads torch's compiler stack and sympy, ~120,000 objects). Rare, a few
    times a process, so what it freezes that later becomes garbage stays bounded."""
    if len(sys.modules) > _modules_at_freeze:
        freeze_long_lived()
