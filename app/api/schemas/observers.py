"""Neural observer specifications: what to train an observer for, and how."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictInt, model_validator

from app.api.schemas.common import FiniteFloat, StrictModel
from app.api.schemas.stream_specs import DynamicsSpec, ObservationSpec
from models.observer_config import ObserverConfig

DEFAULT = ObserverConfig()  # the one definition of the settings' defaults


class ObserverParams(StrictModel):
    """The system, its observations and the training settings (defaults: `ObserverConfig`,
    the best `bench/observer.py` found). A stream may use the observer only with the same
    dynamics and observation operator it was trained for."""

    dynamics: DynamicsSpec
    observation: ObservationSpec = Field(default_factory=ObservationSpec)
    interval: FiniteFloat | None = Field(
        None, gt=0, le=100, description="Time between observations (default: dynamics.dt)"
    )
    members: StrictInt = Field(
        DEFAULT.members,
        ge=1,
        le=16,
        description="Observers in the ensemble: their disagreement is the epistemic part of "
        "the spread. 1 is the fastest (one compiled call a cycle on Lorenz-96); its spread is "
        "its predicted analysis error alone.",
    )
    hidden: StrictInt = Field(DEFAULT.hidden, ge=4, le=256)
    depth: StrictInt = Field(
        DEFAULT.depth, ge=1, le=4, description="Hidden layers of the gain network"
    )
    patch: StrictInt = Field(
        DEFAULT.patch, ge=0, le=16, description="Forecast points seen on each side"
    )
    reach: StrictInt = Field(
        DEFAULT.reach, ge=0, le=16, description="Innovations used on each side"
    )
    memory: StrictInt = Field(
        DEFAULT.memory,
        ge=0,
        le=64,
        description="Channels per grid point the gain carries from one analysis to the next "
        "(a periodic grid's local gain; 0: none). With memory it also reads the innovations.",
    )
    bred: StrictInt = Field(
        DEFAULT.bred,
        ge=0,
        le=64,
        description="Bred vectors a periodic grid's local gain reads: the directions in which "
        "the forecast's errors grow, found by as many extra forecasts each cycle (0: none; at "
        "most the grid's size is used)",
    )
    trajectories: StrictInt = Field(
        DEFAULT.trajectories, ge=1, le=256, description="Truth runs per batch"
    )
    window: StrictInt = Field(
        DEFAULT.window, ge=1, le=128, description="Cycles per gradient window"
    )
    iterations: StrictInt = Field(DEFAULT.iterations, ge=1, le=20_000)
    lr: FiniteFloat = Field(
        DEFAULT.lr, gt=0, lt=1, description="Adam's step size, decayed by a cosine to 0"
    )
    reset_fraction: FiniteFloat = Field(
        DEFAULT.reset_fraction,
        ge=0,
        le=1,
        description="Share of the training filters restarted far off after each window, so "
        "that the observer learns to recover from a poor start (rounded down: with the default "
        "32 trajectories, 0.02 restarts none; a filter that loses track restarts anyway)",
    )
    reset_std: FiniteFloat = Field(
        DEFAULT.reset_std,
        gt=0,
        le=10,
        description="The restarted filters' error, in climatological stds",
    )

    @model_validator(mode="after")
    def _fits_the_state(self) -> ObserverParams:
        idx = self.observation.indices
        n = self.dynamics.params.state_dim
        if idx is not None and (not idx or max(idx) >= n or len(set(idx)) != len(idx)):
            raise ValueError(f"observation.indices must be distinct, in [0, {n}), non-empty")
        return self


class ObserverSpec(StrictModel):
    kind: Literal["observer"]
    params: ObserverParams
