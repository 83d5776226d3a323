"""A posted series: its values (null where missing), timestamps and how to grid them, and
its drivers (covariates with their future, calendar terms)."""

from __future__ import annotations

import math
import sys
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from app.api.schemas.common import FiniteFloat, StoredText, StrictModel
from models.timegrid import parse_freq, parse_timezone

Value = FiniteFloat | None
Row = list[Value]


class CovariateIn(StrictModel):
    values: list[Value] = Field(
        description="The driver at each of the series' times (null where unknown: "
        "interpolated linearly, and counted in fitted.covariates; so are its gross faults, "
        "listed in fitted.covariates.set_aside, unless outliers is keep)"
    )
    future: list[FiniteFloat] | None = Field(
        None,
        description="Its known values over the forecast's horizon (required to forecast; a "
        "gross fault there is interpolated and listed in fitted.covariates.set_aside with "
        "'future': true, unless outliers is keep)",
    )


CovariateName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]
CalendarTerm = Literal["hour", "dow", "month"]


class SeriesIn(StrictModel):
    id: StoredText = Field(min_length=1, max_length=255, description="Your name for the series")
    values: list[Value] | list[Row] = Field(
        description="Numbers (univariate) or equal-length rows (multivariate, T x d); null "
        "marks a missing value (or component), which the forecast fits through, widening its "
        "uncertainty, and reports under `imputed`"
    )
    timestamps: list[datetime] | None = Field(
        None,
        description="Optional, increasing, one per value: the values are placed on a regular "
        "grid (empty slots are missing values) and the forecast gets its own timestamps",
    )
    freq: str | None = Field(
        None,
        description='The grid\'s step ("15min", "1h", "D", "B", "W", "MS", "QS", "YS" or an ISO '
        "8601 duration); inferred from the timestamps when omitted",
        max_length=32,
    )
    timezone: str | None = Field(
        None,
        description="IANA zone (e.g. Europe/Paris): daily and longer steps keep local wall-clock "
        "time there, across DST changes; naive timestamps are read as local time",
        max_length=64,
    )
    covariates: dict[CovariateName, CovariateIn] | None = Field(
        None,
        max_length=32,
        description='Known drivers by name: {"temp": {"values": [...], "future": [...]}}; '
        "regressors of the conjugate AR kinds (and of auto, which then picks among them)",
    )
    calendar: list[CalendarTerm] = Field(
        default_factory=list,
        description="Calendar terms from the timestamps as drivers: hour (of day), dow (day of "
        "week), month (of year); their future comes from the forecast's own timestamps",
    )
    aggregate: Literal["mean"] | None = Field(
        None,
        description='"mean" averages values that fall in one grid slot; by default two values '
        "in one slot are refused",
    )

    @field_validator("freq")
    @classmethod
    def _check_freq(cls, freq: str | None) -> str | None:
        if freq is not None:
            parse_freq(freq)
        return freq

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, timezone: str | None) -> str | None:
        if timezone is not None:
            parse_timezone(timezone)
        return timezone

    @field_validator("values", mode="before")
    @classmethod
    def _check_values(cls, values: Any) -> Any:
        # Precise messages before the typed parse, which would report a vague union mismatch.
        if not isinstance(values, list):
            raise ValueError("must be a list of numbers or a list of rows")
        if not values:
            raise ValueError("must not be empty")
        rows = isinstance(values[0], list)
        width = len(values[0]) if rows else None
        for i, item in enumerate(values):
            if rows != isinstance(item, list):
                raise ValueError(f"item {i}: mixes numbers and rows")
            for j, x in enumerate(item if rows else [item]):
                where = f"item {i}" + (f", column {j}" if rows else "")
                if x is None:
                    continue
                if isinstance(x, bool) or not isinstance(x, int | float):
                    raise ValueError(f"{where}: {x!r} is not a number (or null when missing)")
                if isinstance(x, int) and abs(x) > sys.float_info.max:
                    raise ValueError(f"{where}: an integer too large for a float")
                if not math.isfinite(x):
                    raise ValueError(f"{where}: {x!r} is not finite; send null for a missing value")
            if rows and len(item) != width:
                raise ValueError(f"ragged rows: row {i} has {len(item)} values, row 0 has {width}")
        if rows and width == 0:
            raise ValueError("rows must not be empty")
        columns = zip(*values, strict=True) if rows else [values]
        for j, column in enumerate(columns):
            seen = sum(x is not None for x in column)
            if seen < 2:
                where = f"column {j}" if rows else "the series"
                raise ValueError(f"{where} has {seen} observed values; at least 2 are needed")
        return values

    @model_validator(mode="after")
    def _check_timestamps(self) -> SeriesIn:
        for name, cov in (self.covariates or {}).items():
            if sum(v is not None for v in cov.values) < 2:
                raise ValueError(f"covariates.{name}.values: fewer than 2 known values")
            if len(cov.values) != len(self.values):
                raise ValueError(
                    f"covariates.{name}.values: {len(cov.values)} given for "
                    f"{len(self.values)} values"
                )
        if self.timestamps is None:
            if self.freq or self.timezone or self.aggregate or self.calendar:
                raise ValueError("freq, timezone, aggregate and calendar need timestamps")
            return self
        if len(self.timestamps) != len(self.values):
            raise ValueError(
                f"timestamps: {len(self.timestamps)} given for {len(self.values)} values"
            )
        aware = {t.tzinfo is not None for t in self.timestamps}
        if len(aware) > 1:
            raise ValueError("timestamps: mixes timezone-aware and naive times")
        for i in range(1, len(self.timestamps)):
            if self.timestamps[i] < self.timestamps[i - 1] or (
                self.timestamps[i] == self.timestamps[i - 1] and self.aggregate is None
            ):
                raise ValueError(
                    f"timestamps: item {i} ({self.timestamps[i].isoformat()}) is not after "
                    f"item {i - 1}; they must increase (repeats only with aggregate: mean)"
                )
        return self

    @property
    def dimension(self) -> int:
        first = self.values[0]
        return len(first) if isinstance(first, list) else 1
