"""Reading series and observations from CSV or Parquet files (or CSV on stdin)."""

from __future__ import annotations

import io
import re
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from kalmanac.series import is_long_frame, pandas

TIME_NAMES = ("time", "timestamp", "date", "datetime", "ds", "epoch", "unix")
PARQUET = (".parquet", ".pq")
DELIMITERS = (",", ";", "\t", "|")
# 12,5 or 1.234,5: a number written with a decimal comma (and dots between thousands)
DECIMAL_COMMA = re.compile(r"\s*[+-]?(\d{1,3}(\.\d{3})+|\d+),\d+\s*")
# 1,234.5 or 1,234,567: commas between thousands (a spreadsheet's US number format)
THOUSANDS_COMMA = re.compile(r"\s*[+-]?\d{1,3}(,\d{3})+(\.\d+)?\s*")
DOTTED_DATE = r"\s*\d{1,2}\.\d{1,2}\.\d{2,4}"  # 31.12.2026: day first
WITH_OFFSET = r".*\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|[+-]\d{2}:?\d{2})\s*"  # ...T13:00+02:00
CLOCK = r"\s*\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?(\s*[AaPp][Mm])?\s*"  # 13:30, 01:30:00 PM
# Unix times by their size: seconds below 1e11 (the year 5138), then ms, us (ns beyond)
UNIX_UNITS = (("s", 1e11), ("ms", 1e14), ("us", 1e17))
# A spreadsheet's dates as numbers (Excel, LibreOffice: 45993.5 is 2025-12-02 12:00), 1927 to
# 2173; as Unix seconds they would all fall on 1 and 2 January 1970
SERIAL_DAYS = (10_000.0, 100_000.0)


class InputError(ValueError):
    """A file the CLI cannot use; the message says why."""


def csv_dialect(text: str) -> dict[str, str]:
    """`read_csv`'s sep (and decimal) for a CSV export: the delimiter that the
    header has and that most of the first lines have as many times, and between those the
    one that splits them into more numbers; a decimal comma where that delimiter is not a
    comma and values are written like 12,5 (a spreadsheet's export in a European locale:
    `Zeit;Wert` / `01.04.2026 00:00;12,5`). Read with commas instead, such a file came out
    as its decimals, silently."""
    lines = [line for line in text.splitlines()[:50] if line.strip()]
    if not lines:
        return {"sep": ","}

    def fit(sep: str) -> tuple[float, float]:
        n = lines[0].count(sep)
        if not n:
            return 0.0, 0.0
        agree = sum(line.count(sep) == n for line in lines) / len(lines)
        fields = [f for line in lines for f in line.split(sep)]
        numbers = sum(_is_number(f) or bool(DECIMAL_COMMA.fullmatch(f)) for f in fields)
        return agree, numbers / len(fields)

    sep = max(DELIMITERS, key=fit)  # ties and a single column: the comma
    sep = sep if fit(sep)[0] > 0 else ","
    fields = (f for line in lines for f in line.split(sep))
    if sep != "," and any(DECIMAL_COMMA.fullmatch(f) for f in fields):
        # no thousands=".": it reads a date 01.04.2026 as the number 1042026; 1.234,5 is
        # left to `_numbers`
        return {"sep": sep, "decimal": ","}
    return {"sep": sep}


def read_csv_text(text: str, header: bool | None, source: str) -> Any:
    """The CSV `text` as a DataFrame, its dialect sniffed (`csv_dialect`) after the lines
    before the table (`_table_of`); header None: decided by whether the first line holds
    numbers only. A units row under the header (`,degC`) is left out and said so."""
    text = _table_of(text, source)
    dialect = csv_dialect(text)
    comma = dialect.get("decimal") == ","
    if header is None:
        first = text.split("\n", 1)[0].split(dialect["sep"])
        header = not all(
            _is_number(x.replace(",", ".") if comma else x) for x in first if x.strip()
        )
    if header:
        text = _without_units_row(text, dialect["sep"], comma, source)
    frame = pandas().read_csv(io.StringIO(text), header=0 if header else None, **dialect)
    if not isinstance(frame.index, pandas().RangeIndex):
        raise InputError(
            f"{source}: rows have more fields than the header's {frame.shape[1]} "
            f"(delimiter {dialect['sep']!r})"
        )
    return frame


