"""Flagging past readings: injected sensor faults are found, clean readings rarely are."""

from __future__ import annotations

import numpy as np

from models.forecasting.anomalies import find_anomalies
from models.forecasting.bayes_ar import BayesianAR


def ar1(T: int, rng: np.random.Generator) -> np.ndarray:
    y = np.zeros(T)
    for t in range(1, T):
        y[t] = 0.8 * y[t - 1] + rng.standard_normal()
    return 10.0 + y


def test_spikes_a_stuck_run_and_a_level_shift_are_flagged() -> None:
    found, events, false, clean = 0, 0, 0, 0
    for seed in range(4):
        rng = np.random.default_rng(seed)
        y = ar1(400, rng)
        fault = np.zeros(400, dtype=bool)
        groups = []
        for t in (60, 150, 330):
            y[t] += 10.0
            groups.append([t])
        y[200:210] = y[200]
        groups.append(list(range(201, 210)))
        y[360:] += 8.0
        groups.append([360])
        for g in groups:
            fault[g] = True
        flags = find_anomalies(y[:, None], 99.9)
        flagged = {f["index"] for f in flags}
        events += len(groups)
        found += sum(any(t in flagged for t in g) for g in groups)
        false += len(flagged - set(np.nonzero(fault)[0].tolist()))
        clean += int((~fault).sum())
        stuck = [f for f in flags if f["reason"] == "repeated"]
        assert {f["index"] for f in stuck} == set(range(201, 210))
    assert found / events >= 0.9
    assert false / clean < 0.01


def test_a_clean_series_is_flagged_at_about_the_nominal_rate() -> None:
    rng = np.random.default_rng(11)
    flags = sum(len(find_anomalies(ar1(500, rng)[:, None], 99.0)) for _ in range(4))
    assert flags / 2000 < 0.02


def test_counts_that_often_repeat_are_not_called_stuck() -> None:
    rng = np.random.default_rng(5)
    counts = rng.poisson(1.0, 400).astype(float)
    assert not [f for f in find_anomalies(counts[:, None], 99.0) if f["reason"] == "repeated"]


def test_a_value_the_series_keeps_coming_back_to_is_not_called_stuck() -> None:
    """A pump reads exactly 0 whenever it is off: its long runs of zeros are its states."""
    rng = np.random.default_rng(7)
    on = [50 + rng.normal(0, 1, 20) for _ in range(4)]
    pump = np.concatenate([np.r_[np.zeros(30), run] for run in on])
    assert not [f for f in find_anomalies(pump[:, None], 99.0) if f["reason"] == "repeated"]


def test_a_flag_reports_its_prediction_interval_and_score() -> None:
    rng = np.random.default_rng(2)
    y = ar1(300, rng)
    y[200] += 12.0
    (spike,) = [f for f in find_anomalies(y[:, None], 99.9) if f["index"] == 200]
    lo, hi = spike["interval"]
    assert lo < spike["expected"] < hi < spike["value"] and spike["score"] > 3.29
    model = BayesianAR().fit(np.delete(y, 200))
    assert model.one_step(y)[0].shape == (300 - model.window_shape_[0], 1)
