"""Plain-text tables for the terminal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kalmanac.results import SeriesForecast


def rows(headers: Sequence[str], data: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns, two spaces apart."""
    cells = [list(headers)] + [["" if v is None else str(v) for v in row] for row in data]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def forecast_table(forecast: SeriesForecast, fmt: str = "table") -> str:
    """time (or step), mean, the intervals by level, quantiles, epistemic and aleatoric
    std; `fmt` "csv" for a machine-readable version of the same."""
    frame = forecast.to_frame()
    keep = [c for c in frame.columns if not c.split(":")[0].startswith(("median", "std"))]
    ordered = [c for c in keep if not c.split(":")[0].endswith("_std")] + [
        c for c in keep if c.split(":")[0].endswith("_std")
    ]
    frame = frame[ordered]
    if fmt == "csv":
        return str(frame.to_csv())
    return str(frame.to_string(float_format=lambda x: f"{x:.4f}"))
