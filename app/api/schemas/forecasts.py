"""Forecast request and response schemas (the v1 contract: fields may be added, not renamed)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Field,
    StrictBool,
    StrictInt,
    field_validator,
    model_validator,
)

from app.api.schemas.common import FiniteFloat, Outliers, StrictModel, default_levels
from app.api.schemas.jobs import JOB_EXAMPLE, JobRead
from app.api.schemas.model_specs import DefaultSpec, ModelSpec
from app.api.schemas.series import Row, SeriesIn, Value
from app.db.tables import ForecastResult
from models.forecasting.registry import DEFAULT_KIND

Level = Annotated[FiniteFloat, Field(gt=0, lt=100)]
Quantile = Annotated[FiniteFloat, Field(gt=0, lt=1)]


class AnomalySettings(StrictModel):
    level: FiniteFloat = Field(
        99.0,
        gt=50,
        lt=100,
        description="A past reading outside its one-step-ahead interval at this level is "
        "flagged (so a clean series gets about 100 - level % of its readings flagged)",
    )
    exclude: StrictBool = Field(
        False,
        description="Fit through the flagged readings as missing values (they are still "
        "listed, and their imputed values reported); by default they stay in the fit",
    )


class ForecastCreate(StrictModel):
    series: list[SeriesIn] = Field(min_length=1)
    horizon: StrictInt = Field(ge=1, description="Steps ahead (limit: KALMANAC_MAX_HORIZON)")
    levels: list[Level] = Field(
        default_factory=default_levels, max_length=20, description="Central interval levels, %"
    )
    quantiles: list[Quantile] = Field(default_factory=list, max_length=99)
    num_samples: StrictInt = Field(1000, ge=10, description="Monte Carlo sample paths")
    return_samples: StrictBool = False
    seed: StrictInt = Field(0, ge=0, lt=2**31)
    model: ModelSpec = Field(
        default_factory=DefaultSpec,
        description='{"kind", "params"} trains a kind (GET /v1/kinds lists them) on the posted '
        'series; {"name", "version"|"alias"} uses a stored model version with the series as '
        "context",
    )
    support: Literal["real", "nonnegative"] = Field(
        "real",
        description="nonnegative: counts and amounts; sample paths, intervals and quantiles "
        "stay at or above zero (the observed values must be too)",
    )
    outliers: Outliers = "set_aside"
    detect_anomalies: AnomalySettings | None = Field(
        None,
        description='{"level": 99}: also list the past readings the series itself makes '
        "unlikely (outside their one-step-ahead predictive interval, or a stuck run of equal "
        "values), under anomalies",
    )
    calibration: Literal["none", "conformal"] = Field(
        "none",
        description="conformal: also report intervals recalibrated on rolling-origin backtests "
        "of the posted series (split conformal), next to the model's own",
    )
    calibration_folds: StrictInt = Field(
        20,
        ge=2,
        le=50,
        description="backtest origins for the conformal scores, spread over the series (the "
        "forecasting model forecasts from each one's history, without refitting); at least 19 "
        "scores per step are pooled for a 95% interval",
    )

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "series": [
                        {
                            "id": "s1",
                            "values": [1.2, 0.8, 1.5, 1.1, 0.9, 1.4, 1.0, 1.3, 0.7, 1.2, 1.1, 0.9],
                        }
                    ],
                    "horizon": 3,
                    "levels": [80, 95],
                    "quantiles": [0.1, 0.5, 0.9],
                    "seed": 0,
                    "model": {"kind": DEFAULT_KIND, "params": {"max_lag": 2}},
                }
            ]
        }
    }

    @field_validator("series")
    @classmethod
    def _unique_ids(cls, series: list[SeriesIn]) -> list[SeriesIn]:
        seen: set[str] = set()
        for s in series:
            if s.id in seen:
                raise ValueError(f"duplicate series id {s.id!r}")
            seen.add(s.id)
        return series

    @model_validator(mode="after")
    def _nonnegative_series(self) -> ForecastCreate:
        if self.support == "nonnegative":
            for i, s in enumerate(self.series):
                for t, v in enumerate(s.values):
                    if any(x is not None and x < 0 for x in (v if isinstance(v, list) else [v])):
                        raise ValueError(
                            f"series.{i}.values: item {t} is negative, and support is nonnegative"
                        )
        return self

    @field_validator("levels", "quantiles")
    @classmethod
    def _distinct(cls, values: list[float]) -> list[float]:
        if len(set(values)) != len(values):
            raise ValueError("values must be distinct")
        return sorted(values)


Steps = list[float] | list[list[float]]


class Interval(BaseModel):
    lower: Steps
    upper: Steps


class ImputedValue(BaseModel):
    """A missing input's posterior: what the forecast integrated over in its place."""

    index: int = Field(description="Position in the series (on its time grid)")
    component: int | None = Field(None, description="Column, for a multivariate series")
    timestamp: datetime | None = Field(None, description="Its time, when the series had times")
    mean: float
    std: float
    intervals: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description='Central intervals by level: {"80": [lower, upper]}'
    )


