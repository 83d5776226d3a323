"""Placing timestamped values on a regular time grid, and continuing the grid.

Pure Python (no numpy), so the API can check a request at submission with the same code the
worker runs. A frequency is a number of seconds (sub-daily steps, on absolute time) or of
calendar units in local time: days, weeks, business days, months (quarters and years are 3
and 12 months), so daily data keeps its wall-clock time across a DST change and monthly
data lands on the same day of each month, or on the last day of each month when every time
is a month's last day (quarter ends, 30 June then 30 September then 31 December). Values
are snapped to the nearest slot (jittered sensor clocks); an empty slot is a missing value;
two values in one slot are refused or averaged. Accepted spellings: pandas-style aliases
("15min", "1h", "D", "B", "W", "MS", "QS", "YS", also "M", "Q", "Y") and ISO 8601
durations ("PT15M", "P1D", "P1M", "P1Y").
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from statistics import median
from typing import Literal, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Unit = Literal["second", "day", "business_day", "month"]

_ALIASES: dict[str, tuple[Unit, int]] = {
    "s": ("second", 1),
    "sec": ("second", 1),
    "min": ("second", 60),
    "t": ("second", 60),
    "h": ("second", 3600),
    "d": ("day", 1),
    "b": ("business_day", 1),
    "w": ("day", 7),
    "ms": ("month", 1),
    "m": ("month", 1),
    "me": ("month", 1),
    "qs": ("month", 3),
    "q": ("month", 3),
    "qe": ("month", 3),
    "ys": ("month", 12),
    "y": ("month", 12),
    "ye": ("month", 12),
    "a": ("month", 12),
    "as": ("month", 12),
}
_ALIAS = re.compile(r"^\s*(\d+)?\s*([a-zA-Z]+)\s*$")
_ISO = re.compile(
    r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$"
)
_DAY = 86_400
_NICE_STEPS = [
    *(1, 2, 5, 10, 15, 20, 30),
    *(60 * m for m in (1, 2, 5, 10, 15, 20, 30)),
    *(3600 * h for h in (1, 2, 3, 4, 6, 8, 12)),
]


@dataclass(frozen=True)
class Freq:
    """n units between consecutive slots."""

    unit: Unit
    n: int
    end: bool = False  # months: on each month's last day

    @property
    def label(self) -> str:
        """A canonical spelling: "15min", "1h", "1D", "7D", "B", "1MS", "QS", "QE", ..."""
        if self.unit == "second":
            for size, name in ((3600, "h"), (60, "min")):
                if self.n % size == 0:
                    return f"{self.n // size}{name}"
            return f"{self.n}s"
        if self.unit == "month":
            edge = "E" if self.end else "S"
            return {3: f"Q{edge}", 12: f"Y{edge}"}.get(self.n, f"{self.n}M{edge}")
        return {"day": f"{self.n}D", "business_day": f"{self.n}B"}[self.unit]

    def seasons(self) -> list[int]:
        """Seasonal periods (in steps) this frequency suggests: a day and a week of sub-daily
        steps, a week of days, five business days, a year of weeks, months or quarters."""
        if self.unit == "second":
            return [p // self.n for p in (_DAY, 7 * _DAY) if p % self.n == 0 and p // self.n > 1]
        if self.unit == "day":
            return [7] if self.n == 1 else ([52] if self.n == 7 else [])
        if self.unit == "business_day":
            return [5] if self.n == 1 else []
        return [12 // self.n] if 12 % self.n == 0 and self.n < 12 else []


def parse_freq(text: str) -> Freq:
    """A frequency from its spelling; ValueError naming what is accepted."""
    m = _ALIAS.match(text)
    if m and m.group(2).lower() in _ALIASES:
        unit, size = _ALIASES[m.group(2).lower()]
        count = int(m.group(1) or 1)
        if count >= 1:
            return Freq(unit, count * size)
    iso = _ISO.match(text.strip())
    if iso and any(iso.groups()):
        y, mo, w, d, h, mi, s = (int(g or 0) for g in iso.groups())
        months, days, seconds = 12 * y + mo, 7 * w + d, 3600 * h + 60 * mi + s
        if sum(bool(x) for x in (months, days, seconds)) == 1:
            if months:
                return Freq("month", months)
            return Freq("day", days) if days else Freq("second", seconds)
    raise ValueError(
        f"{text!r} is not a frequency: use a count and a unit such as 15min, 1h, D, B, W, MS, "
        "QS, YS, or an ISO 8601 duration such as PT15M, P1D, P1M"
    )


def parse_timezone(name: str) -> ZoneInfo:
    """An IANA time zone; ValueError for an unknown name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone (e.g. Europe/Paris)") from None


