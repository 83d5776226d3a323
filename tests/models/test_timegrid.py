"""Placing timestamped values on a grid and continuing it: calendar steps, DST, jitter."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from models.timegrid import Freq, grid_posted, infer_freq, parse_freq

PARIS = ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(
    ("text", "freq"),
    [
        ("15min", Freq("second", 900)),
        ("1h", Freq("second", 3600)),
        ("PT15M", Freq("second", 900)),
        ("D", Freq("day", 1)),
        ("P1D", Freq("day", 1)),
        ("W", Freq("day", 7)),
        ("B", Freq("business_day", 1)),
        ("MS", Freq("month", 1)),
        ("P1M", Freq("month", 1)),
        ("QS", Freq("month", 3)),
        ("YS", Freq("month", 12)),
        ("P1Y", Freq("month", 12)),
    ],
)
def test_frequencies_parse_from_aliases_and_iso_durations(text: str, freq: Freq) -> None:
    assert parse_freq(text) == freq


@pytest.mark.parametrize("text", ["", "fortnightly", "P1M1D", "0h", "PT"])
def test_a_frequency_that_does_not_parse_says_what_would(text: str) -> None:
    with pytest.raises(ValueError, match="15min"):
        parse_freq(text)


def test_a_gap_in_the_timestamps_is_a_missing_value_not_a_contiguous_step() -> None:
    times = [datetime(2026, 1, 1) + timedelta(hours=h) for h in (0, 1, 2, 5, 6)]
    g = grid_posted([1.0, 2.0, 3.0, 6.0, 7.0], times)
    assert g.grid.freq == Freq("second", 3600)
    assert g.values == [1.0, 2.0, 3.0, None, None, 6.0, 7.0]
    assert g.after(2) == [datetime(2026, 1, 1, 7), datetime(2026, 1, 1, 8)]
    assert g.info()["empty_slots"] == 2


def test_monthly_data_continues_on_month_starts() -> None:
    times = [datetime(2025, m, 1) for m in range(1, 13)]
    g = grid_posted([float(m) for m in range(12)], times)
    assert g.grid.freq == Freq("month", 1)
    assert g.after(3) == [datetime(2026, 1, 1), datetime(2026, 2, 1), datetime(2026, 3, 1)]


def test_month_ends_stay_month_ends() -> None:
    times = [datetime(2025, 1, 31), datetime(2025, 2, 28), datetime(2025, 3, 31)]
    g = grid_posted([1.0, 2.0, 3.0], times, freq="M")
    assert g.values == [1.0, 2.0, 3.0]
    assert g.after(1) == [datetime(2025, 4, 30)]
    from_february = grid_posted([1.0, 2.0], [datetime(2025, 2, 28), datetime(2025, 3, 31)])
    assert from_february.info()["freq"] == "1ME"
    assert from_february.after(2) == [datetime(2025, 4, 30), datetime(2025, 5, 31)]


def test_quarter_ends_are_quarterly_and_a_missing_quarter_is_empty() -> None:
    """30 June, 30 September, 31 December, 31 March: not one day of the month, but each
    month's last (a financial export); the gaps of 90 to 92 days are not a step of days."""
    ends = [(2024, 6, 30), (2024, 9, 30), (2024, 12, 31), (2025, 3, 31), (2025, 6, 30)]
    ends += [(2025, 12, 31), (2026, 3, 31)]  # 30 September 2025 was not reported
    g = grid_posted([float(i) for i in range(7)], [datetime(*d) for d in ends])
    assert g.grid.freq == Freq("month", 3, end=True) and g.info()["freq"] == "QE"
    assert g.values[5] is None and len(g.values) == 8
    assert g.after(3) == [datetime(2026, 6, 30), datetime(2026, 9, 30), datetime(2026, 12, 31)]


def test_business_days_skip_weekends_and_a_missing_day_is_empty() -> None:
    days = [datetime(2026, 11, 30) + timedelta(days=i) for i in range(14)]
    weekdays = [d for d in days if d.weekday() < 5]
    del weekdays[3]  # Thursday 3 December
    g = grid_posted([1.0] * len(weekdays), weekdays)
    assert g.grid.freq == Freq("business_day", 1)
    assert g.values[3] is None and len(g.values) == 10
    assert [t.weekday() for t in g.after(3)] == [0, 1, 2]


