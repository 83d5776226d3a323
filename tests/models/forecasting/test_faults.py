"""Gross faults: wild readings are set aside, a series' own distribution and its moves are
not."""

from __future__ import annotations

import numpy as np

from models.forecasting.faults import as_missing, gross_faults
from tests.models.forecasting.test_anomalies import ar1


def test_gross_faults_are_wild_readings_and_a_clean_series_rarely_has_one() -> None:
    rng = np.random.default_rng(4)
    y = ar1(300, rng)
    y[[100, 299]] += np.array([40.0, -40.0])  # the last reading too: it drives the forecast
    assert [(f["index"], f["reason"]) for f in gross_faults(y)] == [
        (100, "outside"),
        (299, "outside"),
    ]
    assert np.isnan(as_missing(y, gross_faults(y))[[100, 299]]).all()
    # FAULT_RATE is per series: about one clean series in a hundred loses a reading.
    faulted = sum(bool(gross_faults(ar1(300, rng))) for _ in range(40))
    assert faulted <= 2


def test_gross_faults_leave_a_stuck_run_and_judge_each_component() -> None:
    rng = np.random.default_rng(6)
    Y = np.column_stack([ar1(300, rng), ar1(300, rng)])
    Y[150:170, 0] = Y[150, 0]
    Y[200, 1] = np.nan
    Y[220, 1] -= 50.0
    assert [(f["index"], f["component"]) for f in gross_faults(Y)] == [(220, 1)]


def test_an_intermittent_series_keeps_its_demand() -> None:
    """Demand that comes in bursts between zeros is far from a Gaussian AR's prediction, but
    it is the series' own distribution: its bursts are not set aside as faults."""
    rng = np.random.default_rng(8)
    events, aside = 0, 0
    for _ in range(10):
        y = (rng.random(300) < 0.1) * rng.poisson(5.0, 300).astype(float)
        events += int((y > 0).sum())
        aside += len(gross_faults(y))
    assert aside <= 0.03 * events


def test_a_move_in_the_newest_readings_is_kept_and_an_error_code_is_not() -> None:
    rng = np.random.default_rng(9)
    y = ar1(300, rng)
    moved = y.copy()
    moved[-3:] += 30.0  # recalibrated: the forecast must start from the new level
    assert gross_faults(moved) == []
    coded = y.copy()
    coded[-3:] = 9999.0  # a logger's error code, repeated
    assert [f["index"] for f in gross_faults(coded)] == [297, 298, 299]


def test_a_series_too_short_to_judge_keeps_every_reading() -> None:
    assert gross_faults(np.array([1.0, 2.0, 50.0])) == []


def test_a_stepped_series_keeps_its_new_level_and_a_held_error_code_is_set_aside() -> None:
    """After a constant stretch any change is far outside a one-step interval: a setpoint or
    a valve that moves and holds its new value is a move, however long it holds. An error
    code held past a burst is set aside when it is far beyond the series' own steps."""
    assert gross_faults(np.r_[np.zeros(50), np.ones(50)]) == []
    setpoints = np.r_[np.full(30, 20.0), np.full(30, 22.0), np.full(40, 18.0)]
    assert gross_faults(setpoints) == []
    rng = np.random.default_rng(10)
    logged = np.round(2 * (20 + np.cumsum(rng.normal(0, 0.1, 300)))) / 2  # 0.5-degree steps
    for start, held in ((150, 30), (280, 20)):
        coded = logged.copy()
        coded[start : start + held] = 9999.0
        assert [f["index"] for f in gross_faults(coded)] == list(range(start, start + held))


def test_a_corrupted_reading_beyond_float_arithmetic_is_set_aside_wherever_it_is() -> None:
    """A value whose square overflows float64 would break the fit itself: it is set aside
    even among the first readings, which have no prediction to be judged against. A series
    that is all that large is its own scale, and its fit says so."""
    rng = np.random.default_rng(12)
    y = ar1(200, rng)
    y[[0, 120]] = [1e200, -3e250]
    aside = gross_faults(y)
    assert [(f["index"], f["expected"] is None) for f in aside] == [(0, True), (120, False)]
    assert gross_faults(ar1(200, rng) * 1e200) == []