def _table_of(text: str, source: str) -> str:
    """The text from the table's first line on. A logger's export often starts with lines
    about the device (`# Logger: HOBO U12`, `Serial: 123`, a blank line): leading blank
    lines, comments (#) and, when the table has columns, lines without its delimiter are
    skipped and named on stderr (pandas read them as a one-column header and failed),
    when what follows them is a header."""
    lines = text.splitlines(keepends=True)
    table = [line for line in lines[:200] if line.strip() and not line.startswith("#")]
    sep = csv_dialect("".join(table[-50:]))["sep"] if table else ","
    columns = bool(table) and all(sep in line for line in table[-50:])
    k = 0
    while k < len(lines) and (
        not lines[k].strip() or lines[k].startswith("#") or (columns and sep not in lines[k])
    ):
        k += 1
    header = lines[k].split(sep) if k < len(lines) else []
    if k and header and not all(_is_number(f.strip()) for f in header):  # a header follows
        shown = ", ".join(repr(line.strip()) for line in lines[:k] if line.strip())
        print(f"{source}: {k} line(s) before the table skipped: {shown}", file=sys.stderr)
        return "".join(lines[k:])
    return text


def _without_units_row(text: str, sep: str, comma: bool, source: str) -> str:
    """The text without a units row right under the header (`,degC`, `s;°C`): a row with
    no number and no time in it, named on stderr (its empty time cell was sent as a time
    and refused, and its units read as a missing value)."""
    head, _, rest = text.partition("\n")
    row, _, body = rest.partition("\n")
    cells = [c.strip() for c in row.split(sep) if c.strip()]
    if not body.strip() or any(_is_number(c.replace(",", ".") if comma else c) for c in cells):
        return text
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "could not infer format"
        times = pandas().to_datetime(pandas().Series(cells, dtype=object), errors="coerce")
    if times.notna().any():
        return text
    print(f"{source}: row 1 {row.strip()!r} has no number and no time (units?): left out",
          file=sys.stderr)  # fmt: skip
    return f"{head}\n{body}"


def read_frame(path: str, header: bool = True) -> Any:
    if path != "-" and Path(path).suffix.lower() in PARQUET:
        if not Path(path).exists():
            raise InputError(f"{path}: no such file")
        return pandas().read_parquet(path)
    text = sys.stdin.read() if path == "-" else _read_text(path)
    return read_csv_text(text, header, path)


def parse_times(column: Any, source: str) -> Any:
    """A DatetimeIndex of a column of times. Numbers are Unix times, in seconds, ms, us or
    ns by their size (pandas alone reads every number as ns, so seconds came out as times
    in 1970 a few ns apart). Of text, month-first and day-first readings are both tried and
    the one that runs forward most regularly is kept: pandas alone reads 01.04.2026 as 4
    January (month first) unless told, and a day-first export then came out as times
    jumping a month between days. Where both run alike (a few times), dotted dates are
    read day-first, as they are written (31.12.2026), and others month-first. Eight-digit
    integers that read as dates (20260401) are dates, and numbers from 10 000 to 100 000
    are a spreadsheet's day numbers."""
    pd = pandas()
    if pd.api.types.is_integer_dtype(column) and column.between(10**7, 10**8 - 1).all():
        try:
            return pd.DatetimeIndex(pd.to_datetime(column.astype(str), format="%Y%m%d"))
        except ValueError:
            pass  # not dates: Unix seconds (early 1970), read below
    if pd.api.types.is_numeric_dtype(column):
        days = column.to_numpy(dtype=float)
        if np.nanmin(days, initial=np.inf) >= SERIAL_DAYS[0] and np.nanmax(days) < SERIAL_DAYS[1]:
            print(f"{source}: column {column.name!r} read as spreadsheet day numbers "
                  f"(days since 1899-12-30)", file=sys.stderr)  # fmt: skip
            return pd.DatetimeIndex(pd.to_datetime(column, unit="D", origin="1899-12-30"))
        largest = float(np.nanmax(np.abs(column.to_numpy(dtype=float)), initial=0.0))
        unit = next((u for u, top in UNIX_UNITS if largest < top), "ns")
        return pd.DatetimeIndex(pd.to_datetime(column, unit=unit))
    readings, error = [], None
    dotted = bool(column.astype("string").str.match(DOTTED_DATE).fillna(False).any())
    # Local times written with their offset change it at a DST switch (+01:00, then +02:00):
    # one time zone cannot hold them, UTC can.
    offsets = bool(column.dropna().astype("string").str.fullmatch(WITH_OFFSET).all())
    for dayfirst in (True, False) if dotted else (False, True):  # ties: the first
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "parsing dates in ... format"
            warnings.simplefilter("ignore", FutureWarning)  # "... mixed time zones ..."
            try:
                readings.append(pd.DatetimeIndex(pd.to_datetime(column, dayfirst=dayfirst)))
            except (ValueError, TypeError) as exc:
                error = exc
                if offsets:
                    readings.append(pd.DatetimeIndex(pd.to_datetime(column, utc=True)))
    if not readings:
        raise InputError(f"{source}: column {column.name!r} does not hold times ({error})")
    return min(readings, key=_disorder)