def _months(t: datetime) -> float:
    """Months since year 0 as a real number (the day and time as a fraction of the month)."""
    start = t.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = _add_months(start, 1)
    return 12 * t.year + t.month - 1 + (t - start) / (following - start)


def _add_months(t: datetime, k: int) -> datetime:
    y, m = divmod(t.month - 1 + k, 12)
    year, month = t.year + y, m + 1
    last = (_add_months_first(year, month) - timedelta(days=1)).day
    return t.replace(year=year, month=month, day=min(t.day, last))


def _month_end(t: datetime) -> datetime:
    return t.replace(day=(_add_months_first(t.year, t.month) - timedelta(days=1)).day)


def _all_month_ends(wall: list[datetime]) -> bool:
    return all((w + timedelta(days=1)).day == 1 for w in wall)


def _on_months(wall: list[datetime], n: int) -> bool:
    """Whether the times keep their place on a grid of n calendar months (each within a sixth
    of a step of the others: the same day or the last day of the month, or a report dated a
    few days apart), rather than drifting against the calendar as a fixed number of days
    (91 days is not a quarter) does."""
    start = _months(wall[0])
    place = [((_months(w) - start) / n + 0.5) % 1.0 for w in wall]
    return max(place) - min(place) <= 1 / 6


def _add_months_first(year: int, month: int) -> date:
    y, m = divmod(month, 12)
    return date(year + y, m + 1, 1)


def _business_days(a: date, b: date) -> int:
    """Business days from a to b (Mon-Fri), a and b themselves on business days."""
    weeks, rest = divmod((b - a).days, 7)
    extra = sum((a.weekday() + i) % 7 < 5 for i in range(1, rest + 1))
    return 5 * weeks + extra


def _roll_forward(d: date) -> date:
    return d + timedelta(days=(7 - d.weekday()) % 7 if d.weekday() >= 5 else 0)


def _add_business_days(d: date, k: int) -> date:
    weeks, rest = divmod(k, 5)
    d += timedelta(weeks=weeks)
    while rest:
        d += timedelta(days=1)
        rest -= d.weekday() < 5
    return d


def _local(t: datetime, tz: ZoneInfo | None) -> datetime:
    """Wall-clock time (naive) in tz, or as given."""
    if t.tzinfo is None:
        return t
    return (t.astimezone(tz) if tz else t).replace(tzinfo=None)


@dataclass(frozen=True)
class Grid:
    """A series on its grid: `slots[i]` is the slot of posted value i (-1: none yet), `times`
    the grid's times (one per slot, from the first posted value's slot)."""

    freq: Freq
    slots: list[int]
    times: list[datetime]


