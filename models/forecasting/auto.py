"""Choosing a forecaster by out-of-sample CRPS on the end of the series.

Each candidate is fitted once on y[:cut] and forecasts `horizon` steps from a few rolling
origins in the held-out tail, conditioning on the data up to each origin (`context`), so no
refits. The score is the CRPS of the sampled forecast (Gneiting & Raftery 2007, a strictly
proper score: it rewards calibration and sharpness together), averaged over origins, steps
and dimensions after dividing each dimension by its training std so that scales mix fairly
(for d = 1 this only rescales, the ranking is that of raw CRPS). Cf. Hyndman &
Athanasopoulos, "Forecasting: Principles and Practice", sec. 5.10 (time-series CV).

The winner follows the one-standard-error rule (Hastie, Tibshirani & Friedman, "The Elements
of Statistical Learning", 2nd ed., sec. 7.10): candidates are listed simplest first, and the
first whose score is within one standard error of the best one's is chosen. The standard
error is that of the paired per-origin score differences, counting overlapping windows as
the non-overlapping ones they span; when they span less than two, there is no standard
error and the simplest candidate is kept. On a linear series a flexible network can match the
exact linear model to within noise, and a plain argmin would then pick either by chance;
the rule keeps the cheaper, interpretable model unless the other is clearly better.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from models.forecasting.base import FloatArray, Forecaster, Progress, SeriesTooShort, as_series
from models.forecasting.registry import KINDS, make_forecaster
from models.metrics import crps_from_samples

MAX_ORIGINS = 10
# A candidate that trains (`KindInfo.reports_progress`) takes this many times a quick one's
# share of the selection's progress: roughly their ratio of time on a few thousand values.
TRAINED_SHARE = 10.0


class Selection(NamedTuple):
    """What `select_by_crps` chose: the candidate, every scored candidate's mean scaled
    CRPS, and why any other was left out (name -> reason)."""

    choice: str
    scores: dict[str, float]
    left_out: dict[str, str]


def select_by_crps(
    y: ArrayLike,
    candidates: Mapping[str, Callable[[], Forecaster]],
    *,
    horizon: int,
    val_fraction: float = 0.2,
    num_samples: int = 200,
    seed: int = 0,
    covariates: ArrayLike | None = None,
    progress: Progress | None = None,
    shares: Mapping[str, float] | None = None,
) -> Selection:
    """The chosen candidate's name, every candidate's mean scaled CRPS (lower is better) and
    the candidates left out.

    y: (T,) or (T, d); candidates: name -> factory, simplest first (ties and differences
    within one standard error go to the earlier one). The last floor(val_fraction T) values
    are held out; up to MAX_ORIGINS evenly spaced origins o in [cut, T - h] each forecast
    h = min(horizon, held-out length) steps. Every candidate sees the same origins and
    seeds. A NaN score never wins. A candidate too short for the training part y[:cut]
    (`SeriesTooShort`) is left out of the choice and the scores, with its reason; when
    every one is,
    SeriesTooShort names the length the least demanding one needs. The caller refits the
    winner on all of y. covariates: (T, c) drivers every candidate takes (fitted on their
    history, forecast with their values over each held-out window). progress: called with
    the fraction done, each candidate taking its part of `shares` (name -> relative cost;
    default equal): nine tenths for its fit (as the fit reports it), a tenth for its
    forecasts.
    """
    Y = as_series(y)
    X = None if covariates is None else as_series(covariates, "covariates")
    T = Y.shape[0]
    if not candidates:
        raise ValueError("no candidates to select from")
    if int(horizon) != horizon or horizon < 1:
        raise ValueError(f"horizon must be a positive integer, got {horizon!r}")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must lie in (0, 1), got {val_fraction!r}")
    n_val = int(val_fraction * T)
    if n_val < 1:
        raise ValueError(f"validation tail is empty: T={T}, val_fraction={val_fraction}")
    cut = T - n_val
    h = min(int(horizon), n_val)
    n_orig = min(MAX_ORIGINS, T - h - cut + 1)
    origins = np.unique(np.round(np.linspace(cut, T - h, n_orig)).astype(int))
    scale = Y[:cut].std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)

    report = progress or (lambda _f: None)
    cost = np.array([(shares or {}).get(name, 1.0) for name in candidates])
    starts, parts = np.r_[0.0, np.cumsum(cost)[:-1]] / cost.sum(), cost / cost.sum()

    per_origin: dict[str, FloatArray] = {}  # name -> (n_origins,) mean scaled CRPS
    needs: dict[str, int] = {}  # the candidates too short for the training part

    def within(start: float, part: float) -> Progress:
        return lambda f: report(start + 0.9 * part * f)

    for start, part, (name, make) in zip(starts, parts, candidates.items(), strict=True):
        try:
            model = make().fit(
                Y[:cut], covariates=None if X is None else X[:cut], progress=within(start, part)
            )
        except SeriesTooShort as exc:  # a candidate that needs more history is left out
            needs[name] = exc.need
            report(start + part)
            continue
        crps = []
        for k, o in enumerate(origins):
            f = model.predict(
                h,
                levels=(),
                num_samples=num_samples,
                seed=seed + k,
                return_samples=True,
                context=Y[:o],
                covariates=None if X is None else X[o : o + h],
            )
            if f.samples is None:
                raise RuntimeError(f"candidate {name!r} returned no samples")
            crps.append(float(np.mean(crps_from_samples(f.samples, Y[o : o + h]) / scale)))
            report(start + part * (0.9 + 0.1 * (k + 1) / len(origins)))
        per_origin[name] = np.asarray(crps)
    if not per_origin:
        raise SeriesTooShort(T, int(np.ceil(min(needs.values()) / (1.0 - val_fraction))) + 1)
    scores = {name: float(np.mean(c)) for name, c in per_origin.items()}
    # Windows of h steps from origins closer than h apart share most of their errors: the
    # scores are worth about as many independent ones as non-overlapping windows fit in the
    # span (an equal-weight effective sample size), not one per origin. Counting each origin
    # would understate the standard error, and short series would then hand the choice to
    # a flexible candidate on one lucky stretch.
    independent = (origins[-1] - origins[0]) / h + 1
    left_out = {
        name: f"needs {need} values to fit; the {cut} before the validation tail are fewer"
        for name, need in needs.items()
    }
    return Selection(one_se_choice(per_origin, independent), scores, left_out)


def one_se_choice(per_origin: dict[str, FloatArray], independent: float | None = None) -> str:
    """First name (in order) whose mean is within one paired standard error of the lowest.

    per_origin: name -> (K,) scores on the same K origins. NaN means never win; with K = 1
    there is no standard error and the lowest mean wins. independent: how many independent
    scores the K are worth (fewer than K when the origins' windows overlap); the standard
    error divides by its square root instead of K's, and below two there is none to tell a
    clear win by, so the first finite candidate is kept.
    """
    means = {n: float(np.mean(c)) for n, c in per_origin.items()}
    finite = [n for n in means if np.isfinite(means[n])]
    if not finite:
        return next(iter(means))
    best = min(finite, key=lambda n: means[n])
    for name in finite:
        diff = per_origin[name] - per_origin[best]
        n = diff.size if independent is None else min(diff.size, independent)
        if independent is not None and n < 2:
            return name  # less than two independent scores give no standard error: no clear win
        se = float(np.std(diff, ddof=1) / np.sqrt(n)) if diff.size > 1 else 0.0
        if means[name] <= means[best] + se:
            return name
    return best


def auto_choice(
    y: ArrayLike,
    params: Mapping[str, Mapping[str, Any]],
    *,
    horizon: int,
    val_fraction: float = 0.2,
    seed: int = 0,
    kinds: Sequence[str] | None = None,
    covariates: ArrayLike | None = None,
    progress: Progress | None = None,
) -> Selection:
    """`auto`'s choice among the registry's candidate kinds (`KindInfo.auto`, simplest first;
    or those of them in `kinds`; with covariates, those that take them) by
    `select_by_crps`. params: kind -> its hyperparameters; progress: as it goes."""
    chosen = [
        k
        for k in KINDS
        if k.auto and (kinds is None or k.name in kinds) and (covariates is None or k.covariates)
    ]
    return select_by_crps(
        y,
        {k.name: partial(make_forecaster, k.name, dict(params.get(k.name, {}))) for k in chosen},
        horizon=horizon,
        val_fraction=val_fraction,
        seed=seed,
        covariates=covariates,
        progress=progress,
        shares={k.name: TRAINED_SHARE if k.reports_progress else 1.0 for k in chosen},
    )
