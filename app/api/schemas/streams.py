"""Stream (online data assimilation) schemas. The v1 contract: fields may be added, not renamed."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictBool, StrictInt, field_validator, model_validator

from app.api.schemas.common import FiniteFloat, StoredText, StrictModel


class Lorenz63Params(StrictModel):
    sigma: FiniteFloat = Field(10.0, gt=0, le=1e3)
    rho: FiniteFloat = Field(28.0, gt=0, le=1e3)
    beta: FiniteFloat = Field(8 / 3, gt=0, le=1e3)

    @property
    def state_dim(self) -> int:
        return 3


class Lorenz96Params(StrictModel):
    n: StrictInt = Field(40, ge=4, le=4096, description="Number of variables (periodic ring)")
    F: FiniteFloat = Field(8.0, ge=-100, le=100, description="Forcing")

    @property
    def state_dim(self) -> int:
        return self.n


class KSParams(StrictModel):
    n: StrictInt = Field(128, ge=16, le=4096, description="Grid points (even)")
    L: FiniteFloat = Field(32 * math.pi, gt=0, le=1e4, description="Periodic domain length")

    @field_validator("n")
    @classmethod
    def _even(cls, n: int) -> int:
        if n % 2:
            raise ValueError("must be even")
        return n

    @property
    def state_dim(self) -> int:
        return self.n


Step = Annotated[FiniteFloat, Field(gt=0, le=10, description="Integration step")]


class Lorenz63Spec(StrictModel):
    system: Literal["lorenz63"]
    params: Lorenz63Params = Field(default_factory=Lorenz63Params)
    dt: Step = 0.01


class Lorenz96Spec(StrictModel):
    system: Literal["lorenz96"]
    params: Lorenz96Params = Field(default_factory=Lorenz96Params)
    dt: Step = 0.05


class KSSpec(StrictModel):
    system: Literal["ks"]
    params: KSParams = Field(default_factory=KSParams)
    dt: Step = 0.25


DynamicsSpec = Annotated[Lorenz63Spec | Lorenz96Spec | KSSpec, Field(discriminator="system")]


class ObservationSpec(StrictModel):
    indices: list[Annotated[StrictInt, Field(ge=0)]] | None = Field(
        None, description="Observed state components; null observes all"
    )
    noise_std: FiniteFloat = Field(
        1.0, gt=0, le=1e6, description="Observation noise std (R = s^2 I)"
    )


class FilterSpec(StrictModel):
    method: Literal["enkf", "etkf", "letkf"] = "etkf"
    ensemble_size: StrictInt = Field(24, ge=2, le=1000)
    inflation: Annotated[FiniteFloat, Field(ge=1, le=10)] | Literal["adaptive"] = Field(
        1.02, description='Multiplicative factor, or "adaptive" (finite-size EnKF-N)'
    )
    localization_radius: FiniteFloat | None = Field(
        None, gt=0, le=1e4, description="Gaspari-Cohn radius in grid units (LETKF)"
    )
    rotate: StrictBool = Field(False, description="Random mean-preserving rotation of anomalies")

    @model_validator(mode="after")
    def _radius_for_letkf(self) -> FilterSpec:
        if self.method == "letkf" and self.localization_radius is None:
            raise ValueError("localization_radius is required for letkf")
        if self.method != "letkf" and self.localization_radius is not None:
            raise ValueError("localization_radius applies only to letkf")
        return self


class InitialSpec(StrictModel):
    mean: list[FiniteFloat] | None = Field(None, description="Initial ensemble mean (length n)")
    std: FiniteFloat = Field(1.0, gt=0, le=1e6)


class StreamCreate(StrictModel):
    name: StoredText | None = Field(None, max_length=200)
    dynamics: DynamicsSpec
    observation: ObservationSpec = Field(default_factory=ObservationSpec)
    filter: FilterSpec = Field(default_factory=FilterSpec)
    initial: InitialSpec = Field(default_factory=InitialSpec)
    t0: FiniteFloat = Field(0.0, description="Time of the initial ensemble")
    seed: StrictInt = Field(0, ge=0, lt=2**31)
    gap_timeout_s: FiniteFloat = Field(
        30.0, ge=0, le=86_400, description="How long a missing seq is awaited before it is skipped"
    )

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "name": "l96-demo",
                    "dynamics": {"system": "lorenz96", "params": {"n": 40, "F": 8.0}, "dt": 0.05},
                    "observation": {"indices": None, "noise_std": 1.0},
                    "filter": {"method": "etkf", "ensemble_size": 24, "inflation": "adaptive"},
                    "seed": 0,
                }
            ]
        }
    }

    @model_validator(mode="after")
    def _fits_the_state(self) -> StreamCreate:
        n = self.state_dim
        if self.observation.indices is not None:
            idx = self.observation.indices
            if not idx:
                raise ValueError("observation.indices must not be empty (null observes all)")
            if max(idx) >= n:
                raise ValueError(f"observation.indices: {max(idx)} is outside the state (n={n})")
            if len(set(idx)) != len(idx):
                raise ValueError("observation.indices must be distinct")
        if self.initial.mean is not None and len(self.initial.mean) != n:
            raise ValueError(f"initial.mean has {len(self.initial.mean)} values; the state has {n}")
        return self

    @property
    def state_dim(self) -> int:
        return self.dynamics.params.state_dim

    @property
    def obs_dim(self) -> int:
        idx = self.observation.indices
        return self.state_dim if idx is None else len(idx)


class ObservationIn(StrictModel):
    seq: StrictInt = Field(ge=1, lt=2**62, description="Client sequence number (idempotency key)")
    t: FiniteFloat = Field(description="Absolute observation time")
    values: list[FiniteFloat] = Field(min_length=1, description="One value per observed component")


class ObservationBatch(StrictModel):
    observations: list[ObservationIn] = Field(min_length=1)

    model_config = {
        "json_schema_extra": {
            "examples": [{"observations": [{"seq": 1, "t": 0.05, "values": [0.1, 2.3, -1.0]}]}]
        }
    }

    @field_validator("observations")
    @classmethod
    def _consistent(cls, observations: list[ObservationIn]) -> list[ObservationIn]:
        by_seq: dict[int, ObservationIn] = {}
        for i, o in enumerate(observations):
            seen = by_seq.setdefault(o.seq, o)
            if seen is not o and seen != o:
                raise ValueError(
                    f"observations.{i}: seq {o.seq} appears twice with different content"
                )
        ordered = sorted(by_seq.values(), key=lambda o: o.seq)
        for a, b in zip(ordered, ordered[1:], strict=False):
            if b.t <= a.t:
                raise ValueError(
                    f"observation times must increase with seq: seq {b.seq} has t={b.t}, "
                    f"seq {a.seq} has t={a.t}"
                )
        return observations


class ObservationsAccepted(BaseModel):
    accepted: int = Field(description="New observations committed")
    duplicates: int = Field(description="Already known (same seq); ignored")
    pending: int = Field(description="Committed but not yet assimilated")
    last_seq: int = Field(description="Last seq assimilated (or skipped)")


class StreamRead(BaseModel):
    id: str
    name: str | None
    status: Literal["open", "closed"]
    t: float
    last_seq: int
    n_assimilated: int
    n_skipped: int
    pending: int
    mean: list[float] | None
    spread: list[float] | None
    config: dict[str, Any]
    seed: int
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    gaps: list[dict[str, int]] = Field(default_factory=list, description="Skipped seq ranges")


class StreamList(BaseModel):
    items: list[StreamRead]
    next_cursor: str | None


class AnalysisRead(BaseModel):
    seq: int
    t: float
    mean: list[float]
    spread: list[float] = Field(description="Ensemble std per state component")
    innovation_rms: float = Field(description="RMS of y - H x_f before the analysis")
    inflation: float | None = None


class AnalysisList(BaseModel):
    items: list[AnalysisRead]
    next_cursor: str | None = Field(description="Pass as ?after_seq= for the next page")


STREAM_EXAMPLE: dict[str, Any] = {
    "id": "0b7f2c1a-3c1d-4f7e-9a0b-5d6e7f8a9b0c",
    "name": "l96-demo",
    "status": "open",
    "t": 0.5,
    "last_seq": 10,
    "n_assimilated": 10,
    "n_skipped": 0,
    "pending": 0,
    "mean": [2.1, -0.4, 5.3],
    "spread": [0.21, 0.19, 0.24],
    "config": {"dynamics": {"system": "lorenz96", "params": {"n": 3, "F": 8.0}, "dt": 0.05}},
    "seed": 0,
    "created_at": "2026-11-27T12:00:00Z",
    "updated_at": "2026-11-27T12:00:01Z",
    "closed_at": None,
    "gaps": [],
}
ANALYSES_EXAMPLE: dict[str, Any] = {
    "items": [
        {
            "seq": 1,
            "t": 0.05,
            "mean": [2.1, -0.4, 5.3],
            "spread": [0.2, 0.2, 0.2],
            "innovation_rms": 0.9,
            "inflation": 1.02,
        }
    ],
    "next_cursor": "1",
}
