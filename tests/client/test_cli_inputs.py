"""The CLI's file reading: spreadsheet exports in other locales and day-first dates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kalmanac.cli.inputs import (
    InputError,
    csv_dialect,
    read_future,
    read_observations,
    read_series,
)


def hourly(n: int = 48) -> tuple[pd.DatetimeIndex, np.ndarray]:
    times = pd.date_range("2026-04-01", periods=n, freq="h")
    return times, np.round(20 + 5 * np.sin(2 * np.pi * np.arange(n) / 24), 2)


def test_a_european_export_is_read_with_its_delimiter_decimal_comma_and_day_first_dates(
    tmp_path: Path,
) -> None:
    times, values = hourly()
    lines = ["Zeit;Wert"] + [
        f"{t:%d.%m.%Y %H:%M};{'' if i == 5 else str(v).replace('.', ',')}"
        for i, (t, v) in enumerate(zip(times, values, strict=True))
    ]
    lines[10] = lines[10].split(";")[0] + ";1.234,5"  # dots between thousands
    path = tmp_path / "export.csv"
    path.write_text("\n".join(lines) + "\n")
    got = read_series(str(path))
    assert list(got.index) == list(times)  # 01.04.2026 is 1 April, not 4 January
    expected = values.copy()
    expected[5], expected[9] = np.nan, 1234.5
    np.testing.assert_array_equal(got.to_numpy(), expected)


def test_a_loggers_preamble_and_units_row_are_left_out_and_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    times, values = hourly()
    rows = [
        f"{t:%Y-%m-%d %H:%M};{str(v).replace('.', ',')}" for t, v in zip(times, values, strict=True)
    ]
    preamble = ["# Logger: HOBO U12", "Serial: 2041", "", "time;temp", ";degC"]
    path = tmp_path / "hobo.csv"
    path.write_text("\n".join(preamble + rows) + "\n")
    got = read_series(str(path))
    assert list(got.index) == list(times)
    np.testing.assert_array_equal(got.to_numpy(), values)
    err = capsys.readouterr().err
    assert "3 line(s) before the table skipped: '# Logger: HOBO U12', 'Serial: 2041'" in err
    assert "row 1 ';degC' has no number and no time (units?): left out" in err
    # a one-word header over numbers with a comma is not a preamble: refused, not misread
    (tmp_path / "one.csv").write_text("Wert\n" + "".join(f"1{i % 7},{i % 9}\n" for i in range(80)))
    with pytest.raises(InputError, match="more fields than the header"):
        read_series(str(tmp_path / "one.csv"))


def test_a_loggers_row_numbers_and_separate_date_and_time_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A HOBO export numbers its rows in `#` and names its times `Date Time, GMT+01:00`;
    another logger writes the date and the clock time in two columns."""
    times, values = hourly()
    hobo = ['"#","Date Time, GMT+01:00","Temp, C"']
    pairs = list(zip(times, values, strict=True))
    hobo += [f"{i + 1},{t:%m/%d/%y %I:%M:%S %p},{v}" for i, (t, v) in enumerate(pairs)]
    (tmp_path / "hobo.csv").write_text("\n".join(hobo) + "\n")
    got = read_series(str(tmp_path / "hobo.csv"))
    assert list(got.index) == list(times) and got.name == "Temp, C"
    split = ["Date,Time,Temp"] + [f"{t:%Y-%m-%d},{t:%H:%M},{v}" for t, v in pairs]
    (tmp_path / "split.csv").write_text("\n".join(split) + "\n")
    got = read_series(str(tmp_path / "split.csv"))
    assert list(got.index) == list(times)
    np.testing.assert_array_equal(got.to_numpy(), values)
    err = capsys.readouterr().err
    assert "column '#' numbers the rows: left out" in err
    assert "times are column 'Date' and column 'Time'" in err


def test_commas_between_thousands_are_read_as_such(tmp_path: Path) -> None:
    """A spreadsheet's US number format writes 1,014.4 (quoted in a CSV); the column was
    left out as text."""
    times, values = hourly()
    load = np.round(900 + 20 * values, 1)
    rows = [f'{t:%Y-%m-%d %H:%M},"{v:,.1f}"' for t, v in zip(times, load, strict=True)]
    path = tmp_path / "us.csv"
    path.write_text("time,load\n" + "\n".join(rows) + "\n")
    assert any(v >= 1000 for v in load)
    np.testing.assert_array_equal(read_series(str(path)).to_numpy(), load)