class Anomaly(BaseModel):
    """A past reading the series makes unlikely. A flagged one stays in the data the model was
    fitted on (flagging is a report, not a filter); a set-aside one does not."""

    index: int = Field(description="Position in the series (on its time grid)")
    component: int | None = Field(None, description="Column, for a multivariate series")
    timestamp: datetime | None = None
    value: float
    expected: float | None = Field(description="Its one-step-ahead prediction")
    interval: tuple[float, float] | None = Field(description="The one-step interval at level")
    score: float = Field(description="(value - expected) / predictive std")
    reason: Literal["outside", "repeated"] = Field(
        description="outside the interval, or the repeat of a stuck run of equal readings"
    )


class SeriesForecast(BaseModel):
    id: str
    mean: Steps
    median: Steps
    std: Steps = Field(description="Total predictive std: sqrt(epistemic^2 + aleatoric^2)")
    epistemic_std: Steps = Field(description="Spread from what the model does not know")
    aleatoric_std: Steps = Field(description="Noise the model expects")
    intervals: dict[str, Interval] = Field(description='Central intervals keyed by level ("80")')
    quantiles: dict[str, Steps] = Field(description='Keyed by quantile ("0.1")')
    samples: list[Steps] | None = Field(None, description="Sample paths, when requested")
    timestamps: list[datetime] | None = Field(
        None, description="Forecast times, continuing the input's grid (when it had timestamps)"
    )
    calibrated_intervals: dict[str, Interval] | None = Field(
        None, description='With "calibration": "conformal": split-conformal intervals by level'
    )
    calibration: dict[str, Any] | None = Field(
        None, description="How the calibrated intervals were made (method, folds, coverage)"
    )
    times: list[float] | None = Field(
        None, description="Forecast times (stream forecasts, in the stream's time units)"
    )
    fitted: dict[str, Any] = Field(
        default_factory=dict, description="What the fit chose (lag order, evidence, ...)"
    )
    imputed: list[ImputedValue] | None = Field(
        None,
        description="The posted series' missing values (null, and the readings set_aside), "
        "each with its posterior mean and intervals given the rest of the series",
    )
    anomalies: list[Anomaly] | None = Field(
        None, description="With detect_anomalies: the flagged past readings, in time order"
    )
    set_aside: list[Anomaly] | None = Field(
        None,
        description='The gross faults fitted through as missing values ("outliers": '
        '"set_aside"), in time order; their posteriors are among imputed',
    )


class ForecastResultOut(BaseModel):
    series: list[SeriesForecast]


class ForecastRead(JobRead):
    result: ForecastResultOut | None = None

    def set_result(self, results: Sequence[ForecastResult]) -> None:
        self.result = ForecastResultOut.model_validate(
            {"series": [{"id": r.series_id, **r.payload} for r in results]}
        )


class ForecastInput(BaseModel):
    """What a forecast was asked of: the posted series (charts draw them as history)."""

    series: list[SeriesIn] = Field(description="As posted; empty for stream forecasts")
    on_grid: list[list[Value] | list[Row]] = Field(
        default_factory=list,
        description="Each series' values as the model saw them: on the grid of its "
        "timestamps (null in empty slots), else as posted",
    )
    grid_times: list[list[datetime] | None] = Field(
        default_factory=list, description="Each series' grid times (null without timestamps)"
    )


FORECAST_EXAMPLE: dict[str, Any] = {
    **JOB_EXAMPLE,
    "result": {
        "series": [
            {
                "id": "s1",
                "mean": [8.6, 9.1],
                "median": [8.6, 9.1],
                "std": [0.62, 0.81],
                "epistemic_std": [0.21, 0.33],
                "aleatoric_std": [0.58, 0.74],
                "intervals": {"80": {"lower": [7.8, 8.1], "upper": [9.4, 10.1]}},
                "quantiles": {"0.5": [8.6, 9.1]},
                "fitted": {"order": 2},
            }
        ]
    },
}
INPUT_EXAMPLE: dict[str, Any] = {
    "series": [{"id": "s1", "values": [1.2, 0.8], "timestamps": None}],
    "on_grid": [[1.2, 0.8]],
    "grid_times": [None],
}