def _disorder(times: Any) -> tuple[float, float]:
    """(share of steps backwards, spread of the steps / their median): smaller is a time
    axis that runs forward more regularly."""
    steps = np.diff(times.dropna().asi8).astype(np.float64)
    if steps.size == 0:
        return 0.0, 0.0
    return float(np.mean(steps < 0)), float(np.std(steps) / max(abs(np.median(steps)), 1.0))


def _time_column(frame: Any, name: str | None) -> str | None:
    """The column of times: `name`, else one named as times (`time`, `ds`, ...), else a text
    column whose name says date or time (a logger's `Date Time, GMT+01:00`), else a first
    column of text."""
    if name is not None:
        if name not in frame.columns:
            raise InputError(f"--time-column {name!r}: not a column ({', '.join(frame.columns)})")
        return name
    for column in frame.columns:
        if str(column).lower() in TIME_NAMES:
            return str(column)
    for column in frame.columns:
        said = any(word in str(column).lower() for word in ("date", "time"))
        if said and frame[column].dtype == object:
            return str(column)
    first = frame.columns[0] if len(frame.columns) else None
    if first is not None and frame[first].dtype == object:
        return str(first)  # text in the first column: times, or an error naming it below
    return None


def read_series(path: str, time_column: str | None = None, columns: list[str] | None = None) -> Any:
    """A Series (one value column) or DataFrame (several), indexed by the times when the
    file has a time column (or a Parquet DatetimeIndex); a file with unique_id, ds and y
    columns is returned as long format (the statsforecast shape). Empty cells are missing
    values (NaN), and so are cells of a value column that are not numbers (a logger's ERR
    or --), each named on stderr; a column of text is left out (or, named in `columns`,
    refused) and said so, never dropped in silence."""
    pd = pandas()
    frame = _without_row_numbers(read_frame(path), path)
    if is_long_frame(frame):  # long format: one series per unique_id, other columns covariates
        return _long_columns(frame, path)
    tcol = _time_column(frame, time_column)
    if tcol is not None:
        frame = _with_clock_times(frame, tcol, path)
        times = parse_times(frame[tcol], path)
        frame = frame.drop(columns=[tcol]).set_index(pd.DatetimeIndex(times, name=tcol))
    if columns:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise InputError(f"{path}: no column {', '.join(missing)}")
    numbers = {c: _numbers(frame[c], path, required=bool(columns)) for c in columns or frame}
    frame = pd.DataFrame({c: v for c, v in numbers.items() if v is not None}, index=frame.index)
    if frame.shape[1] == 0 or len(frame) == 0:
        raise InputError(f"{path}: no numeric value column to forecast")
    return frame.iloc[:, 0] if frame.shape[1] == 1 else frame


def _without_row_numbers(frame: Any, path: str) -> Any:
    """The frame without a column that numbers its rows (`#`, `No.`, pandas' `Unnamed: 0`,
    `index`: 1, 2, 3, ... or 0, 1, 2, ...), which is not a series to forecast; said on
    stderr."""
    for column in list(frame.columns):
        name = str(column).strip().lower().rstrip(".")
        if name not in ("", "#", "no", "nr", "index", "row") and not name.startswith("unnamed"):
            continue
        values = frame[column]
        if not (pandas().api.types.is_integer_dtype(values) and len(values)):
            continue
        start = int(values.iloc[0])
        if start in (0, 1) and (values.to_numpy() == np.arange(start, start + len(values))).all():
            print(f"{path}: column {column!r} numbers the rows: left out", file=sys.stderr)
            frame = frame.drop(columns=[column])
    return frame


def _with_clock_times(frame: Any, tcol: str, path: str) -> Any:
    """The frame with its dates completed by a separate column of clock times (`Date`,
    `Time`: 2026-11-01, 13:30), which is then dropped; said on stderr. Read from the dates
    alone, the readings of a day fell in one slot."""
    dates = frame[tcol].astype("string")
    if frame[tcol].dtype != object or dates.str.contains(":").fillna(False).any():
        return frame
    for column in frame.columns:
        cells = frame[column].astype("string")
        if column != tcol and frame[column].dtype == object and cells.str.fullmatch(CLOCK).all():
            print(f"{path}: times are column {tcol!r} and column {column!r}", file=sys.stderr)
            joined = dates.str.strip() + " " + cells.str.strip()
            return frame.drop(columns=[column]).assign(**{tcol: joined.astype(object)})
    return frame


