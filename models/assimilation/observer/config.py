"""A neural observer's architecture and training settings."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ObserverConfig:
    """Architecture and training settings of a neural observer."""

    members: int = 4  # observers in the ensemble
    hidden: int = 32
    depth: int = 2  # hidden layers
    patch: int = 4  # grid points on each side the local gain looks at in x_f
    reach: int = 3  # grid points on each side whose innovations the local gain uses
    trajectories: int = 32  # truth runs per training batch
    window: int = 8  # analysis cycles per back-propagation window
    iterations: int = 600
    lr: float = 1e-3
    reset_fraction: float = 0.1  # filter states restarted far off after each window
    reset_std: float = 0.5  # their error, in climatological stds

    def __post_init__(self) -> None:
        for name in ("members", "hidden", "depth", "trajectories", "window", "iterations"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.patch < 0 or self.reach < 0:
            raise ValueError("patch and reach must be >= 0")
        if not (0 < self.lr < 1) or not (0 <= self.reset_fraction <= 1):
            raise ValueError("lr must lie in (0, 1) and reset_fraction in [0, 1]")
