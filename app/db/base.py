"""Declarative base with stable constraint names, and portable column types."""

from __future__ import annotations

import struct
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, LargeBinary, MetaData, String, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every backend (SQLite drops the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        when: datetime | None = value
        if when is not None and when.tzinfo is None:
            return when.replace(tzinfo=UTC)
        return when


class Float64Vector(TypeDecorator[list[float]]):
    """A vector of floats stored as packed little-endian float64 (bytea on PostgreSQL).

    Observations and analyses are written and read a thousand rows at a time on the
    streaming hot path; packed bytes skip printing and parsing JSON numbers both in Python
    and in the database, and take 8 bytes a value. Reads give back a list of floats.
    """

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        return None if value is None else pack_floats(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> list[float] | None:
        return None if value is None else unpack_floats(value)


def pack_floats(values: Any) -> bytes:
    """A sequence of floats, or a NumPy float64 vector (its own bytes: the analyses' hot
    path; this layer does not import NumPy), as little-endian float64."""
    if hasattr(values, "tobytes"):
        return bytes(values.astype("<f8", copy=False).tobytes())
    return struct.pack(f"<{len(values)}d", *values)


def unpack_floats(data: bytes) -> list[float]:
    return list(struct.unpack(f"<{len(data) // 8}d", data))


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSONType, datetime: UTCDateTime}


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


ID = String(36)
