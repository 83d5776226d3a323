"""A posted series as the models see it: on the grid of its timestamps, when it has them.

Used at submission (the API checks lengths, limits and refusals on the gridded series) and on
workers (which fit it); pure Python, so the API process stays free of numerics.
"""

from __future__ import annotations

from typing import Any

from app.services.errors import InputError
from models.timegrid import Gridded, grid_posted


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
