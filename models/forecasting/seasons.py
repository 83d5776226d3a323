"""Seasonal periods found, not asked for, for the conjugate AR kinds.

Candidates come from the time grid's step (hourly: a day and a week; daily: a week; monthly:
a year; ...) and from the data (the strongest peaks of the periodogram of the linearly
detrended series). Each candidate period m is tried as Fourier terms of a few orders K, and
the model's own marginal likelihood picks among them and no season at all: the evidence
charges every extra regressor (Occam's factor), so a season is used only where the data
carry one. Refs: MacKay 2003, "Information Theory, Inference, and Learning Algorithms",
ch. 28 (model comparison by evidence); Harvey 1989 ch. 2 (trigonometric seasonality).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from models.forecasting.base import FloatArray
from models.forecasting.bayes_ar import default_max_lag

FOURIER_ORDERS = (2, 4)  # K tried per period (capped at m / 2)
DATA_PEAKS = 2  # periodogram peaks offered as candidates
MAX_SEASON_FRACTION = 1 / 3  # a season needs at least three cycles in the series


def data_periods(y: FloatArray, count: int = DATA_PEAKS) -> list[int]:
    """The `count` strongest periodogram peaks of y (T,) or (T, d) (summed over columns) as
    whole periods in [3, T/3], strongest first."""
    Y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    T = Y.shape[0]
    t = np.arange(T)
    resid = Y - np.polyval(np.polyfit(t, Y, 1), t[:, None]) if T > 2 else Y
    power = (np.abs(np.fft.rfft(resid, axis=0)) ** 2).sum(axis=1)
    freqs = np.fft.rfftfreq(T)
    periods: list[int] = []
    for i in np.argsort(-power):
        if freqs[i] <= 0:
            continue
        m = int(round(1.0 / freqs[i]))
        if 3 <= m <= T * MAX_SEASON_FRACTION and m not in periods:
            periods.append(m)
        if len(periods) == count:
            break
    return periods


def grid_periods_that_fit(periods: Sequence[int], T: int) -> list[int]:
    """The grid's periods a series of length T can carry: at least 2, at most T/3."""
    return [int(m) for m in periods if 2 <= m <= T * MAX_SEASON_FRACTION]


def shared_max_lag(periods: Sequence[int], T: int) -> int:
    """The largest lag order every season candidate is scored with (`default_max_lag` of
    the shortest grid period that fits): one for all, so that their evidences cover the same
    rows."""
    fit_in = grid_periods_that_fit(periods, T)
    return default_max_lag(min(fit_in) if fit_in else None)


def choose_season(
    y: FloatArray,
    fit: Callable[[int | None, int], Any],
    grid_periods: Sequence[int] = (),
) -> tuple[Any, dict[str, Any]]:
    """The fit (`fit(season_length, fourier_order)` -> a model with `log_evidence_`) of
    highest evidence among no season and each candidate period x Fourier order, with a
    report: candidates, where each came from, and what was used. `fit` must score every
    season on the same rows (one max_lag for all): evidences of different rows do not
    compare."""
    T = len(y)
    sources: dict[int, str] = {}
    for m in grid_periods_that_fit(grid_periods, T):
        sources.setdefault(m, "freq")
    for m in data_periods(y):
        sources.setdefault(m, "data")
    best, best_ev, used = fit(None, 0), None, None
    best_ev = best.log_evidence_
    for m in sources:
        for K in sorted({min(K, m // 2) for K in FOURIER_ORDERS}):
            try:
                model = fit(m, K)
            except ValueError:  # too short for this many regressors
                continue
            if model.log_evidence_ > best_ev:
                best, best_ev, used = model, model.log_evidence_, (m, K)
    report = {
        "candidates": [{"period": m, "from": src} for m, src in sources.items()],
        "season_length": used[0] if used else None,
        "fourier_order": used[1] if used else 0,
        "chosen_by": "log evidence",
    }
    return best, report
