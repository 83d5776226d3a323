"""A posted series as the models see it: on the grid of its timestamps, when it has them.

Used at submission (the API checks lengths, limits and refusals on the gridded series) and on
workers (which fit it); pure Python, so the API process stays free of numerics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.services.errors import InputError
from models.forecasting.registry import AUTO, KINDS, kind_info
from models.timegrid import Gridded, calendar_columns, grid_posted


def gridded(s: dict[str, Any]) -> Gridded | None:
    """The series on its grid, or None without timestamps. ValueError when its timestamps
    cannot be gridded (two values in one slot, a step that cannot be inferred)."""
    if not s.get("timestamps"):
        return None
    return grid_posted(
        s["values"], s["timestamps"], s.get("freq"), s.get("timezone"), s.get("aggregate")
    )


def values_of(s: dict[str, Any]) -> list[Any]:
    """The values the models see: gridded (None in empty slots) or as posted."""
    grid = gridded(s)
    return list(grid.values) if grid else list(s["values"])


def as_modelled(series: list[dict[str, Any]], max_length: int) -> list[dict[str, Any]]:
    """Each series with the values the models will see, for the checks at submission: an
    InputError names a series whose timestamps cannot be gridded or whose grid is too long."""
    out = []
    for i, s in enumerate(series):
        try:
            grid = gridded(s)
        except ValueError as exc:
            raise InputError(f"series.{i}.timestamps", str(exc)) from None
        if grid is not None and len(grid.times) > max_length:
            raise InputError(
                f"series.{i}.timestamps",
                f"they span {len(grid.times)} steps of {grid.grid.freq.label}; the limit is "
                f"{max_length} (give a coarser freq, or aggregate)",
            )
        out.append({**s, "values": list(grid.values) if grid else s["values"]})
    return out


@dataclass(frozen=True)
class Drivers:
    """A series' covariates and calendar terms as columns: `history` (T rows, None where a
    driver is unknown), `future` (horizon rows; None when a covariate has no future); the
    first `measured` columns are the posted covariates (readings, which can be faulty), the
    rest calendar terms."""

    names: list[str]
    history: list[list[float | None]]
    future: list[list[float]] | None
    measured: int


def drivers(s: dict[str, Any], grid: Gridded | None, horizon: int) -> Drivers | None:
    """The drivers of a posted series on its grid, or None when it has none."""
    covariates, calendar = s.get("covariates") or {}, s.get("calendar") or []
    if not covariates and not calendar:
        return None
    columns: dict[str, list[Any]] = {}
    future: dict[str, list[float] | None] = {}
    for name, cov in covariates.items():
        values = cov["values"]
        if grid is not None:
            regridded = grid_posted(
                values, s["timestamps"], grid.grid.freq.label, s.get("timezone"), s.get("aggregate")
            )
            values = list(regridded.values)
        columns[name], future[name] = values, cov.get("future")
    if calendar and grid is not None:
        columns |= calendar_columns(grid.times, calendar)
        future |= calendar_columns(grid.after(horizon), calendar)
    names = list(columns)
    history = [list(row) for row in zip(*(columns[n] for n in names), strict=True)]
    ahead = None
    if all(future[n] is not None for n in names):
        ahead = [list(row) for row in zip(*(future[n] or [] for n in names), strict=True)]
    return Drivers(names, history, ahead, len(covariates))


def check_drivers(series: list[dict[str, Any]], horizon: int) -> None:
    """InputError naming a covariate whose future is missing or not `horizon` long."""
    for i, s in enumerate(series):
        for name, cov in (s.get("covariates") or {}).items():
            where = f"series.{i}.covariates.{name}.future"
            future = cov.get("future")
            if future is None:
                raise InputError(where, f"missing: a forecast needs the next {horizon} values")
            if len(future) != horizon:
                raise InputError(where, f"{len(future)} values; the horizon is {horizon}")


def driver_names(s: dict[str, Any]) -> list[str]:
    """What a series' drivers are called: its covariates, then calendar:<term>."""
    return [*(s.get("covariates") or {}), *(f"calendar:{t}" for t in s.get("calendar") or [])]


def check_kind_takes_drivers(series: list[dict[str, Any]], model: dict[str, Any]) -> None:
    """InputError when a series has drivers and the model's kind (or every candidate of
    auto's) cannot take them; a stored version is checked against the version instead."""
    kind = model.get("kind")
    if kind is None or not any(driver_names(s) for s in series):
        return
    takers = ", ".join(k.name for k in KINDS if k.covariates)
    if kind == AUTO:
        kinds = model.get("params", {}).get("candidates")
        if kinds and not any(kind_info(k).covariates for k in kinds):
            raise InputError("model.params.candidates", f"none takes covariates; {takers} do")
    elif not kind_info(kind).covariates:
        raise InputError("model.kind", f"{kind} takes no covariates; {takers} and auto do")


def check_version_drivers(series: list[dict[str, Any]], trained_with: list[str]) -> None:
    """InputError unless every series has the drivers a stored version was trained with."""
    for i, s in enumerate(series):
        if driver_names(s) != trained_with:
            raise InputError(
                f"series.{i}.covariates",
                f"this version was trained with drivers {trained_with or 'none'}; the series "
                f"has {driver_names(s) or 'none'}",
            )
