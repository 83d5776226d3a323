"""Rolling-origin backtests of any `Forecaster` (pure numerics; the loop is separate from the
per-fold scoring).

Fold k = 0..F-1 trains a fresh model on y[:o_k] and forecasts y[o_k : o_k + h], with origins
o_k = T - h - (F - 1 - k) * step; step defaults to h, so the test windows tile the end of y and
the last one ends at T. Per-step metrics average over folds and dimensions; the point forecast
is the predictive median. Refs: Tashman 2000, "Out-of-sample tests of forecasting accuracy"
(rolling origin); Hyndman & Koehler 2006 (MASE, sMAPE); Gneiting & Raftery 2007 (CRPS, interval
score); Gilpin 2023 (valid prediction time); Romano et al. 2019 (CQR nonconformity score, kept
for `conformal.py`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, Self

import numpy as np
from numpy.typing import ArrayLike

from models.forecasting.base import FloatArray, Forecast, as_series, check_levels
from models.metrics import crps_from_samples, smape_terms, valid_prediction_steps, winkler_score

VPT_THRESHOLD = 30.0  # sMAPE (0-200) above which a chaotic forecast stops being "valid"


class Backtestable(Protocol):
    """The part of the `Forecaster` interface a backtest uses (with drivers, `fit` takes
    `covariates=` and `predict` their future as `covariates=`)."""

    def fit(self, y: Any) -> Self: ...

    def predict(
        self,
        horizon: int,
        *,
        levels: Sequence[float] = ...,
        num_samples: int = ...,
        seed: int = ...,
        return_samples: bool = ...,
    ) -> Forecast: ...


@dataclass(frozen=True, eq=False)
class FoldScores:
    """Scores of one fold; every array is (h, d) unless noted."""

    crps: FloatArray
    abs_scaled_error: FloatArray  # |y - median| / in-sample one-step (or lag-m) naive MAE
    smape: FloatArray  # per-entry sMAPE terms, 0-200
    covered: dict[float, FloatArray]  # level -> 0/1
    interval_score: dict[float, FloatArray]  # level -> Winkler score
    cqr: dict[float, FloatArray]  # level -> max(lower - y, y - upper)
    half_width: dict[float, FloatArray]  # level -> (upper - lower) / 2
    residual: FloatArray  # y - median
    vpt_steps: int


def score_fold(
    fc: Forecast, y_test: FloatArray, y_train: FloatArray, levels: Sequence[float], mase_lag: int
) -> FoldScores:
    """Score one forecast `fc` (with samples (S, h, d)) against y_test (h, d).

    y_train (T_k, d) supplies the MASE scale mean|y_t - y_{t-m}| per dimension. A missing
    (NaN) test value scores NaN everywhere: it is left out of the means, never counted as a
    miss.
    """
    if fc.samples is None:
        raise ValueError("the forecaster returned no samples; CRPS needs return_samples=True")
    if fc.samples.shape[1:] != y_test.shape:
        raise ValueError(
            f"forecast samples {fc.samples.shape} do not match the test window {y_test.shape}"
        )
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a column with no observed pair
        scale = np.nanmean(np.abs(y_train[mase_lag:] - y_train[:-mase_lag]), axis=0)  # (d,)
    missing = np.isnan(y_test)
    resid = y_test - fc.median
    with np.errstate(divide="ignore", invalid="ignore"):
        ase = np.abs(resid) / scale
    covered, wink, cqr, half = {}, {}, {}, {}
    for L in levels:
        lo, hi = fc.intervals[float(L)]
        covered[float(L)] = np.where(missing, np.nan, (lo <= y_test) & (y_test <= hi))
        wink[float(L)] = winkler_score(lo, hi, y_test, float(L))
        cqr[float(L)] = np.maximum(lo - y_test, y_test - hi)
        half[float(L)] = (hi - lo) / 2.0
    return FoldScores(
        crps=crps_from_samples(fc.samples, y_test),
        abs_scaled_error=ase,
        smape=np.where(missing, np.nan, smape_terms(y_test, fc.median)),
        covered=covered,
        interval_score=wink,
        cqr=cqr,
        half_width=half,
        residual=resid,
        vpt_steps=valid_prediction_steps(y_test, fc.median, VPT_THRESHOLD),
    )


@dataclass(frozen=True, eq=False)
class BacktestResult:
    """Rolling-origin scores. Per-step arrays are (h,), averaged over folds and dimensions.

    residuals: (F, h, d) y - median per fold. scores: level -> (F d, h) CQR nonconformity
    scores max(lower_L - y, y - upper_L), row f d + j = fold f, dimension j (the input of
    `conformal.conformal_adjust`); half_widths: level -> (F d, h) (upper_L - lower_L)/2, same
    layout (for normalised scores). vpt: mean over folds of the valid prediction time in
    Lyapunov times (None without `lyapunov_time`); vpt_folds: (F,) per fold.
    """

    horizon: int
    levels: tuple[float, ...]
    origins: tuple[int, ...]
    crps: FloatArray
    mase: FloatArray
    smape: FloatArray
    coverage: dict[float, FloatArray]
    interval_score: dict[float, FloatArray]
    residuals: FloatArray
    scores: dict[float, FloatArray]
    half_widths: dict[float, FloatArray]
    vpt: float | None = None
    vpt_folds: FloatArray | None = None

    @property
    def folds(self) -> int:
        return len(self.origins)

    @property
    def overall(self) -> dict[str, float]:
        """Means over steps: crps, mase, smape, coverage_L, interval_score_L (and vpt)."""
        out = {"crps": float(nanmean(self.crps)), "mase": float(nanmean(self.mase))}
        out["smape"] = float(nanmean(self.smape))
        for L in self.levels:
            out[f"coverage_{L:g}"] = float(nanmean(self.coverage[L]))
            out[f"interval_score_{L:g}"] = float(nanmean(self.interval_score[L]))
        if self.vpt is not None:
            out["vpt"] = self.vpt
        return out

    def to_dict(self, arrays: bool = True) -> dict[str, Any]:
        """JSON-able summary (NaN, a score with no observed value behind it, as None);
        `arrays=False` leaves out residuals, scores and half-widths."""
        out: dict[str, Any] = {
            "horizon": self.horizon,
            "folds": self.folds,
            "origins": list(self.origins),
            "levels": list(self.levels),
            "overall": self.overall,
            "per_step": {
                "crps": self.crps.tolist(),
                "mase": self.mase.tolist(),
                "smape": self.smape.tolist(),
                **{f"coverage_{L:g}": self.coverage[L].tolist() for L in self.levels},
                **{f"interval_score_{L:g}": self.interval_score[L].tolist() for L in self.levels},
            },
            "vpt": self.vpt,
            "vpt_folds": None if self.vpt_folds is None else self.vpt_folds.tolist(),
        }
        if arrays:
            out["residuals"] = self.residuals.tolist()
            out["scores"] = {f"{L:g}": self.scores[L].tolist() for L in self.levels}
            out["half_widths"] = {f"{L:g}": self.half_widths[L].tolist() for L in self.levels}
        cleaned: dict[str, Any] = _nan_to_none(out)
        return cleaned


def rolling_origin(
    y: ArrayLike,
    make_model: Callable[[], Backtestable],
    *,
    horizon: int,
    folds: int,
    levels: Sequence[float] = (80, 95),
    num_samples: int = 500,
    seed: int = 0,
    lyapunov_time: float | None = None,
    dt: float = 1.0,
    progress: Callable[[float], object] | None = None,
    step: int | None = None,
    mase_lag: int = 1,
    min_train: int = 2,
    covariates: ArrayLike | None = None,
) -> BacktestResult:
    """Rolling-origin evaluation of `make_model()` on y: (T,) or (T, d), with `covariates`
    (T, c), known drivers, when given: each fold fits with theirs up to its origin and takes
    theirs over its horizon as their known future.

    Fold k fits a fresh model on y[:o_k] and draws `num_samples` paths (seed + k) for `horizon`
    steps; origins are spaced by `step` (default: horizon) and the last forecast ends at T.
    MASE scale: in-sample MAE of the lag-`mase_lag` naive forecast on each fold's training part
    (1: one-step naive). VPT (when `lyapunov_time` is given): first step whose sMAPE over dims
    exceeds 30, times dt / lyapunov_time (a fold that never exceeds it counts the full horizon).
    `progress(fraction)` runs after each fold and may raise to cancel. `min_train` is the
    shortest training part allowed (>= mase_lag + 1); a model that rejects its training part is
    reported with the fold and its length.
    """
    Y = as_series(y, missing_ok=True)
    T = Y.shape[0]
    h = _positive_int(horizon, "horizon")
    F = _positive_int(folds, "folds")
    s = h if step is None else _positive_int(step, "step")
    m = _positive_int(mase_lag, "mase_lag")
    if int(num_samples) != num_samples or num_samples < 2:
        raise ValueError(f"num_samples must be an integer >= 2, got {num_samples!r}")
    check_levels(levels, ())
    lv = tuple(float(L) for L in levels)
    if lyapunov_time is not None and not lyapunov_time > 0:
        raise ValueError(f"lyapunov_time must be positive, got {lyapunov_time!r}")
    if not dt > 0:
        raise ValueError(f"dt must be positive, got {dt!r}")
    min_train = max(int(min_train), m + 1)
    C = None if covariates is None else as_series(covariates, "covariates")
    if C is not None and C.shape[0] != T:
        raise ValueError(f"covariates have {C.shape[0]} rows for {T} values")
    origins = tuple(T - h - (F - 1 - k) * s for k in range(F))
    if origins[0] < min_train:
        need = min_train + h + (F - 1) * s
        raise ValueError(
            f"not enough data: {F} folds of horizon {h} spaced by {s} need T >= {need} "
            f"(>= {min_train} training points in the first fold), got T={T}"
        )

    per_fold: list[FoldScores] = []
    for k, o in enumerate(origins):
        train = Y[:o, 0] if np.ndim(y) == 1 else Y[:o]
        drivers = {} if C is None else {"covariates": C[:o]}
        ahead = {} if C is None else {"covariates": C[o : o + h]}
        try:
            model = make_model().fit(train, **drivers)
        except ValueError as exc:
            raise ValueError(
                f"fold {k + 1}/{F} (origin {o}): the model rejected its {o}-point training "
                f"part: {exc}"
            ) from exc
        fc = model.predict(
            h, levels=lv, num_samples=int(num_samples), seed=seed + k, return_samples=True,
            **ahead,
        )  # fmt: skip
        per_fold.append(score_fold(fc, Y[o : o + h], Y[:o], lv, m))
        if progress is not None:
            progress((k + 1) / F)

    def avg(get: Callable[[FoldScores], FloatArray]) -> FloatArray:
        # (F, h, d) -> (h,), over the observed test values (NaN: none observed at that step)
        return nanmean([get(f) for f in per_fold], axis=(0, 2))

    def avg_by_level(
        get: Callable[[FoldScores], dict[float, FloatArray]],
    ) -> dict[float, FloatArray]:
        return {L: avg(lambda f: get(f)[L]) for L in lv}  # noqa: B023  # called at once

    vpt_folds = None
    if lyapunov_time is not None:
        vpt_folds = np.array([f.vpt_steps * dt / lyapunov_time for f in per_fold])
    return BacktestResult(
        horizon=h,
        levels=lv,
        origins=origins,
        crps=avg(lambda f: f.crps),
        mase=avg(lambda f: f.abs_scaled_error),
        smape=avg(lambda f: f.smape),
        coverage=avg_by_level(lambda f: f.covered),
        interval_score=avg_by_level(lambda f: f.interval_score),
        residuals=np.stack([f.residual for f in per_fold]),
        scores={L: np.concatenate([f.cqr[L].T for f in per_fold]) for L in lv},
        half_widths={L: np.concatenate([f.half_width[L].T for f in per_fold]) for L in lv},
        vpt=None if vpt_folds is None else float(vpt_folds.mean()),
        vpt_folds=vpt_folds,
    )


def _nan_to_none(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _nan_to_none(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_nan_to_none(v) for v in x]
    return None if isinstance(x, float) and x != x else x


def nanmean(a: ArrayLike, axis: int | tuple[int, ...] | None = None) -> FloatArray:
    """The mean over the non-NaN entries; NaN, quietly, where there are none."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(np.nanmean(np.asarray(a, dtype=np.float64), axis=axis))


def _positive_int(x: object, name: str) -> int:
    if isinstance(x, bool) or not isinstance(x, int | np.integer) or x < 1:
        raise ValueError(f"{name} must be a positive integer, got {x!r}")
    return int(x)
