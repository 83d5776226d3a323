"""Reading series and observations from CSV or Parquet files (or CSV on stdin)."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

from kalmanac.series import is_long_frame, pandas

TIME_NAMES = ("time", "timestamp", "date", "datetime", "ds")
PARQUET = (".parquet", ".pq")


class InputError(ValueError):
    """A file the CLI cannot use; the message says why."""


def read_frame(path: str, header: bool = True) -> Any:
    pd = pandas()
    if path == "-":
        return pd.read_csv(io.StringIO(sys.stdin.read()), header=0 if header else None)
    p = Path(path)
    if not p.exists():
        raise InputError(f"{path}: no such file")
    if p.suffix.lower() in PARQUET:
        return pd.read_parquet(p)
    return pd.read_csv(p, header=0 if header else None)


def _time_column(frame: Any, name: str | None) -> str | None:
    if name is not None:
        if name not in frame.columns:
            raise InputError(f"--time-column {name!r}: not a column ({', '.join(frame.columns)})")
        return name
    for column in frame.columns:
        if str(column).lower() in TIME_NAMES:
            return str(column)
    first = frame.columns[0] if len(frame.columns) else None
    if first is not None and frame[first].dtype == object:
        return str(first)  # text in the first column: times, or an error naming it below
    return None


def read_series(path: str, time_column: str | None = None, columns: list[str] | None = None) -> Any:
    """A Series (one value column) or DataFrame (several), indexed by the times when the
    file has a time column (or a Parquet DatetimeIndex); a file with unique_id, ds and y
    columns is returned as it is (long format, the statsforecast shape). Empty cells are
    missing values (NaN)."""
    pd = pandas()
    frame = read_frame(path)
    if is_long_frame(frame):
        return frame  # long format: one series per unique_id, other columns covariates
    tcol = _time_column(frame, time_column)
    if tcol is not None:
        try:
            times = pd.to_datetime(frame[tcol])
        except (ValueError, TypeError) as exc:
            raise InputError(f"{path}: column {tcol!r} does not hold times ({exc})") from exc
        frame = frame.drop(columns=[tcol]).set_index(pd.DatetimeIndex(times, name=tcol))
    if columns:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise InputError(f"{path}: no column {', '.join(missing)}")
        frame = frame[columns]
    else:
        frame = frame.select_dtypes("number")
    if frame.shape[1] == 0 or len(frame) == 0:
        raise InputError(f"{path}: no numeric value column to forecast")
    return frame.iloc[:, 0] if frame.shape[1] == 1 else frame


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_observations(path: str, with_seq: bool = False) -> Any:
    """Observations as a DataFrame (`seq`?, `t`, values). A CSV with a header names its
    columns (`seq` optional, `t` required); without one the columns are `t, v0, v1, ...`
    (`seq, t, v0, ...` with `with_seq`)."""
    pd = pandas()
    if path != "-" and Path(path).suffix.lower() in PARQUET:
        frame = read_frame(path)
    else:
        text = sys.stdin.read() if path == "-" else _read_text(path)
        first = text.split("\n", 1)[0].split(",")
        headless = all(_is_number(x) for x in first if x.strip())
        frame = pd.read_csv(io.StringIO(text), header=None if headless else 0)
        if headless:
            lead = ["seq", "t"] if with_seq else ["t"]
            names = lead + [f"v{i}" for i in range(frame.shape[1] - len(lead))]
            frame.columns = names
    if "t" not in frame.columns:
        raise InputError(
            f"{path}: observations need a `t` column (header: seq,t,v0,... or t,v0,...)"
        )
    return frame


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text()
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file") from exc
