"""Stream (online data assimilation) schemas. The v1 contract: fields may be added, not renamed."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal, Self, get_args

from pydantic import (
    BaseModel,
    Discriminator,
    Field,
    StrictBool,
    StrictInt,
    Tag,
    field_validator,
    model_validator,
)

from app.api.schemas.common import FiniteFloat, StoredModelRef, StoredText, StrictModel
from app.db.tables import Analysis, Observation
from app.services.streams import StreamView


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


SYSTEM_SPECS = (Lorenz63Spec, Lorenz96Spec, KSSpec)
DynamicsSpec = Annotated[Lorenz63Spec | Lorenz96Spec | KSSpec, Field(discriminator="system")]


class ModelDynamicsSpec(StrictModel):
    """A stored forecaster version as the dynamics (a learned surrogate). The state is its lag
    window: the last p values of the d-dimensional series, oldest first, n = p d; time counts
    series steps (one step per unit). The version is resolved and pinned at creation."""

    model: StoredModelRef

    @model_validator(mode="before")
    @classmethod
    def _not_a_system_too(cls, data: Any) -> Any:
        if isinstance(data, dict) and "system" in data:
            raise ValueError("give either dynamics.system or dynamics.model, not both")
        return data


def _dynamics_tag(value: Any) -> str:
    if isinstance(value, dict):
        return "surrogate" if "model" in value else "system"
    return "surrogate" if isinstance(value, ModelDynamicsSpec) else "system"


# The tags a dynamics field can take: error paths drop them (app.api.errors).
DYNAMICS_TAGS = frozenset(
    [
        "system",
        "surrogate",
        *(get_args(s.model_fields["system"].annotation)[0] for s in SYSTEM_SPECS),
    ]
)
# A stream's dynamics: a simulated system, or a learned surrogate (a stored forecaster).
StreamDynamicsSpec = Annotated[
    Annotated[DynamicsSpec, Tag("system")] | Annotated[ModelDynamicsSpec, Tag("surrogate")],
    Discriminator(_dynamics_tag),
]


class ObservationSpec(StrictModel):
    indices: list[Annotated[StrictInt, Field(ge=0)]] | None = Field(
        None, description="Observed state components; null observes all"
    )
    noise_std: FiniteFloat = Field(
        1.0, gt=0, le=1e6, description="Observation noise std (R = s^2 I)"
    )


class FilterSpec(StrictModel):
    method: Literal["enkf", "etkf", "letkf", "observer"] = "etkf"
    ensemble_size: StrictInt = Field(
        24, ge=2, le=1000, description="Members (an observer brings its own number)"
    )
    inflation: Annotated[FiniteFloat, Field(ge=1, le=10)] | Literal["adaptive"] = Field(
        1.02, description='Multiplicative factor, or "adaptive" (finite-size EnKF-N)'
    )
    localization_radius: FiniteFloat | None = Field(
        None, gt=0, le=1e4, description="Gaspari-Cohn radius in grid units (LETKF)"
    )
    rotate: StrictBool = Field(False, description="Random mean-preserving rotation of anomalies")
    model: StoredModelRef | None = Field(
        None, description='The neural observer version (method "observer" only)'
    )

    @model_validator(mode="after")
    def _radius_for_letkf(self) -> FilterSpec:
        if (self.method == "observer") != (self.model is not None):
            raise ValueError('model (a trained observer) is required with method "observer", only')
        if self.method == "letkf" and self.localization_radius is None:
            raise ValueError("localization_radius is required for letkf")
        if self.method != "letkf" and self.localization_radius is not None:
            raise ValueError("localization_radius applies only to letkf")
        return self


class QCSpec(StrictModel):
    """The background check: a reading whose innovation z-score (its distance from the
    ensemble's expectation, in units of the ensemble spread and the sensor noise together)
    exceeds the gate is rejected and recorded, not used."""

    gate: FiniteFloat = Field(4.0, gt=0, le=1e3, description="Largest |z| a reading may have")


class InitialSpec(StrictModel):
    mean: list[FiniteFloat] | None = Field(None, description="Initial ensemble mean (length n)")
    std: FiniteFloat = Field(1.0, gt=0, le=1e6)
    series: list[FiniteFloat] | list[list[FiniteFloat]] | None = Field(
        None,
        description="Model dynamics only: the series up to t0 (numbers, or rows of d values); "
        "every member starts at its last p values, and the forecaster supplies the spread",
    )


class StreamCreate(StrictModel):
    name: StoredText | None = Field(None, max_length=200)
    dynamics: StreamDynamicsSpec
    observation: ObservationSpec = Field(default_factory=ObservationSpec)
    filter: FilterSpec = Field(default_factory=FilterSpec)
    initial: InitialSpec = Field(default_factory=InitialSpec)
    t0: FiniteFloat = Field(0.0, description="Time of the initial ensemble")
    seed: StrictInt = Field(0, ge=0, lt=2**31)
    gap_timeout_s: FiniteFloat = Field(
        30.0, ge=0, le=86_400, description="How long a missing seq is awaited before it is skipped"
    )
    qc: QCSpec | None = Field(
        default_factory=QCSpec, description="Quality control of each reading; null turns it off"
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
        n = self.state_dim  # None for model dynamics: checked once the version is resolved
        if self.observation.indices is not None:
            idx = self.observation.indices
            if not idx:
                raise ValueError("observation.indices must not be empty (null observes all)")
            if n is not None and max(idx) >= n:
                raise ValueError(f"observation.indices: {max(idx)} is outside the state (n={n})")
            if len(set(idx)) != len(idx):
                raise ValueError("observation.indices must be distinct")
        if n is not None and self.initial.mean is not None and len(self.initial.mean) != n:
            raise ValueError(f"initial.mean has {len(self.initial.mean)} values; the state has {n}")
        self._check_surrogate_start()
        return self

    def _check_surrogate_start(self) -> None:
        """Model dynamics start from a window of the series (or an explicit mean)."""
        initial = self.initial
        if not isinstance(self.dynamics, ModelDynamicsSpec):
            if initial.series is not None:
                raise ValueError("initial.series applies only to model dynamics")
            return
        if (initial.series is None) == (initial.mean is None):
            raise ValueError(
                "initial: give series (the series up to t0) or mean (a window), exactly one"
            )
        if initial.series is not None and "std" in initial.model_fields_set:
            raise ValueError(
                "initial.std: members start at the window of initial.series exactly; "
                "the forecaster supplies the spread"
            )

    @property
    def state_dim(self) -> int | None:
        """n, or None for model dynamics (the window size of the stored version)."""
        if isinstance(self.dynamics, ModelDynamicsSpec):
            return None
        return self.dynamics.params.state_dim

    @property
    def obs_dim(self) -> int | None:
        idx = self.observation.indices
        return self.state_dim if idx is None else len(idx)


PositiveFloat = Annotated[FiniteFloat, Field(gt=0, le=1e6)]


class ObservationIn(StrictModel):
    seq: StrictInt = Field(ge=1, lt=2**62, description="Client sequence number (idempotency key)")
    t: FiniteFloat = Field(description="Absolute observation time")
    values: list[FiniteFloat | None] = Field(
        min_length=1,
        description="One value per observed component; null where a sensor did not report "
        "(the analysis uses the components present)",
    )
    noise_std: PositiveFloat | list[PositiveFloat] | None = Field(
        None,
        description="This observation's own noise std (one, or one per component); default: "
        "the stream's observation.noise_std",
    )

    @model_validator(mode="after")
    def _noise_per_component(self) -> ObservationIn:
        if isinstance(self.noise_std, list) and len(self.noise_std) != len(self.values):
            raise ValueError(
                f"noise_std has {len(self.noise_std)} entries for {len(self.values)} values"
            )
        return self


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


class SensorRead(BaseModel):
    index: int = Field(description="The component of the observation vector")
    status: Literal["ok", "suspect", "failed"]
    rejection_rate: float = Field(description="Share of recent readings the check rejected")
    bias: float = Field(description="Mean recent innovation z-score")
    missing_rate: float = Field(description="Share of recent readings missing")
    repeats: int = Field(0, description="Readings in a row equal to the one before (stuck)")


class StreamRead(BaseModel):
    id: str
    name: str | None
    status: Literal["open", "closed"]
    t: float
    last_seq: int
    n_assimilated: int
    n_skipped: int = Field(
        description="Observations not assimilated: never arrived (gaps), before the stream's "
        "time, overflowed, or with no reading that passed the screening"
    )
    pending: int
    mean: list[float] | None
    spread: list[float] | None
    config: dict[str, Any]
    seed: int
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    gaps: list[dict[str, int]] = Field(default_factory=list, description="Skipped seq ranges")
    sensors: list[SensorRead] = Field(
        default_factory=list,
        description="Each observed component's health over about the last ten observations "
        "(a failed one is left out of the analyses until its readings agree again)",
    )

    @classmethod
    def of(cls, v: StreamView) -> Self:
        s = v.stream
        return cls(
            id=s.id,
            name=s.name,
            status=s.status,
            t=s.t,
            last_seq=s.last_seq,
            n_assimilated=s.n_assimilated,
            n_skipped=s.n_skipped,
            pending=v.pending,
            mean=s.mean,
            spread=s.spread,
            config=s.config,
            seed=s.seed,
            created_at=s.created_at,
            updated_at=s.updated_at,
            closed_at=s.closed_at,
            gaps=[{"first_seq": g.first_seq, "last_seq": g.last_seq} for g in v.gaps],
            sensors=[SensorRead.model_validate(d) for d in s.sensors or []],
        )


class StreamList(BaseModel):
    items: list[StreamRead]
    next_cursor: str | None


SCREENING = ("used", "missing", "rejected", "failed")  # by models.assimilation.quality's codes


class AnalysisRead(BaseModel):
    seq: int
    t: float
    mean: list[float]
    spread: list[float] = Field(description="Ensemble std per state component")
    innovation_rms: float = Field(description="RMS of y - H x_f over the readings used")
    inflation: float | None = None
    z: list[float | None] | None = Field(
        None, description="Each reading's innovation z-score (null: missing), when screened"
    )
    screening: list[str] | None = Field(
        None,
        description="What became of each reading: used, missing, rejected (by the background "
        "check) or failed (its sensor is marked failed)",
    )
    rejected: list[int] = Field(
        default_factory=list, description="Components not used though present"
    )

    @classmethod
    def of(cls, row: Analysis) -> Self:
        codes = [int(c) for c in row.screening] if row.screening is not None else None
        return cls(
            seq=row.seq,
            t=row.t,
            mean=row.mean,
            spread=row.spread,
            innovation_rms=row.innovation_rms,
            inflation=row.inflation,
            z=None if row.z is None else [v if math.isfinite(v) else None for v in row.z],
            screening=None if codes is None else [SCREENING[c] for c in codes],
            rejected=[] if codes is None else [i for i, c in enumerate(codes) if c >= 2],
        )


class AnalysisList(BaseModel):
    items: list[AnalysisRead]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page (?after_seq= is an alias)"
    )


class ObservationRead(BaseModel):
    seq: int
    t: float
    values: list[float | None] = Field(description="As posted (null: missing)")
    noise_std: list[float] | None = Field(None, description="Its own noise std, if it had one")
    status: str = Field(description="pending, assimilated or skipped")
    reason: str | None = Field(None, description="Why it was skipped")

    @classmethod
    def of(cls, row: Observation) -> Self:
        return cls(
            seq=row.seq,
            t=row.t,
            values=[None if math.isnan(v) else v for v in row.values],
            noise_std=row.noise_std,
            status=row.status,
            reason=row.reason,
        )


class ObservationList(BaseModel):
    items: list[ObservationRead]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page (?after_seq= is an alias)"
    )


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
OBSERVATIONS_EXAMPLE: dict[str, Any] = {
    "items": [{"seq": 1, "t": 0.05, "values": [2.3], "status": "assimilated", "reason": None}],
    "next_cursor": None,
}
