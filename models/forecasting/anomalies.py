"""Past readings that the series itself says are unlikely: sensor faults in the history.

Two kinds of evidence, each at a false-flag rate of 1 - level/100:
- outside: a value outside its one-step-ahead predictive interval under the conjugate AR
  (`BayesianAR.one_step`). A fault also spoils the model that judges it (a spike inflates the
  noise estimate and is the regressor of the next steps), so the check is iterated: gross
  outliers (beyond `GROSS_Z`) are treated as missing, drawn from their posterior
  (`imputation`), the AR is refitted on the completed series, and every reading is judged
  again against predictions made from the cleaned history, until those outliers settle.
- repeated: a run of exactly equal readings longer than the series' own rate of repeats
  makes plausible (a stuck sensor): a run of L equal values is flagged when, at the observed
  repeat rate r, T r^(L-1) chance runs would be expected fewer than 1 - level/100 times.
  Quantised series (counts) repeat often, so only long runs count there.
Refs: Fox 1972, "Outliers in time series" (innovational vs additive outliers); Chen & Liu
1993 (iterative detection with re-estimation).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import norm

from models.forecasting.base import FloatArray
from models.forecasting.bayes_ar import BayesianAR
from models.forecasting.imputation import impute

MAX_ROUNDS = 4
# Only readings this far out are set aside when refitting: a clean series' own tail beyond
# the flagging threshold stays in, so the noise scale is not shrunk by the cleaning.
GROSS_Z = 4.0


def find_anomalies(
    y: FloatArray,
    level: float = 99.0,
    template: BayesianAR | None = None,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Flagged readings of y: (T, d) (NaN: missing, never flagged), in time order: index,
    component, value, expected, interval (the level-% one-step interval), score (the
    reading's z-score against that prediction) and reason ("outside" or "repeated")."""
    Y = np.asarray(y, dtype=np.float64)
    observed = np.isfinite(Y)
    z_q = float(norm.ppf(0.5 + level / 200.0))
    gross = np.zeros_like(observed)
    for _ in range(MAX_ROUNDS):
        mean, std, p = _one_step(np.where(gross, np.nan, Y), template, seed)
        z = np.zeros_like(Y)
        z[p:] = np.where(observed[p:], (np.nan_to_num(Y[p:]) - mean) / std, 0.0)
        now = np.abs(z) > max(z_q, GROSS_Z)
        if np.array_equal(now, gross):
            break
        gross = now
    flagged = np.abs(z) > z_q
    repeated = _stuck_runs(Y, 1.0 - level / 100.0)
    out = []
    for t, j in zip(*np.nonzero(flagged | repeated), strict=True):
        m, s = (mean[t - p, j], std[t - p, j]) if t >= p else (np.nan, np.nan)
        out.append(
            {
                "index": int(t),
                "component": int(j),
                "value": float(Y[t, j]),
                "expected": None if np.isnan(m) else float(m),
                "interval": None if np.isnan(m) else [float(m - z_q * s), float(m + z_q * s)],
                "score": float(z[t, j]),
                "reason": "outside" if flagged[t, j] else "repeated",
            }
        )
    return out


def _one_step(
    Y: FloatArray, template: BayesianAR | None, seed: int
) -> tuple[FloatArray, FloatArray, int]:
    """The AR's one-step predictive mean and std (T - p, d) from the history with NaN cells
    completed by their posterior mean, and p."""
    model, complete = fitted_ar(Y, template, seed)
    mean, std = model.one_step(complete)
    return mean, std, model.window_shape_[0]


def fitted_ar(
    Y: FloatArray, template: BayesianAR | None = None, seed: int = 0
) -> tuple[BayesianAR, FloatArray]:
    """The conjugate AR (with the template's seasonal terms) fitted on Y (T, d) with its NaN
    cells completed by their posterior mean, and that completion."""
    complete = impute(Y, template=template, seed=seed).completed() if np.isnan(Y).any() else Y
    model = BayesianAR(
        season_length=template.season_length if template else None,
        fourier_order=template.fourier_order if template else 0,
    ).fit(complete)
    return model, complete


def _stuck_runs(Y: FloatArray, alpha: float) -> np.ndarray:
    """(T, d): True on the repeats of runs of equal readings too long to be chance, at a value
    the series takes nowhere else: one it keeps coming back to (a pump's 0 when off, a
    saturated reading) is a state of the process, not a frozen sensor."""
    T, d = Y.shape
    out = np.zeros((T, d), dtype=bool)
    for j in range(d):
        x = Y[:, j]
        same = np.isfinite(x[1:]) & (x[1:] == x[:-1])
        rate = max(float(same.mean()), 1.0 / T)
        start = 0
        for t in range(1, T + 1):
            if t < T and same[t - 1]:
                continue
            length = t - start  # readings start..t-1 are equal
            if length >= 3 and T * rate ** (length - 1) < alpha:
                elsewhere = np.count_nonzero(x == x[start]) > length
                out[start + 1 : t, j] = not elsewhere
            start = t
    return out
