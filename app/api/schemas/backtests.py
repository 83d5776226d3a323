"""Backtest (rolling-origin evaluation) schemas."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field, StrictInt

from app.api.schemas.common import FiniteFloat, Outliers, StrictModel, default_levels
from app.api.schemas.forecasts import Level
from app.api.schemas.jobs import JOB_EXAMPLE, JobRead
from app.api.schemas.model_specs import ConcreteSpec, DefaultSpec
from app.api.schemas.series import SeriesIn
from app.db.tables import ForecastResult
from models.forecasting.registry import DEFAULT_KIND


class BacktestCreate(StrictModel):
    series: list[SeriesIn] = Field(min_length=1)
    model: ConcreteSpec = Field(
        default_factory=DefaultSpec, description="A kind (not auto): refitted at every origin"
    )
    horizon: StrictInt = Field(ge=1)
    folds: StrictInt = Field(5, ge=1, le=100, description="Rolling origins, `horizon` apart")
    levels: list[Level] = Field(default_factory=default_levels, max_length=20)
    num_samples: StrictInt = Field(500, ge=10)
    seed: StrictInt = Field(0, ge=0, lt=2**31)
    outliers: Outliers = "set_aside"
    lyapunov_time: FiniteFloat | None = Field(
        None, gt=0, description="Reports valid prediction time in Lyapunov times when given"
    )
    dt: FiniteFloat = Field(1.0, gt=0, description="Time between samples (for the VPT)")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "series": [{"id": "s1", "values": [float((i * 7) % 13) for i in range(200)]}],
                    "model": {"kind": DEFAULT_KIND},
                    "horizon": 10,
                    "folds": 5,
                    "levels": [80, 95],
                }
            ]
        }
    }


class SeriesBacktest(BaseModel):
    id: str
    metrics: dict[str, Any] = Field(
        description="overall and per-horizon CRPS, MASE, sMAPE (0-200), coverage and Winkler "
        "score per level, and VPT in Lyapunov times when requested"
    )


class BacktestResultOut(BaseModel):
    series: list[SeriesBacktest]


class BacktestRead(JobRead):
    result: BacktestResultOut | None = None

    def set_result(self, results: Sequence[ForecastResult]) -> None:
        self.result = BacktestResultOut.model_validate(
            {"series": [{"id": r.series_id, "metrics": r.payload} for r in results]}
        )


BACKTEST_EXAMPLE: dict[str, Any] = {
    **JOB_EXAMPLE,
    "kind": "backtest",
    "result": {
        "series": [
            {
                "id": "s1",
                "metrics": {
                    "overall": {
                        "crps": 0.41,
                        "mase": 0.83,
                        "smape": 21.0,
                        "coverage": {"80": 0.79, "95": 0.94},
                    },
                    "per_horizon": {"crps": [0.3, 0.45]},
                },
            }
        ]
    },
}
