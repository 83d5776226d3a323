"""ORM tables. The schema itself changes only through Alembic revisions in migrations/."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import ID, Base, Float64Vector, JSONType, new_id, utcnow


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE = frozenset({JobStatus.QUEUED, JobStatus.RUNNING})
TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    # The public prefix finds the row; only the keyed hash of the whole key is stored.
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)

    tenant: Mapped[Tenant] = relationship(lazy="raise")


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key"),
        Index("ix_jobs_tenant_created", "tenant_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    queue: Mapped[str] = mapped_column(String(32))
    request: Mapped[dict[str, Any]]
    model: Mapped[dict[str, Any]]
    seed: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), default=None)
    request_hash: Mapped[str] = mapped_column(String(64))
    code_version: Mapped[str] = mapped_column(String(64))
    device: Mapped[str | None] = mapped_column(String(64), default=None)
    worker: Mapped[str | None] = mapped_column(String(255), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    # Indexed: the metrics collector reads the newest finished jobs without a scan.
    finished_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    # Last sign of life: sent to the broker (queued) or progress from a worker (running).
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)
    summary: Mapped[dict[str, Any] | None] = mapped_column(default=None)


class ForecastResult(Base):
    __tablename__ = "forecast_results"
    __table_args__ = (UniqueConstraint("job_id", "series_index"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    series_index: Mapped[int] = mapped_column(Integer)
    series_id: Mapped[str] = mapped_column(String(255))
    # Per-step lists: mean, median, std, epistemic_std, aleatoric_std, intervals, quantiles, ...
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ModelVersion(Base):
    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("tenant_id", "name", "version"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]]
    # safetensors bytes: loaded as plain tensors, never unpickled.
    artifact: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    data_fingerprint: Mapped[str] = mapped_column(String(64))
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    code_version: Mapped[str] = mapped_column(String(64))
    parent_id: Mapped[str | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="SET NULL"), default=None
    )
    job_id: Mapped[str | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    notes: Mapped[str | None] = mapped_column(Text, default=None)


class Stream(Base):
    """An assimilation session: its config and the current ensemble (safetensors bytes)."""

    __tablename__ = "streams"
    __table_args__ = (Index("ix_streams_tenant_created", "tenant_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str | None] = mapped_column(String(200), default=None)
    status: Mapped[str] = mapped_column(String(16), default="open")
    config: Mapped[dict[str, Any]]
    seed: Mapped[int] = mapped_column(Integer, default=0)
    state_dim: Mapped[int] = mapped_column(Integer)
    obs_dim: Mapped[int] = mapped_column(Integer)
    t: Mapped[float] = mapped_column(Float, default=0.0)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    n_assimilated: Mapped[int] = mapped_column(Integer, default=0)
    n_skipped: Mapped[int] = mapped_column(Integer, default=0)
    ensemble: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    mean: Mapped[list[float] | None] = mapped_column(JSONType, default=None)
    spread: Mapped[list[float] | None] = mapped_column(JSONType, default=None)
    # Per observed component: rolling missing / rejection rates and bias (quality.py).
    sensors: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType, default=None)
    # The run of observations, up to the latest handled, whose forecast or analysis
    # overflowed: its first seq (None when the latest cycle was fine) and its length.
    failing_since: Mapped[int | None] = mapped_column(BigInteger, default=None)
    n_failing: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    code_version: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)


# The partial index's predicate, and the literal queries compare the status with: spelled
# once, since the planner uses the index only for a predicate that matches it exactly.
PENDING_LITERAL = "'pending'"
PENDING_PREDICATE = f"status = {PENDING_LITERAL}"


class Observation(Base):
    """One measurement vector; (stream_id, seq) is unique, which makes posts idempotent."""

    __tablename__ = "observations"
    __table_args__ = (
        UniqueConstraint("stream_id", "seq"),
        # Only the pending ones: the index is as small as the backlog, however long the
        # record, and an observation leaves it when it is handled (its status update then
        # writes one index entry fewer). Queries spell the predicate as a literal
        # (repositories.streams.PENDING): a bound 'pending' does not match a partial index
        # in a generic plan, which PostgreSQL uses for statements prepared and run often.
        Index(
            "ix_observations_pending",
            "stream_id",
            "seq",
            postgresql_where=text(PENDING_PREDICATE),
            sqlite_where=text(PENDING_PREDICATE),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    stream_id: Mapped[str] = mapped_column(ForeignKey("streams.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(BigInteger)
    t: Mapped[float] = mapped_column(Float)
    values: Mapped[list[float]] = mapped_column(Float64Vector)  # NaN: a missing reading
    noise_std: Mapped[list[float] | None] = mapped_column(Float64Vector, default=None)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str | None] = mapped_column(String(200), default=None)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class Analysis(Base):
    """The state estimate after assimilating one observation."""

    __tablename__ = "analyses"
    __table_args__ = (UniqueConstraint("stream_id", "seq"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    stream_id: Mapped[str] = mapped_column(ForeignKey("streams.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(BigInteger)
    t: Mapped[float] = mapped_column(Float)
    mean: Mapped[list[float]] = mapped_column(Float64Vector)
    spread: Mapped[list[float]] = mapped_column(Float64Vector)
    innovation_rms: Mapped[float] = mapped_column(Float)
    inflation: Mapped[float | None] = mapped_column(Float, default=None)
    # Per observed component: innovation z-score (NaN: missing) and SCREENING code.
    z: Mapped[list[float] | None] = mapped_column(Float64Vector, default=None)
    screening: Mapped[list[float] | None] = mapped_column(Float64Vector, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StreamGap(Base):
    """Sequence numbers given up on after the gap timeout (they never arrived in time)."""

    __tablename__ = "stream_gaps"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    stream_id: Mapped[str] = mapped_column(ForeignKey("streams.id", ondelete="CASCADE"), index=True)
    first_seq: Mapped[int] = mapped_column(BigInteger)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    skipped_at: Mapped[datetime] = mapped_column(default=utcnow)


class ModelAlias(Base):
    """A movable name for one version of a model ("production" -> version 3)."""

    __tablename__ = "model_aliases"
    __table_args__ = (UniqueConstraint("tenant_id", "name", "alias"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    alias: Mapped[str] = mapped_column(String(100))
    version_id: Mapped[str] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
