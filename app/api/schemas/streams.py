"""Stream schemas: observations in and out, a stream's state, its analyses (the v1 contract:
fields may be added, not renamed). What a stream is opened with is `stream_specs`."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, Field, StrictInt, field_validator, model_validator

from app.api.schemas.common import FiniteFloat, StrictModel
from app.api.schemas.stream_specs import InitialSpec
from app.db.tables import Analysis, Observation
from app.services.streams import StreamView

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


class RejectedObservation(BaseModel):
    index: int = Field(description="Its place in the post")
    seq: int
    reason: str


class ObservationsAccepted(BaseModel):
    accepted: int = Field(description="New observations committed, to be assimilated")
    duplicates: int = Field(description="Already known (same seq); ignored")
    pending: int = Field(description="Committed but not yet assimilated")
    last_seq: int = Field(description="Last seq assimilated (or skipped)")
    rejected: list[RejectedObservation] = Field(
        default_factory=list,
        description="New observations that can never be assimilated (a seq already passed, "
        "a time before the stream's): kept on record as skipped, not counted as accepted",
    )


class SensorRead(BaseModel):
    index: int = Field(description="The component of the observation vector")
    status: Literal["ok", "suspect", "failed"]
    rejection_rate: float = Field(description="Share of recent readings the check rejected")
    bias: float = Field(description="Mean recent innovation z-score")
    missing_rate: float = Field(description="Share of recent readings missing")
    repeats: int = Field(0, description="Readings in a row equal to the one before (stuck)")


class StreamHealth(BaseModel):
    status: Literal["ok", "failing"] = Field(
        description="failing: the forecast or analysis overflowed at every observation since "
        "failing_since_seq, up to the latest handled; the stream keeps its last finite "
        "ensemble, which has likely left the model's range and will not come back by itself"
    )
    failing_since_seq: int | None = None
    consecutive_failures: int = 0
    detail: str | None = Field(None, description="What to do about it, when failing")

    @classmethod
    def of(cls, stream_id: str, since: int | None, count: int) -> Self:
        """From the stream's record of its failing run (failing_since, n_failing)."""
        if since is None:
            return cls(status="ok")
        return cls(
            status="failing",
            failing_since_seq=since,
            consecutive_failures=count,
            detail=f"{count} observation(s) in a row since seq {since} overflowed the forecast "
            "or the analysis: the ensemble has left the model's range, after readings far off "
            "its scale or by diverging from the truth (an ETKF or EnKF ensemble smaller than "
            "the state, without localization, can: use letkf with a localization_radius). "
            f"POST /v1/streams/{stream_id}/reset redraws it at the stream's time.",
        )


class StreamReset(StrictModel):
    initial: InitialSpec | None = Field(
        None,
        description="The new ensemble's mean and std, drawn at the stream's current time "
        "(what is left out: the stream's initial ones); for model dynamics, series (up to "
        "the stream's time) or mean, exactly one",
    )

    model_config = {"json_schema_extra": {"examples": [{"initial": {"std": 1.0}}]}}


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
    health: StreamHealth = Field(
        default_factory=lambda: StreamHealth(status="ok"),
        description="Whether the latest cycles could be computed at all",
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
            health=StreamHealth.of(s.id, s.failing_since, s.n_failing),
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
    "health": {"status": "ok", "failing_since_seq": None, "consecutive_failures": 0},
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