def test_spreadsheet_day_numbers_are_dates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Excel writes 1 April 2026 13:00 as 46113.541667 when a date cell is formatted as a
    number; read as Unix seconds, it was 1 January 1970."""
    times, values = hourly()
    serial = (times - pd.Timestamp("1899-12-30")) / pd.Timedelta(days=1)
    rows = [f"{d:.6f},{v}" for d, v in zip(serial, values, strict=True)]
    path = tmp_path / "excel.csv"
    path.write_text("date,temp\n" + "\n".join(rows) + "\n")
    got = read_series(str(path)).index
    assert (abs(got - times) < pd.Timedelta(seconds=1)).all()
    assert "read as spreadsheet day numbers" in capsys.readouterr().err


def test_local_times_with_offsets_across_a_dst_change_are_read_as_instants(
    tmp_path: Path,
) -> None:
    """Paris wall-clock times with their offsets, +01:00 then +02:00 from 29 March 2026:
    refused before as 'does not hold times'."""
    instants = pd.date_range("2026-03-28", periods=72, freq="h", tz="UTC")
    local = instants.tz_convert("Europe/Paris")
    rows = [f"{t.isoformat()},{i % 5}" for i, t in enumerate(local)]
    path = tmp_path / "paris.csv"
    path.write_text("time,temp\n" + "\n".join(rows) + "\n")
    assert list(read_series(str(path)).index) == list(instants)


def test_month_first_dates_stay_month_first(tmp_path: Path) -> None:
    times, values = hourly()
    rows = [f"{t:%m/%d/%Y %H:%M},{v}" for t, v in zip(times, values, strict=True)]
    path = tmp_path / "us.csv"
    path.write_text("date,value\n" + "\n".join(rows) + "\n")
    assert list(read_series(str(path)).index) == list(times)


def test_dialects() -> None:
    assert csv_dialect("t,v\n1,2.5\n") == {"sep": ","}
    assert csv_dialect("t;v\n1;2.5\n") == {"sep": ";"}
    assert csv_dialect("t;v\n1;2,5\n") == {"sep": ";", "decimal": ","}
    assert csv_dialect("t\tv\n1\t2,5\n")["decimal"] == ","
    assert csv_dialect("v\n1\n2\n") == {"sep": ","}  # one column
    assert csv_dialect("") == {"sep": ","}


def test_rows_longer_than_the_header_are_refused_not_shifted(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("time,value\n2026-04-01T00:00,1.5,x\n2026-04-01T01:00,2.5,x\n")
    with pytest.raises(InputError, match="more fields than the header's 2"):
        read_series(str(path))


def test_observations_with_semicolons_and_decimal_commas(tmp_path: Path) -> None:
    path = tmp_path / "obs.csv"
    path.write_text("1;0,05;1,9;21,4\n2;0,10;3,2;20,1\n")
    frame = read_observations(str(path), with_seq=True)
    assert list(frame.columns) == ["seq", "t", "v0", "v1"]
    np.testing.assert_allclose(frame.to_numpy(), [[1, 0.05, 1.9, 21.4], [2, 0.10, 3.2, 20.1]])


@pytest.mark.parametrize(
    ("scale", "name"), [(1, "timestamp"), (1000, "time"), (10**6, "epoch"), (10**9, "unix")]
)
def test_unix_times_are_read_in_their_unit(tmp_path: Path, scale: int, name: str) -> None:
    times, values = hourly()
    unix = (times.asi8 // 10**9) * scale
    path = tmp_path / "unix.csv"
    rows = "".join(f"{u},{v}\n" for u, v in zip(unix, values, strict=True))
    path.write_text(f"{name},value\n" + rows)
    assert list(read_series(str(path)).index) == list(times)


def test_eight_digit_dates(tmp_path: Path) -> None:
    path = tmp_path / "daily.csv"
    path.write_text("date,value\n20260330,1.0\n20260331,2.0\n20260401,3.0\n")
    assert list(read_series(str(path)).index) == list(pd.date_range("2026-03-30", periods=3))


def test_cells_that_are_not_numbers_are_missing_and_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A logger's ERR in a value column makes that cell missing (said on stderr), not the
    whole column text to be dropped in silence; a column of text is left out, and said."""
    times, values = hourly(6)
    cells = [str(v) for v in values]
    cells[2], cells[4] = "ERR", "--"
    rows = [
        f"{t:%Y-%m-%dT%H:%M},{c},{50 + i},ok"
        for i, (t, c) in enumerate(zip(times, cells, strict=True))
    ]
    path = tmp_path / "logger.csv"
    path.write_text("time,temp,humidity,status\n" + "\n".join(rows) + "\n")
    got = read_series(str(path))
    assert list(got.columns) == ["temp", "humidity"]
    expected = values.copy()
    expected[[2, 4]] = np.nan
    np.testing.assert_array_equal(got["temp"].to_numpy(), expected)
    err = capsys.readouterr().err
    assert "'temp': 2 cell(s) not numbers, read as missing: row 3 'ERR', row 5 '--'" in err
    assert "'status' left out: text, not numbers" in err
    with pytest.raises(InputError, match="'status' holds text, not numbers"):
        read_series(str(path), columns=["status"])


def test_a_long_export_and_its_future_with_day_first_dates(tmp_path: Path) -> None:
    history, future = tmp_path / "long.csv", tmp_path / "future.csv"
    history.write_text("unique_id;ds;y;temp\na;31.03.2026;1,5;2,0\na;01.04.2026;ERR;2,5\n")
    future.write_text("unique_id;ds;temp\na;02.04.2026;3,5\n")
    got, ahead = read_series(str(history)), read_future(str(future))
    assert list(got["ds"]) == list(pd.to_datetime(["2026-03-31", "2026-04-01"]))
    np.testing.assert_array_equal(got["y"].to_numpy(), [1.5, np.nan])
    assert list(ahead["ds"]) == [pd.Timestamp("2026-04-02")] and ahead["temp"].iloc[0] == 3.5
    (tmp_path / "no_ids.csv").write_text("ds,temp\n2026-04-02,3.5\n")
    with pytest.raises(InputError, match="no column unique_id"):
        read_future(str(tmp_path / "no_ids.csv"))


def test_observation_readings_that_are_not_numbers_are_missing_components(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "obs.csv"
    path.write_text("t;x;z\n0,05;1,9;21,4\n0,15;ERR;19,7\n")
    frame = read_observations(str(path))
    np.testing.assert_array_equal(frame.to_numpy(), [[0.05, 1.9, 21.4], [0.15, np.nan, 19.7]])
    assert "'x': 1 cell(s) not numbers, read as missing: row 2 'ERR'" in capsys.readouterr().err
    path.write_text("t,x\n2026-04-01T00:00:00,1.9\n")
    with pytest.raises(InputError, match="'t' needs the stream's model time .* every row"):
        read_observations(str(path))
    path.write_text("t,x\n0.1,1.9\n,2.0\n")
    with pytest.raises(InputError, match=r"every row \(row 2 '\(empty\)'\)"):
        read_observations(str(path))
