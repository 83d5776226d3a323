"""Client-side inputs: numbers, numpy arrays and pandas objects to the request payloads.

pandas is optional: it is imported only when a pandas object is passed in (so it is
already loaded) or a DataFrame is asked for; numpy arrays and lists always work.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

PANDAS_HINT = "pandas is needed for this; install it with `pip install 'kalmanac[client]'`"


def pandas() -> Any:
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError(PANDAS_HINT) from exc
    return pd


def is_pandas(obj: object, kind: str) -> bool:
    """Is `obj` a pandas `kind` ("Series", "DataFrame")? Never imports pandas itself: if the
    object is one, pandas is already in sys.modules."""
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(obj, getattr(pd, kind))


@dataclass(frozen=True)
class SeriesInput:
    """One series as sent: the payload, and what is needed to label the answer."""

    id: str
    values: np.ndarray  # (T,) or (T, d); NaN: missing
    timestamps: list[str] | None
    columns: tuple[str, ...] | None  # component names of a multivariate series
    covariates: dict[str, dict[str, Any]] | None = None  # name -> {"values", "future"}

    def payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "values": json_values(self.values)}
        if self.timestamps is not None:
            out["timestamps"] = self.timestamps
        if self.covariates:
            out["covariates"] = self.covariates
        return out


def json_values(values: np.ndarray) -> list[Any]:
    """Numbers as JSON lists, NaN (a missing value) as null."""
    cells: list[Any] = _nulled(values.astype(object).tolist())
    return cells


def _nulled(cells: Any) -> Any:
    if isinstance(cells, list):
        return [_nulled(c) for c in cells]
    return None if cells != cells else cells  # NaN is the only value unequal to itself


def _finite(id: str, values: np.ndarray) -> np.ndarray:
    # NaN is a missing value (sent as null); infinity is refused, and saying so here names
    # the position instead of failing to encode the JSON.
    bad = np.argwhere(np.isinf(values))
    if bad.size:
        where = ", ".join(str(int(i)) for i in bad[0])
        raise ValueError(
            f"series {id!r}: value at position {where} is {values[tuple(bad[0])]!r}; "
            "the service refuses infinity (NaN or None marks a missing value)"
        )
    return values


def _timestamps(index: Any) -> list[str] | None:
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(index, pd.DatetimeIndex):
        return [t.isoformat() for t in index]
    return None


def to_series(data: Any, id: str | None = None) -> SeriesInput:
    """A list, a 1-D or 2-D array (T x d), a pandas Series or DataFrame (one column:
    univariate; several: one multivariate series). A DatetimeIndex becomes the timestamps."""
    if is_pandas(data, "Series"):
        name = id or (str(data.name) if data.name is not None else "y")
        values = np.asarray(data.to_numpy(dtype=float))
        return SeriesInput(name, _finite(name, values), _timestamps(data.index), None)
    if is_pandas(data, "DataFrame"):
        name = id or "y"
        data = _times_as_index(data, name)
        values = np.asarray(data.to_numpy(dtype=float))
        columns = tuple(str(c) for c in data.columns)
        if values.shape[1] == 1:
            values, columns = values[:, 0], None  # type: ignore[assignment]  # a 1-D view of one column
        return SeriesInput(name, _finite(name, values), _timestamps(data.index), columns or None)
    name = id or "y"
    try:
        values = np.asarray(data, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"series {name!r}: expected numbers, a 1-D/2-D array, a pandas Series or "
            f"DataFrame; got {type(data).__name__} ({exc})"
        ) from exc
    if values.ndim not in (1, 2):
        raise ValueError(f"series {name!r}: expected 1-D or 2-D values, got shape {values.shape}")
    return SeriesInput(name, _finite(name, values), None, None)


def _times_as_index(df: Any, name: str) -> Any:
    """df with its one column of datetimes as the index (a frame read from a CSV keeps its
    time column as a column; its datetimes were sent as a dimension of nanosecond
    numbers); a column that is neither numbers nor the times is a TypeError naming it."""
    pd = pandas()
    times = [c for c in df.columns if pd.api.types.is_datetime64_any_dtype(df[c])]
    if len(times) == 1 and not isinstance(df.index, pd.DatetimeIndex):
        df = df.set_index(times[0])
    elif times:
        raise TypeError(f"series {name!r}: columns {times} hold times; only the index may")
    other = [str(c) for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    if other:
        raise TypeError(
            f"series {name!r}: column(s) {', '.join(other)} are not numbers (times: convert "
            "them with pd.to_datetime, or set them as the index)"
        )
    return df


LONG_COLUMNS = ("unique_id", "ds", "y")


def is_long_frame(data: Any) -> bool:
    """A long-format DataFrame (statsforecast's shape): unique_id, ds, y, covariates..."""
    return is_pandas(data, "DataFrame") and all(c in data.columns for c in LONG_COLUMNS)


def from_long_frame(df: Any, X_df: Any = None) -> list[SeriesInput]:
    """One series per unique_id (in order of appearance), sorted by ds; every other numeric
    column is a covariate, whose future comes from X_df (unique_id, ds, the same columns)."""
    pd = pandas()
    names = [c for c in df.columns if c not in LONG_COLUMNS]
    if X_df is not None:
        absent = [c for c in (*names, "unique_id", "ds") if c not in X_df.columns]
        if absent:
            raise ValueError(f"X_df has no column {', '.join(map(str, absent))}")
    out = []
    for uid, part in df.groupby("unique_id", sort=False):
        part = part.assign(ds=pd.to_datetime(part["ds"])).sort_values("ds")  # text sorts wrong
        times = pd.DatetimeIndex(part["ds"])
        future = None
        if X_df is not None:
            future = X_df[X_df["unique_id"] == uid]
            future = future.assign(ds=pd.to_datetime(future["ds"])).sort_values("ds")
        covariates = {
            str(c): {
                "values": json_values(part[c].to_numpy(dtype=float)),
                **(
                    {"future": future[c].to_numpy(dtype=float).tolist()}
                    if future is not None
                    else {}
                ),
            }
            for c in names
        }
        values = _finite(str(uid), part["y"].to_numpy(dtype=float))
        out.append(SeriesInput(str(uid), values, _timestamps(times), None, covariates or None))
    return out


def to_series_list(data: Any, X_df: Any = None) -> list[SeriesInput]:
    """One series, a mapping of id to series for several at once, or a long-format
    DataFrame (unique_id, ds, y and covariate columns; X_df holds the covariates' future)."""
    if is_long_frame(data):
        return from_long_frame(data, X_df)
    if X_df is not None:
        raise ValueError("X_df goes with a long-format DataFrame (unique_id, ds, y, ...)")
    if isinstance(data, Mapping):
        return [to_series(v, str(k)) for k, v in data.items()]
    return [to_series(data)]


def to_observations(
    data: Any, t: Sequence[float] | np.ndarray | None = None, start_seq: int | None = None
) -> list[dict[str, Any]]:
    """Observations `{"seq", "t", "values"}` from a DataFrame (columns `seq` (optional),
    `t` and the values, or `t` as the index), an array of rows with `t`, or dicts as sent.
    Missing seqs are numbered from `start_seq`."""
    if isinstance(data, Sequence) and data and isinstance(data[0], Mapping):
        return [dict(o) for o in data]
    seqs: np.ndarray | None = None
    if is_pandas(data, "DataFrame"):
        frame = data if "t" in data.columns else data.reset_index()
        if "t" not in frame.columns:
            raise ValueError("observations: a DataFrame needs a `t` column (or index named t)")
        if "seq" in frame.columns:
            seqs = frame["seq"].to_numpy(dtype=np.int64)
        times = frame["t"].to_numpy(dtype=float)
        values = frame.drop(columns=[c for c in ("seq", "t") if c in frame.columns])
        rows = _finite("observations", values.to_numpy(dtype=float))
    else:
        rows = _finite("observations", np.atleast_2d(np.asarray(data, dtype=float)))
        if t is None:
            raise ValueError("observations: give the times `t`, one per row")
        times = np.asarray(t, dtype=float)
    if len(times) != len(rows):
        raise ValueError(f"observations: {len(times)} times for {len(rows)} rows")
    if seqs is None:
        if start_seq is None:
            raise ValueError("observations: give `seq` per row or a `start_seq`")
        seqs = np.arange(start_seq, start_seq + len(rows))
    return [
        {"seq": int(s), "t": float(ti), "values": json_values(row)}
        for s, ti, row in zip(seqs, times, rows, strict=True)
    ]
