"""A neural observer's architecture and training settings: their one definition.

Torch-free, so that the API takes its defaults from here (`app.api.schemas.observers`) and
the worker, the bench (`bench/observer.py`) and a stored version all read the same values.
The defaults are the best setting `bench/observer.py` found on Lorenz-96 (one observer of
hidden width 64, patch 6, reach 4, windows of 16 cycles, lr 2e-3, 2% of filter states
restarted far off after each window), trained for 3,500 iterations so that training takes
under the 5 minutes a default should: on this project's 2-core CPU machine 4,000 took 309 s
in bench/observer.py (L96 RMSE 0.253) and 9,000 took 526 s through the API (RMSE 0.243),
both with a float64 network; training's network is float32 since, which about halved it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ObserverConfig:
    """Architecture and training settings of a neural observer."""

    members: int = 1  # observers in the ensemble (their disagreement: the epistemic part)
    hidden: int = 64
    depth: int = 2  # hidden layers
    patch: int = 6  # grid points on each side the local gain looks at in x_f
    reach: int = 4  # grid points on each side whose innovations the local gain uses
    trajectories: int = 32  # truth runs per training batch
    window: int = 16  # analysis cycles per back-propagation window
    iterations: int = 3500
    lr: float = 2e-3
    reset_fraction: float = 0.02  # filter states restarted far off after each window
    reset_std: float = 0.5  # their error, in climatological stds

    def __post_init__(self) -> None:
        for name in ("members", "hidden", "depth", "trajectories", "window", "iterations"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.patch < 0 or self.reach < 0:
            raise ValueError("patch and reach must be >= 0")
        if not (0 < self.lr < 1) or not (0 <= self.reset_fraction <= 1):
            raise ValueError("lr must lie in (0, 1) and reset_fraction in [0, 1]")
        if not self.reset_std > 0:
            raise ValueError(f"reset_std must be positive, got {self.reset_std}")