def place(times: list[datetime], freq: Freq, tz: ZoneInfo | None = None) -> Grid:
    """The slot of each time (times strictly increasing) on the grid anchored at times[0]
    (for steps in seconds: shifted to the times' median phase, so one early first reading
    does not offset the whole grid)."""
    anchor, zone = times[0], tz or anchor_zone(times[0])
    wall = [_local(t, tz) for t in times]
    if freq.unit == "second":
        phase = [(t - anchor).total_seconds() % freq.n for t in times]
        shift = median(p - freq.n if p > freq.n / 2 else p for p in phase)
        anchor += timedelta(seconds=shift)
        # Readings near round clock times (every 10 min, on the hour) get a grid on them.
        wall_anchor = _local(anchor, tz)
        into_day = wall_anchor - wall_anchor.replace(hour=0, minute=0, second=0, microsecond=0)
        offset = into_day.total_seconds() % freq.n
        offset -= freq.n if offset > freq.n / 2 else 0
        if _DAY % freq.n == 0 and abs(offset) <= 0.1 * freq.n:
            anchor -= timedelta(seconds=offset)
        slots = [round((t - anchor).total_seconds() / freq.n) for t in times]
    elif freq.unit == "day":
        slots = [round((w - wall[0]).total_seconds() / (_DAY * freq.n)) for w in wall]
    elif freq.unit == "business_day":
        first = _roll_forward(wall[0].date())
        slots = [_business_days(first, _roll_forward(w.date())) // freq.n for w in wall]
    else:
        slots = [round((_months(w) - _months(wall[0])) / freq.n) for w in wall]
        freq = Freq(freq.unit, freq.n, _all_month_ends(wall))
    return Grid(freq, slots, future(anchor, freq, range(slots[-1] + 1), zone, tz))


def anchor_zone(t: datetime) -> ZoneInfo | None:
    return t.tzinfo if isinstance(t.tzinfo, ZoneInfo) else None


def future(
    anchor: datetime,
    freq: Freq,
    steps: range,
    zone: ZoneInfo | None,
    tz: ZoneInfo | None = None,
) -> list[datetime]:
    """The grid's times at `steps` (slot numbers from the anchor), in tz when given (else in
    the anchor's own offset)."""
    if freq.unit == "second":
        out = [anchor + timedelta(seconds=freq.n * k) for k in steps]
        return [t.astimezone(tz) for t in out] if tz and anchor.tzinfo else out
    wall = _local(anchor, tz)
    if freq.unit == "day":
        local = [wall + timedelta(days=freq.n * k) for k in steps]
    elif freq.unit == "business_day":
        first = _roll_forward(wall.date())
        clock = wall.time()
        local = [datetime.combine(_add_business_days(first, freq.n * k), clock) for k in steps]
    else:
        local = [_add_months(wall, freq.n * k) for k in steps]
        local = [_month_end(t) for t in local] if freq.end else local
    if anchor.tzinfo is None:
        return local
    where = tz or zone
    if where is None:  # a fixed UTC offset: calendar steps keep it
        return [t.replace(tzinfo=anchor.tzinfo) for t in local]
    return [t.replace(tzinfo=where) for t in local]


def infer_freq(times: list[datetime], tz: ZoneInfo | None = None) -> Freq:
    """The step of strictly increasing times: the median gap, read as calendar months,
    business days, days or weeks when it looks like one, else a number of seconds."""
    if len(times) < 2:
        raise ValueError("at least two timestamps are needed to infer the step; give freq")
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
    step = median(gaps)
    days = step / _DAY
    wall = [_local(t, tz) for t in times]
    same_day = len({w.day for w in wall}) == 1 or _all_month_ends(wall)
    fixed_days = len(set(gaps)) == 1  # a schedule of N days, not of calendar months
    for months, (lo, hi) in ((1, (27, 32)), (3, (88, 93)), (12, (360, 370))):
        calendar = same_day or months == 1 or (not fixed_days and _on_months(wall, months))
        if lo <= days <= hi and calendar:
            return Freq("month", months)
    if 0.95 <= days <= 1.05:
        weekdays = {w.weekday() for w in wall}
        weekends_skipped = any(2.9 * _DAY <= g <= 3.1 * _DAY for g in gaps)
        if weekdays <= {0, 1, 2, 3, 4} and weekends_skipped:
            return Freq("business_day", 1)
        return Freq("day", 1)
    if days >= 1 and abs(days - round(days)) <= 1 / 24 + 1e-9:  # a DST hour either way
        return Freq("day", round(days))
    # A jittered clock's median gap is off by the jitter: the whole span over the number of
    # steps it holds averages it out, and a step within 2% of a round one is that one. The
    # median can be off by several % on a short series, and then so is the count it gives;
    # one step per value (the fewest steps the span can hold) is the other count tried.
    span = (times[-1] - times[0]).total_seconds()
    counts = dict.fromkeys((max(1, round(span / step)), len(times) - 1))
    for count in counts:
        step = span / count
        nice = min(_NICE_STEPS, key=lambda n: abs(n - step))
        if abs(nice - step) <= 0.02 * nice:
            return Freq("second", nice)
    return Freq("second", max(1, round(span / next(iter(counts)))))


Aggregate = Literal["mean"] | None
Values = list[float | None] | list[list[float | None]]


def on_grid(
    values: Values,
    times: list[datetime],
    freq: Freq | None = None,
    tz: ZoneInfo | None = None,
    aggregate: Aggregate = None,
) -> tuple[Values, Grid]:
    """Values placed on the grid of `freq` (inferred when None): empty slots hold None (a row
    of None for a multivariate series). Two values in one slot are a ValueError naming them,
    unless aggregate="mean" averages them (per component, over the non-null ones)."""
    grid = place(times, freq or infer_freq(times, tz), tz)
    by_slot: dict[int, list[int]] = {}
    for i, slot in enumerate(grid.slots):
        by_slot.setdefault(slot, []).append(i)
    if aggregate is None:
        for slot, items in by_slot.items():
            if len(items) > 1:
                i, j = items[0], items[1]
                raise ValueError(
                    f"items {i} and {j} ({times[i].isoformat()}, {times[j].isoformat()}) fall "
                    f"in the same {grid.freq.label} slot ({grid.times[slot].isoformat()}); "
                    'send one value per slot or set "aggregate": "mean"'
                )
    rows = isinstance(values[0], list)
    table = cast(list[list[float | None]], values if rows else [[v] for v in values])
    width = len(table[0])
    out: list[list[float | None]] = [[None] * width for _ in grid.times]
    for slot, items in by_slot.items():
        for j in range(width):
            seen = [x for x in (table[i][j] for i in items) if x is not None]
            out[slot][j] = sum(seen) / len(seen) if seen else None
    placed = out if rows else [r[0] for r in out]
    return placed, grid


@dataclass(frozen=True)
class Gridded:
    """A posted series on its grid: values (None: missing), the grid's times, how it was
    built (`info`), and its continuation (`after`)."""

    values: Values
    grid: Grid
    tz: ZoneInfo | None
    posted: int

    @property
    def times(self) -> list[datetime]:
        return self.grid.times

    def after(self, horizon: int) -> list[datetime]:
        """The next `horizon` times of the grid."""
        n = len(self.grid.times)
        zone = self.tz or anchor_zone(self.grid.times[0])
        return future(self.grid.times[0], self.grid.freq, range(n, n + horizon), zone, self.tz)

    def info(self) -> dict[str, object]:
        return {
            "freq": self.grid.freq.label,
            "timezone": str(self.tz) if self.tz else None,
            "length": len(self.grid.times),
            "empty_slots": len(self.grid.times) - len(set(self.grid.slots)),
            "merged": self.posted - len(set(self.grid.slots)),
        }


def grid_posted(
    values: Values,
    timestamps: list[datetime] | list[str],
    freq: str | None = None,
    timezone: str | None = None,
    aggregate: Aggregate = None,
) -> Gridded:
    """A posted series on the grid of its timestamps (ISO strings or datetimes). With a
    timezone, naive times are wall-clock times there and aware ones are converted to it."""
    tz = parse_timezone(timezone) if timezone else None
    times = [t if isinstance(t, datetime) else datetime.fromisoformat(t) for t in timestamps]
    if tz is not None:
        times = [t.astimezone(tz) if t.tzinfo else t.replace(tzinfo=tz) for t in times]
    placed, grid = on_grid(values, times, parse_freq(freq) if freq else None, tz, aggregate)
    return Gridded(placed, grid, tz, len(times))


def calendar_columns(times: list[datetime], terms: list[str]) -> dict[str, list[float]]:
    """Calendar drivers of each time, by name: hour of day and month of year as two
    sin/cos pairs each (smooth cycles), day of week as six indicators (Monday the base)."""
    out: dict[str, list[float]] = {}
    for term in terms:
        if term == "hour":
            phase = [(t.hour + t.minute / 60) / 24 for t in times]
        elif term == "month":
            phase = [(t.month - 1 + (t.day - 1) / 31) / 12 for t in times]
        elif term == "dow":
            for day in range(1, 7):
                out[f"dow_{day}"] = [float(t.weekday() == day) for t in times]
            continue
        else:
            raise ValueError(f"unknown calendar term {term!r}; expected hour, dow or month")
        for k in (1, 2):
            out[f"{term}_sin{k}"] = [math.sin(2 * math.pi * k * x) for x in phase]
            out[f"{term}_cos{k}"] = [math.cos(2 * math.pi * k * x) for x in phase]
    return out