def read_future(path: str) -> Any:
    """The drivers' future of a long-format forecast (unique_id, ds, covariates), read as
    the history is."""
    frame = _without_row_numbers(read_frame(path), path)
    absent = [c for c in ("unique_id", "ds") if c not in frame.columns]
    if absent:
        raise InputError(f"{path}: no column {', '.join(absent)} (unique_id, ds, covariates)")
    return _long_columns(frame, path)


def _long_columns(frame: Any, path: str) -> Any:
    """A long-format frame with its ds as times and its other columns as numbers."""
    values = [c for c in frame.columns if c not in ("unique_id", "ds")]
    frame = frame.assign(**{c: _numbers(frame[c], path, required=True) for c in values})
    text_times = frame["ds"].dtype == object
    return frame.assign(ds=parse_times(frame["ds"], path)) if text_times else frame


def _numbers(column: Any, path: str, required: bool) -> Any:
    """The column as floats, cells that are not numbers (12,5 is) as NaN and listed on
    stderr; None for a column of text (mostly not numbers), which is noted on stderr, or
    refused when `required`."""
    values, cells = _parsed(column)
    bad = np.flatnonzero((column.notna() & values.isna()).to_numpy())
    examples = _rows(cells, bad)
    if bad.size > values.notna().sum():
        if required:
            raise InputError(f"{path}: column {column.name!r} holds text, not numbers ({examples})")
        print(f"{path}: column {column.name!r} left out: text, not numbers", file=sys.stderr)
        return None
    if bad.size:
        print(
            f"{path}: column {column.name!r}: {bad.size} cell(s) not numbers, read as missing: "
            f"{examples}",
            file=sys.stderr,
        )
    return values


def _every_number(column: Any, path: str, what: str) -> Any:
    """The column as floats; any cell empty or not a number is an InputError saying `what`
    the column is."""
    values, cells = _parsed(column)
    missing = np.flatnonzero(values.isna().to_numpy())
    if missing.size:
        raise InputError(
            f"{path}: column {column.name!r} needs {what} on every row ({_rows(cells, missing)})"
        )
    return values


def _parsed(column: Any) -> tuple[Any, Any]:
    """(the column as floats, NaN where a cell is empty or not a number; its cells as
    stripped text, or as they are when the column is numeric). Commas between thousands
    are read as such in a column that shows them unambiguously (1,234.5), and decimal
    commas otherwise (12,5)."""
    pd = pandas()
    if pd.api.types.is_numeric_dtype(column):
        return column.astype(float), column
    text = column.astype("string").str.strip()
    grouped = text.str.fullmatch(THOUSANDS_COMMA.pattern).fillna(False)
    # 1,234 alone could be 1.234 written with a decimal comma; 1,234.5 or 1,234,567 cannot
    if text[grouped].str.contains(r"\.|,\d{3},", regex=True).any():
        text = text.where(~grouped, text.str.replace(",", "", regex=False))
    comma = text.str.fullmatch(DECIMAL_COMMA.pattern).fillna(False)
    pointed = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    return pd.to_numeric(text.where(~comma, pointed), errors="coerce").astype(float), text


def _rows(cells: Any, positions: np.ndarray) -> str:
    """A few of the cells at `positions`, by data row: "row 3 'ERR', row 5 '(empty)', ..."."""
    shown = [
        f"row {i + 1} {str(cells.iloc[i]) if pandas().notna(cells.iloc[i]) else '(empty)'!r}"
        for i in positions[:5]
    ]
    return ", ".join(shown) + (", ..." if positions.size > 5 else "")


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
    if path != "-" and Path(path).suffix.lower() in PARQUET:
        frame = read_frame(path)
    else:
        text = sys.stdin.read() if path == "-" else _read_text(path)
        frame = read_csv_text(text, None, path)
        if all(isinstance(c, int) for c in frame.columns):  # no header
            lead = ["seq", "t"] if with_seq else ["t"]
            names = lead + [f"v{i}" for i in range(frame.shape[1] - len(lead))]
            frame.columns = names
    if "t" not in frame.columns:
        raise InputError(
            f"{path}: observations need a `t` column (header: seq,t,v0,... or t,v0,...)"
        )
    keys = {"t": "the stream's model time (a number in its units)", "seq": "a whole number"}
    # a reading that is not a number (ERR) is a missing component, named on stderr
    return frame.assign(
        **{
            str(c): _every_number(frame[c], path, keys[c])
            if c in keys
            else _numbers(frame[c], path, required=True)
            for c in frame
        }
    )


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text()
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file") from exc
