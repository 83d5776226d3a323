"""Streams whose dynamics is a stored forecaster (a learned surrogate), as the API sees them.

Imports no numerics: the window (p lags of a d-dimensional series) is read from what
training recorded about the version. The worker side is app.services.stream_runs.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.db.tables import ModelVersion
from app.services import model_versions
from app.services.errors import InputError
from models.forecasting.registry import KINDS

# The kinds with a one-step predictive a stream can step.
SURROGATE_KINDS = tuple(k.name for k in KINDS if k.surrogate)
# Observation times must sit on the stream's grid t0 + k (one unit per series step) to
# within this; the worker treats a leftover sliver of a step as none (surrogate._DT_TOL).
GRID_TOL = 1e-7
# Rows before the window that a stream keeps from initial.series: the window's readings are
# screened for gross faults against them, and its missing values drawn given them.
HISTORY = 100


def _resolve(session: Session, tenant_id: str, ref: dict[str, Any]) -> ModelVersion:
    version = model_versions.resolve_as(
        session,
        tenant_id,
        ref,
        "dynamics.model",
        SURROGATE_KINDS,
        f"a forecaster a stream can step ({', '.join(SURROGATE_KINDS)})",
    )
    what = f"model {version.name!r} version {version.version}"
    if version.params.get("trend") or version.params.get("fourier_order"):
        raise InputError(
            "dynamics.model",
            f"{what} has trend or Fourier terms, which depend on absolute time; a stream's "
            "dynamics must depend on the recent values only",
        )
    if version.metrics.get("drivers"):
        raise InputError(
            "dynamics.model",
            f"{what} was trained with drivers {version.metrics['drivers']}, whose future a "
            "stream does not have; train one without them to step it",
        )
    return version


def window_shape(version: ModelVersion) -> tuple[int, int]:
    """(p, d): the lags the version conditions on and the series dimension."""
    return int(version.metrics["min_context"]), int(version.metrics["fitted"]["dim"])


def _window(series: list[Any], p: int, d: int) -> dict[str, Any]:
    """initial.series cut to the model's window of p rows and the HISTORY rows before it,
    checked against the model's dimension, with `first_index`: where the cut starts in the
    posted series."""
    if len(series) < p:
        raise InputError(
            "initial.series", f"{len(series)} values; the model's window needs at least {p}"
        )
    start = max(0, len(series) - p - HISTORY)
    rows = [row if isinstance(row, list) else [row] for row in series[start:]]
    for i, row in enumerate(rows, start=start):
        if len(row) != d:
            raise InputError(
                f"initial.series.{i}", f"{len(row)} values; the model's series has d={d}"
            )
    need = max(p, 2)
    for j in range(d):
        seen = sum(row[j] is not None for row in rows)
        if seen < need:
            which = f" of component {j}" if d > 1 else ""
            raise InputError(
                "initial.series",
                f"{seen} observed values{which} in the last {len(rows)}; the model's window "
                f"needs at least {need}",
            )
    return {"series": rows, "first_index": start}


def pin(
    session: Session, tenant_id: str, config: dict[str, Any]
) -> tuple[dict[str, Any], int, int]:
    """(config, state_dim, obs_dim) of a surrogate stream: the model is pinned to the concrete
    version it resolves to now (a later alias move does not change a running stream) and
    initial.series is cut to the window the stream starts from and the history before it
    (`_window`)."""
    ref = config["dynamics"]["model"]
    version = _resolve(session, tenant_id, ref)
    p, d = window_shape(version)
    n = p * d
    indices = config["observation"]["indices"]
    if indices is not None and max(indices) >= d:
        raise InputError(
            "observation.indices",
            f"{max(indices)} is outside the series (d={d}): a model stream observes the "
            "components of the series' newest value",
        )
    initial = dict(config["initial"])
    if initial["mean"] is not None and len(initial["mean"]) != n:
        raise InputError(
            "initial.mean",
            f"{len(initial['mean'])} values; the state is the model's window of {p} x {d} = {n}",
        )
    if initial["series"] is not None:
        initial.update(_window(initial["series"], p, d))
    pinned = {
        **{k: v for k, v in ref.items() if v is not None},  # the alias asked for, on record
        "version": version.version,
        "version_id": version.id,
        "kind": version.kind,
        "lags": p,
        "dim": d,
    }
    dynamics = {"model": pinned, "dt": 1.0}
    obs_dim = d if indices is None else len(indices)
    return {**config, "dynamics": dynamics, "initial": initial}, n, obs_dim


def restart(given: dict[str, Any], p: int, d: int) -> dict[str, Any]:
    """The initial a model stream is reset to: the latest values, as initial.series (up to
    the stream's time; cut to the model's window) or a window's mean (and std), exactly one;
    the series the stream was opened with is up to t0, which it has moved past."""
    series, mean = given.get("series"), given.get("mean")
    if (series is None) == (mean is None):
        raise InputError(
            "initial",
            "a stream with model dynamics restarts from the latest values: give series (the "
            f"series up to the stream's time, at least the model's {p} values) or mean (a "
            "window), exactly one",
        )
    if series is not None:
        if "std" in given:
            raise InputError(
                "initial.std",
                "members start at the window of initial.series exactly; the forecaster "
                "supplies the spread",
            )
        return {"mean": None, "std": 1.0, **_window(series, p, d)}
    return {"mean": mean, "std": given.get("std", 1.0), "series": None}


def check_times(t0: float, observations: list[dict[str, Any]]) -> None:
    """A surrogate advances in whole series steps: each t must be t0 + k, k an integer."""
    for i, o in enumerate(observations):
        k = o["t"] - t0
        if abs(k - round(k)) > GRID_TOL:
            raise InputError(
                f"observations.{i}.t",
                f"{o['t']} is not a whole number of series steps after t0={t0:g} (a model "
                "stream's time counts series steps)",
            )