def test_daily_local_time_is_kept_across_a_dst_change() -> None:
    times = [datetime(2026, 3, 25 + i, 9, 0, tzinfo=PARIS) for i in range(7)]
    g = grid_posted([1.0] * 7, times)
    assert g.grid.freq == Freq("day", 1)
    after = g.after(2)
    assert [(t.hour, t.utcoffset()) for t in after] == [(9, timedelta(hours=2))] * 2


def test_a_timezone_converts_utc_readings_to_local_days() -> None:
    times = [datetime(2026, 10, 20 + i, 22, 0, tzinfo=UTC) for i in range(10)]
    g = grid_posted([1.0] * 10, times, timezone="Europe/Paris")
    # 22:00 UTC is midnight in Paris in summer time and 23:00 after 25 October: the grid
    # keeps local midnight, each reading on the nearest local day.
    assert len(g.values) == 10 and None not in g.values
    assert [(t.hour, t.utcoffset()) for t in g.after(2)] == [(0, timedelta(hours=1))] * 2
    assert str(g.info()["timezone"]) == "Europe/Paris"


def test_jittered_readings_snap_to_a_round_grid() -> None:
    rng = random.Random(0)
    start = datetime(2026, 1, 1)
    times = [
        start + timedelta(minutes=10 * i, seconds=rng.uniform(-90, 90)) for i in range(60) if i != 7
    ]
    times[0] = start + timedelta(seconds=20)
    g = grid_posted([float(i) for i in range(59)], times)
    assert g.grid.freq == Freq("second", 600)
    assert g.times[0] == start and g.values[7] is None and len(g.values) == 60


def test_a_short_jittered_series_whose_median_gap_is_off_keeps_its_round_step() -> None:
    """40 readings a minute apart, jittered by up to 10%: their median gap is 63.75 s, which
    counts the span as 37 steps; one step per reading gives the round minute instead (a
    case hypothesis found in tests/app/test_validation_properties.py)."""
    jitter = [0.0] * 11 + [1, 2, 0, 1, 2, 0, 2, 3, -2, 0, 2, -2, 0, 2, -2, -1, 0, 2, 0, 2, 0]
    jitter += [2, 3, -2, 0, 1, 2, -2, 0]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    times = [start + timedelta(seconds=60 * k + 1.875 * j) for k, j in enumerate(jitter)]
    assert infer_freq(times) == Freq("second", 60)
    assert len(grid_posted([1.0] * 40, times).values) == 40


def test_two_values_in_one_slot_are_named_or_averaged() -> None:
    times = [datetime(2026, 1, 1, 0, 0), datetime(2026, 1, 1, 0, 4), datetime(2026, 1, 1, 0, 10)]
    with pytest.raises(ValueError, match="items 0 and 1"):
        grid_posted([1.0, 2.0, 3.0], times, freq="10min")
    g = grid_posted([[1.0, None], [2.0, 5.0], [3.0, 6.0]], times, freq="10min", aggregate="mean")
    assert g.values == [[1.5, 5.0], [3.0, 6.0]]


def test_the_inferred_season_follows_the_step() -> None:
    assert parse_freq("1h").seasons() == [24, 168]
    assert parse_freq("D").seasons() == [7]
    assert parse_freq("MS").seasons() == [12]
    assert parse_freq("QS").seasons() == [4]
    hourly = [datetime(2026, 1, 1) + timedelta(hours=h) for h in range(48)]
    assert infer_freq(hourly).seasons() == [24, 168]


def test_quarterly_reports_dated_a_few_days_apart_are_quarterly_and_91_days_are_not() -> None:
    release = [datetime(2020 + i // 4, 3 * (i % 4) + 1, 2 + (5 * i) % 8) for i in range(16)]
    assert infer_freq(release) == Freq("month", 3)
    assert grid_posted([1.0] * 16, release).info()["empty_slots"] == 0
    every_91_days = [datetime(2020, 1, 1) + timedelta(days=91 * i) for i in range(16)]
    assert infer_freq(every_91_days) == Freq("day", 91)
