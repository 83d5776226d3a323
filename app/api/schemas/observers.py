"""Neural observer specifications: what to train an observer for, and how."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictInt, model_validator

from app.api.schemas.common import FiniteFloat, StrictModel
from app.api.schemas.stream_specs import DynamicsSpec, ObservationSpec


class ObserverParams(StrictModel):
    """The system, its observations and the training budget. A stream may use the observer
    only with the same dynamics and observation operator it was trained for."""

    dynamics: DynamicsSpec
    observation: ObservationSpec = Field(default_factory=ObservationSpec)
    interval: FiniteFloat | None = Field(
        None, gt=0, le=100, description="Time between observations (default: dynamics.dt)"
    )
    members: StrictInt = Field(
        4,
        ge=1,
        le=16,
        description="Observers in the ensemble: their disagreement is the epistemic part of "
        "the spread. 1 is the fastest (one compiled call a cycle on Lorenz-96); its spread is "
        "its predicted analysis error alone.",
    )
    hidden: StrictInt = Field(32, ge=4, le=256)
    depth: StrictInt = Field(2, ge=1, le=4, description="Hidden layers of the gain network")
    patch: StrictInt = Field(4, ge=0, le=16, description="Forecast points seen on each side")
    reach: StrictInt = Field(3, ge=0, le=16, description="Innovations used on each side")
    trajectories: StrictInt = Field(32, ge=1, le=256, description="Truth runs per batch")
    window: StrictInt = Field(16, ge=1, le=128, description="Cycles per gradient window")
    iterations: StrictInt = Field(800, ge=1, le=20_000)
    lr: FiniteFloat = Field(1e-3, gt=0, lt=1)

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
