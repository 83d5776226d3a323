"""A stream's configuration, typed: parsed once from the stored JSON (the v1 shape, with the
stored versions it uses pinned at creation) and passed down as frozen dataclasses, so nothing
below reads the JSON by string keys."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class VersionRef:
    """A stored model version pinned by a stream (the alias it was asked by stays on record
    in the JSON)."""

    name: str
    version: int
    version_id: str

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> VersionRef:
        return cls(str(d["name"]), int(d["version"]), str(d["version_id"]))

    @property
    def label(self) -> str:
        return f"model {self.name!r} version {self.version}"


@dataclass(frozen=True)
class SystemDynamics:
    """A simulated system (`models.dynamics.make_dynamics`) integrated in steps of dt."""

    system: str
    params: Mapping[str, Any]
    dt: float


@dataclass(frozen=True)
class SurrogateDynamics:
    """A stored forecaster stepping its window of `lags` values of a `dim`-dimensional series;
    time counts series steps (dt = 1)."""

    model: VersionRef
    lags: int
    dim: int
    dt: float = 1.0


@dataclass(frozen=True)
class ObservationSettings:
    indices: tuple[int, ...] | None  # None observes every component
    noise_std: float


@dataclass(frozen=True)
class FilterSettings:
    """The EnKF family's hyperparameters, or (method "observer") a trained observer."""

    method: str
    ensemble_size: int
    inflation: float | str
    localization_radius: float | None
    rotate: bool
    observer: VersionRef | None


@dataclass(frozen=True)
class InitialState:
    mean: tuple[float, ...] | None
    std: float
    series: tuple[Any, ...] | None  # a surrogate's window: numbers, or rows of d
    first_index: int = 0  # where `series` starts in the series as posted


@dataclass(frozen=True)
class StreamConfig:
    dynamics: SystemDynamics | SurrogateDynamics
    observation: ObservationSettings
    filter: FilterSettings
    initial: InitialState
    t0: float
    seed: int
    gap_timeout_s: float
    qc_gate: float | None = None  # the background check's gate; None: off

    @property
    def surrogate(self) -> bool:
        return isinstance(self.dynamics, SurrogateDynamics)

    @classmethod
    def parse(cls, c: Mapping[str, Any]) -> StreamConfig:
        dyn, obs, flt, init = c["dynamics"], c["observation"], c["filter"], c["initial"]
        dynamics: SystemDynamics | SurrogateDynamics
        if "model" in dyn:
            m = dyn["model"]
            dynamics = SurrogateDynamics(VersionRef.parse(m), int(m["lags"]), int(m["dim"]))
        else:
            dynamics = SystemDynamics(str(dyn["system"]), dict(dyn["params"]), float(dyn["dt"]))
        indices = obs["indices"]
        return cls(
            dynamics=dynamics,
            observation=ObservationSettings(
                None if indices is None else tuple(int(i) for i in indices),
                float(obs["noise_std"]),
            ),
            filter=FilterSettings(
                method=str(flt["method"]),
                ensemble_size=int(flt["ensemble_size"]),
                inflation=flt["inflation"],
                localization_radius=flt["localization_radius"],
                rotate=bool(flt["rotate"]),
                observer=None if flt.get("model") is None else VersionRef.parse(flt["model"]),
            ),
            initial=InitialState(
                None if init["mean"] is None else tuple(init["mean"]),
                float(init["std"]),
                None if init.get("series") is None else tuple(init["series"]),
                int(init.get("first_index", 0)),
            ),
            t0=float(c["t0"]),
            seed=int(c["seed"]),
            gap_timeout_s=float(c["gap_timeout_s"]),
            # Streams created before quality control have no "qc": they run without it.
            qc_gate=None if c.get("qc") is None else c["qc"].get("gate"),
        )
