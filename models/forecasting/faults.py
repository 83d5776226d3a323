"""Gross faults: the readings a forecaster should be fitted without (a logger's 9999, a wild
spike), which a fit would otherwise take as noise and as the regressor of the next steps.

Each reading is judged, in time order, against the conjugate AR's one-step prediction from
the history before it as cleaned so far: a reading out beyond the threshold is replaced by
its prediction, so that neither it nor the readings after it are judged from it. (Judging
against a history whose faults were imputed from both sides would let a fault's successors
vouch for it: three 9999s in a row imputed each other.) Two or more readings in a row out on
one side, and not all equal, are a move of the series rather than faults, and are kept.
Equal ones are a logger's error code when they are a burst (at most MAX_BURST) or held
further from the history than CODE_JUMP times any step the series took before; otherwise
they are the new level of a stepped series (a setpoint, a valve, a mode: after a constant
stretch, any change is far outside a one-step interval), and are kept. The AR is then
refitted without the faults, and the readings judged again, until the faults settle.

The threshold is the level at which a clean Gaussian series of y's size has a FAULT_RATE
chance of one fault (so a longer series needs a farther reading), widened by the series' own
tails (FAULT_TAIL): the bursts of intermittent demand, or a heavy-tailed series' large
values, are its distribution.
Refs: Fox 1972 (additive outliers); Chen & Liu 1993 (iterated detection with re-estimation);
Martin & Thomson 1982 (robust filtering: judge, then clean, in time order).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import norm

from models.forecasting.anomalies import MAX_ROUNDS, fitted_ar
from models.forecasting.base import FloatArray, SeriesTooShort
from models.forecasting.bayes_ar import BayesianAR

# The chance that a clean series, of any length, loses a reading to `gross_faults`.
FAULT_RATE = 0.01
# Gross faults are rare: readings out as far as the series' most extreme 2% are its own.
FAULT_TAIL = 0.98
# An error code comes in a burst of a few readings (a logger retrying, a dropped link), or
# is held an order of magnitude beyond the series' own steps (9999 in a series of degrees).
MAX_BURST = 5
CODE_JUMP = 10.0
# A reading whose square overflows float64 (a corrupted value) would break any fit.
BEYOND_ARITHMETIC = 1e150


def gross_faults(y: FloatArray, seed: int = 0) -> list[dict[str, Any]]:
    """The gross faults of y ((T,) or (T, d); NaN: missing, never a fault), in time order:
    index, component, value, expected (its one-step prediction from the cleaned history),
    interval (the one it was judged by), score ((value - expected) / predictive std) and
    reason ("outside")."""
    Y = np.asarray(y, dtype=np.float64)
    Y = Y[:, None] if Y.ndim == 1 else Y
    observed = np.isfinite(Y)
    z_rate = float(norm.ppf(1.0 - FAULT_RATE / max(int(observed.sum()), 1) / 2.0))
    beyond = observed & (np.abs(Y) > BEYOND_ARITHMETIC)  # always set aside, and unfitted
    if 2 * beyond.sum() > observed.sum():
        return []  # the series' own scale is beyond float64: its fit says so, not a fault
    faults = beyond
    for _ in range(MAX_ROUNDS):
        try:
            model, complete = fitted_ar(np.where(faults, np.nan, Y), seed=seed)
        except SeriesTooShort:
            return []  # too short to tell a fault from the series: every reading is used
        history = np.where(observed & ~beyond, Y, complete)  # missing values completed
        now, judged = _judged_in_order(Y, history, model, z_rate)
        now |= beyond
        if np.array_equal(now, faults):
            break
        faults = now
    mean, std, z, limit = judged
    lower, upper = mean - limit * std, mean + limit * std
    predicted = np.isfinite(mean)  # the first readings have no prediction
    return [
        {
            "index": int(t),
            "component": int(j),
            "value": float(Y[t, j]),
            "expected": float(mean[t, j]) if predicted[t, j] else None,
            "interval": [float(lower[t, j]), float(upper[t, j])] if predicted[t, j] else None,
            "score": float(z[t, j]),
            "reason": "outside",
        }
        for t, j in zip(*np.nonzero(now), strict=True)
    ]


def as_missing(y: FloatArray, flagged: list[dict[str, Any]]) -> FloatArray:
    """y with the flagged readings set to NaN (missing)."""
    out = np.array(y, dtype=np.float64)
    grid = out[:, None] if out.ndim == 1 else out  # a view: writes reach `out`
    for f in flagged:
        grid[f["index"], f["component"]] = np.nan
    return out


Judged = tuple[FloatArray, FloatArray, FloatArray, float]


def _judged_in_order(
    Y: FloatArray, history: FloatArray, model: BayesianAR, z_rate: float
) -> tuple[np.ndarray, Judged]:
    """(T, d) faults of Y judged in time order against `model`'s one-step predictions from
    `history` (Y, complete) cleaned as it goes, with each reading's prediction mean, std and
    z-score (T, d) and the threshold on |z|. The model has no trend or seasonal terms, so a
    prediction needs only the p values before it, and each replacement is followed by the
    p predictions it changes rather than a whole pass."""
    T, d = Y.shape
    p = model.window_shape_[0]
    observed = np.isfinite(Y)
    X = np.array(history)
    mean, std = np.full((T, d), np.nan), np.full((T, d), np.nan)
    mean[p:], std[p:] = model.one_step(X)
    z = np.zeros((T, d))
    z[p:] = np.where(observed[p:], (np.nan_to_num(Y[p:]) - mean[p:]) / std[p:], 0.0)
    reference = float(norm.ppf(0.5 + FAULT_TAIL / 2.0))
    scores = np.abs(z[p:][observed[p:]])
    tail = float(np.quantile(scores, FAULT_TAIL)) if scores.size else 0.0
    limit = z_rate * max(1.0, tail / reference)
    faults = np.zeros((T, d), dtype=bool)
    t = p
    while t < T:
        rest = np.where(observed[t:], (np.nan_to_num(Y[t:]) - mean[t:]) / std[t:], 0.0)
        out = np.nonzero((np.abs(rest) > limit).any(axis=1))[0]
        if out.size == 0:
            break
        t += int(out[0])
        z[t] = rest[out[0]]
        for j in np.nonzero(np.abs(z[t]) > limit)[0].tolist():
            faults[t, j], X[t, j] = True, mean[t, j]
            run = _run_to(t, j, faults, observed, z)
            if len(run) >= 2 and not _error_code(Y[run, j], X[: run[-1], j]):  # a move
                faults[run, j], X[run, j] = False, Y[run, j]
        stop = min(T, t + 1 + p)
        mean[t + 1 : stop], std[t + 1 : stop] = model.one_step(X[t + 1 - p : stop])
        t += 1
    return faults, (mean, std, z, limit)


def _error_code(run: FloatArray, before: FloatArray) -> bool:
    """Whether readings in a row out on one side (newest first) are a logger's error code:
    equal, and a burst or far beyond every step of the cleaned history `before` them (a
    history without a step cannot tell; see the module's note)."""
    if np.ptp(run) > 0:
        return False
    steps = np.abs(np.diff(before))
    largest = float(steps.max()) if steps.size else 0.0
    jump = abs(float(run[0]) - float(before[-1])) if before.size else 0.0
    return bool(run.size <= MAX_BURST or 0.0 < CODE_JUMP * largest < jump)


def _run_to(t: int, j: int, faults: np.ndarray, observed: np.ndarray, z: FloatArray) -> list[int]:
    """The faults of component j on z's side in a row (over its observed readings) ending
    at t."""
    run = [t]
    for s in np.nonzero(observed[:t, j])[0][::-1]:
        if not faults[s, j] or np.sign(z[s, j]) != np.sign(z[t, j]):
            break
        run.append(int(s))
    return run
