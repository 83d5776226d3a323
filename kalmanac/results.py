"""Typed results: jobs, forecasts, backtests, model versions, streams and analyses.

Numbers arrive as numpy arrays; `to_frame()` gives a pandas DataFrame (pandas optional)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Generic, TypeVar

import numpy as np

from kalmanac.series import pandas

T = TypeVar("T")
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
STATS = ("mean", "median", "std", "epistemic_std", "aleatoric_std")


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _array(value: Any) -> np.ndarray:
    return np.asarray(value, dtype=float)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True)
class Job:
    id: str
    kind: str
    status: str
    progress: float
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    error: dict[str, Any] | None
    model: dict[str, Any]
    queue: str
    seed: int
    attempts: int
    device: str | None
    worker: str | None
    code_version: str
    summary: dict[str, Any] | None = None  # a training's {"model", "version"}, durations
    eta_s: float | None = None  # seconds left while it runs, at its pace so far

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Job:
        return cls(
            id=d["id"],
            kind=d["kind"],
            status=d["status"],
            progress=float(d.get("progress") or 0.0),
            created_at=_time(d.get("created_at")),
            started_at=_time(d.get("started_at")),
            finished_at=_time(d.get("finished_at")),
            error=d.get("error"),
            model=d.get("model") or {},
            queue=d.get("queue", ""),
            seed=int(d.get("seed", 0)),
            attempts=int(d.get("attempts", 0)),
            device=d.get("device"),
            worker=d.get("worker"),
            code_version=d.get("code_version", ""),
            summary=d.get("summary"),
            eta_s=d.get("eta_s"),
        )


@dataclass(frozen=True)
class Interval:
    lower: np.ndarray
    upper: np.ndarray


def _intervals(d: dict[str, Any] | None) -> dict[str, Interval]:
    return {k: Interval(_array(v["lower"]), _array(v["upper"])) for k, v in (d or {}).items()}


@dataclass(frozen=True)
class SeriesForecast:
    """One series' forecast. Arrays are (horizon,) for a univariate series, (horizon, d)
    for a multivariate one; intervals and quantiles are keyed as the server keys them
    ("80", "0.1")."""

    id: str
    mean: np.ndarray
    median: np.ndarray
    std: np.ndarray
    epistemic_std: np.ndarray
    aleatoric_std: np.ndarray
    intervals: dict[str, Interval]
    quantiles: dict[str, np.ndarray]
    timestamps: list[datetime] | None = None
    times: np.ndarray | None = None  # stream forecasts: times in the stream's units
    calibrated_intervals: dict[str, Interval] | None = None
    samples: np.ndarray | None = None  # (num_samples, horizon[, d]) when requested
    fitted: dict[str, Any] = field(default_factory=dict)
    columns: tuple[str, ...] | None = None  # component names of a multivariate series
    imputed: list[dict[str, Any]] = field(default_factory=list)  # the inputs' missing values
    anomalies: list[dict[str, Any]] = field(default_factory=list)  # flagged past readings
    set_aside: list[dict[str, Any]] = field(default_factory=list)  # faults fitted as missing

    @classmethod
    def from_json(cls, d: dict[str, Any], columns: tuple[str, ...] | None = None) -> SeriesForecast:
        stamps = d.get("timestamps")
        return cls(
            id=d["id"],
            **{s: _array(d[s]) for s in STATS},
            intervals=_intervals(d.get("intervals")),
            quantiles={k: _array(v) for k, v in (d.get("quantiles") or {}).items()},
            timestamps=[datetime.fromisoformat(t) for t in stamps] if stamps else None,
            times=_array(d["times"]) if d.get("times") is not None else None,
            calibrated_intervals=(
                _intervals(d["calibrated_intervals"]) if d.get("calibrated_intervals") else None
            ),
            samples=_array(d["samples"]) if d.get("samples") is not None else None,
            fitted=d.get("fitted") or {},
            columns=columns,
            imputed=d.get("imputed") or [],
            anomalies=d.get("anomalies") or [],
            set_aside=d.get("set_aside") or [],
        )

    def columns_of(self) -> dict[str, np.ndarray]:
        """Flat named columns, in table order: the statistics, then the intervals by level,
        the conformal ones and the quantiles."""
        cols: dict[str, np.ndarray] = {s: getattr(self, s) for s in STATS}
        for level, iv in self.intervals.items():
            cols[f"lower_{level}"], cols[f"upper_{level}"] = iv.lower, iv.upper
        for level, iv in (self.calibrated_intervals or {}).items():
            cols[f"conformal_lower_{level}"] = iv.lower
            cols[f"conformal_upper_{level}"] = iv.upper
        for q, v in self.quantiles.items():
            cols[f"q{q}"] = v
        return cols

    def to_frame(self) -> Any:
        """A DataFrame with one row per step, indexed by the forecast timestamps (when the
        input had evenly spaced ones), the stream times, or the step number 1..h. A
        multivariate series has a column per statistic and component, `mean:<name>`."""
        pd = pandas()
        data: dict[str, np.ndarray] = {}
        for name, v in self.columns_of().items():
            if v.ndim == 1:
                data[name] = v
                continue
            labels = self.columns or tuple(str(i) for i in range(v.shape[1]))
            for j, label in enumerate(labels):
                data[f"{name}:{label}"] = v[:, j]
        if self.timestamps is not None:
            index = pd.DatetimeIndex(self.timestamps, name="time")
        elif self.times is not None:
            index = pd.Index(self.times, name="t")
        else:
            index = pd.RangeIndex(1, len(self.mean) + 1, name="step")
        return pd.DataFrame(data, index=index)

    def to_long_frame(self) -> Any:
        """Rows in statsforecast's long format: unique_id, ds (the forecast's timestamps, or
        the step 1..h), mean, median, lo-<level>/hi-<level> per level, the quantiles as
        q-<q>, std, epistemic_std, aleatoric_std (univariate series)."""
        pd = pandas()
        h = len(self.mean)
        ds = self.timestamps if self.timestamps is not None else list(range(1, h + 1))
        data: dict[str, Any] = {"unique_id": [self.id] * h, "ds": ds}
        data["mean"], data["median"] = self.mean, self.median
        for level, iv in self.intervals.items():
            data[f"lo-{level}"], data[f"hi-{level}"] = iv.lower, iv.upper
        for q, v in self.quantiles.items():
            data[f"q-{q}"] = v
        for s in ("std", "epistemic_std", "aleatoric_std"):
            data[s] = getattr(self, s)
        return pd.DataFrame(data)


@dataclass(frozen=True)
class Forecast:
    """A forecast job and, once it succeeded, one SeriesForecast per posted series. `long`:
    the input was a long-format DataFrame, so `to_frame()` answers in that shape."""

    job: Job
    series: dict[str, SeriesForecast]
    long: bool = False

    @property
    def id(self) -> str:
        return self.job.id

    def __getitem__(self, key: str | int) -> SeriesForecast:
        return list(self.series.values())[key] if isinstance(key, int) else self.series[key]

    def to_frame(self) -> Any:
        """One series: its frame; several: concatenated with the series id as outer index.
        After a long-format input: one long frame (unique_id, ds, mean, lo-80, ...)."""
        if self.long:
            return pandas().concat(
                [s.to_long_frame() for s in self.series.values()], ignore_index=True
            )
        frames = {k: v.to_frame() for k, v in self.series.items()}
        if len(frames) == 1:
            return next(iter(frames.values()))
        return pandas().concat(frames, names=["series"])

    @classmethod
    def from_json(
        cls,
        d: dict[str, Any],
        columns: dict[str, tuple[str, ...] | None] | None = None,
        long: bool = False,
    ) -> Forecast:
        result = d.get("result") or {"series": []}
        return cls(
            Job.from_json(d),
            {
                s["id"]: SeriesForecast.from_json(s, (columns or {}).get(s["id"]))
                for s in result["series"]
            },
            long,
        )


@dataclass(frozen=True)
class Backtest:
    """A backtest job and its metrics per series (overall and per horizon step)."""

    job: Job
    metrics: dict[str, dict[str, Any]]

    @property
    def id(self) -> str:
        return self.job.id

    def to_frame(self) -> Any:
        """Overall metrics, one row per series; per-level ones as `coverage_80`, ..."""
        rows = {}
        for sid, m in self.metrics.items():
            row: dict[str, Any] = {}
            for name, value in (m.get("overall") or {}).items():
                if isinstance(value, dict):
                    row.update({f"{name}_{k}": v for k, v in value.items()})
                else:
                    row[name] = value
            rows[sid] = row
        return pandas().DataFrame.from_dict(rows, orient="index").rename_axis("series")

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Backtest:
        result = d.get("result") or {"series": []}
        return cls(Job.from_json(d), {s["id"]: s["metrics"] for s in result["series"]})


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: int
    kind: str
    params: dict[str, Any]
    data_fingerprint: str
    metrics: dict[str, Any]
    code_version: str
    parent_version: int | None
    job_id: str | None
    artifact_bytes: int
    aliases: list[str]
    created_at: datetime | None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ModelVersion:
        return cls(**{**d, "created_at": _time(d.get("created_at"))})


@dataclass(frozen=True)
class Model:
    name: str
    latest_version: int
    aliases: dict[str, int]
    versions: list[ModelVersion]

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Model:
        versions = [ModelVersion.from_json(v) for v in d.get("versions") or []]
        return cls(d["name"], d["latest_version"], d.get("aliases") or {}, versions)


@dataclass(frozen=True)
class Stream:
    id: str
    name: str | None
    status: str
    t: float
    last_seq: int
    n_assimilated: int
    n_skipped: int
    pending: int
    mean: np.ndarray | None
    spread: np.ndarray | None
    config: dict[str, Any]
    seed: int
    created_at: datetime | None
    updated_at: datetime | None
    closed_at: datetime | None
    gaps: list[dict[str, int]]
    sensors: list[dict[str, Any]]  # {"index", "status", "rejection_rate", "bias", ...}
    # {"status": "ok" | "failing", "failing_since_seq", "consecutive_failures", "detail"}
    health: dict[str, Any] = field(default_factory=lambda: {"status": "ok"})

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Stream:
        known = {f.name for f in fields(cls)}  # fields the server adds later are skipped
        return cls(
            **{
                **{k: v for k, v in d.items() if k in known},
                "mean": _array(d["mean"]) if d.get("mean") is not None else None,
                "spread": _array(d["spread"]) if d.get("spread") is not None else None,
                "created_at": _time(d.get("created_at")),
                "updated_at": _time(d.get("updated_at")),
                "closed_at": _time(d.get("closed_at")),
                "gaps": d.get("gaps") or [],
                "sensors": d.get("sensors") or [],
                "health": d.get("health") or {"status": "ok"},
            }
        )


@dataclass(frozen=True)
class Pushed:
    accepted: int
    duplicates: int
    pending: int
    last_seq: int
    # {"index", "seq", "reason"} of each new observation that can never be assimilated
    rejected: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Analysis:
    seq: int
    t: float
    mean: np.ndarray
    spread: np.ndarray
    innovation_rms: float
    inflation: float | None = None
    rejected: list[int] = field(default_factory=list)  # components present but not used

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Analysis:
        return cls(
            int(d["seq"]),
            float(d["t"]),
            _array(d["mean"]),
            _array(d["spread"]),
            float(d["innovation_rms"]),
            d.get("inflation"),
            list(d.get("rejected") or []),
        )


@dataclass(frozen=True)
class Analyses:
    """Analyses in seq order: `mean` and `spread` are (n, state_dim) arrays."""

    items: list[Analysis]

    @property
    def seq(self) -> np.ndarray:
        return np.array([a.seq for a in self.items], dtype=np.int64)

    @property
    def t(self) -> np.ndarray:
        return np.array([a.t for a in self.items], dtype=float)

    @property
    def mean(self) -> np.ndarray:
        return np.array([a.mean for a in self.items], dtype=float)

    @property
    def spread(self) -> np.ndarray:
        return np.array([a.spread for a in self.items], dtype=float)

    def __len__(self) -> int:
        return len(self.items)

    def to_frame(self) -> Any:
        """Indexed by seq: t, mean_0.., spread_0.., innovation_rms, inflation."""
        pd = pandas()
        data: dict[str, Any] = {"t": self.t}
        for name, block in (("mean", self.mean), ("spread", self.spread)):
            for j in range(block.shape[1] if block.ndim == 2 else 0):
                data[f"{name}_{j}"] = block[:, j]
        data["innovation_rms"] = [a.innovation_rms for a in self.items]
        data["inflation"] = [a.inflation for a in self.items]
        return pd.DataFrame(data, index=pd.Index(self.seq, name="seq"))
