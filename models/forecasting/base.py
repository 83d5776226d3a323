"""The forecaster interface and the `Forecast` result shared by every model.

Uncertainty is split by the law of total variance,
Var(y) = Var_theta(E[y | theta]) + E_theta[Var(y | theta)]  (epistemic + aleatoric),
estimated from Monte Carlo sample paths. Refs: Kendall & Gal 2017, "What uncertainties
do we need in Bayesian deep learning?"; Depeweg et al. 2018 (decomposition of predictive
uncertainty).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any, Protocol, Self, runtime_checkable

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]
# Called with the fraction done (0..1) as a fit goes; an exception it raises (a cancelled
# job) stops the fit and propagates.
Progress = Callable[[float], object]


class NotFittedError(ValueError, AttributeError):
    """Raised when a forecaster is used before `fit` (an AttributeError too, like sklearn's)."""


class SeriesTooShort(ValueError):
    """Raised by `fit` for a series shorter than the model's minimum length."""

    def __init__(self, got: int, need: int) -> None:
        super().__init__(f"series too short: got T={got}, this model needs T >= {need}")
        self.got, self.need = got, need


@dataclass(frozen=True, eq=False)
class Forecast:
    """Per-step forecast; every array is (h, d) (d = series dimension, 1 for univariate)."""

    mean: FloatArray
    median: FloatArray
    std: FloatArray  # total = sqrt(epistemic^2 + aleatoric^2)
    epistemic_std: FloatArray
    aleatoric_std: FloatArray
    intervals: dict[float, tuple[FloatArray, FloatArray]]  # level in (0,100) -> (lower, upper)
    quantiles: dict[float, FloatArray]  # q in (0,1) -> values
    samples: FloatArray | None = None  # (S, h, d) when requested


@runtime_checkable
class Forecaster(Protocol):
    """`fit(y) -> self`, then `predict(h) -> Forecast`; `params_` is a JSON-able summary;
    `to_state` / `from_state` round-trip a fitted model through JSON + named tensors."""

    def fit(
        self,
        y: NDArray[Any],
        *,
        progress: Progress | None = None,
        covariates: ArrayLike | None = None,
    ) -> Self:
        """Fit to y: (T,) or (T, d). A long fit reports through `progress` as it goes (the
        registry's `reports_progress`); a quick one may call it once at the end, or never.
        covariates: (T, c) known drivers, for the kinds that take them (the registry's
        `covariates`; the others raise ValueError when given some)."""
        ...

    def predict(
        self,
        horizon: int,
        *,
        levels: Sequence[float] = (80, 95),
        quantiles: Sequence[float] = (),
        num_samples: int = 1000,
        seed: int = 0,
        return_samples: bool = False,
        context: ArrayLike | None = None,
        covariates: ArrayLike | None = None,
    ) -> Forecast:
        """Forecast `horizon` steps past the end of the training series, or of `context`
        (a series of the same dimension) with the fitted parameters; covariates: the
        drivers' future (horizon, c) when the model was fitted with them."""
        ...

    @property
    def params_(self) -> dict[str, Any]:
        """Fitted summary (JSON-serialisable)."""
        ...

    @property
    def window_shape_(self) -> tuple[int, int]:
        """(p, d): the most recent values a forecast conditions on, and the dimension."""
        ...

    def to_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """(JSON-able metadata with a "kind" key, named tensors) describing the fitted model."""
        ...

    @classmethod
    def from_state(cls, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> Self:
        """Rebuild the fitted model written by `to_state`."""
        ...


@runtime_checkable
class LibraryForecaster(Protocol):
    """A forecaster that can keep many series as a reference library (`KindInfo.library`):
    a forecast with it matches its context against the library as well as itself."""

    def fit_library(
        self, series: Sequence[ArrayLike], *, progress: Progress | None = None
    ) -> Forecaster:
        """Fit on series[0] and keep every series (same dimension) as the library."""
        ...


@runtime_checkable
class OneStepSampler(Protocol):
    """A fitted forecaster's one-step predictive for a batch of windows, with fixed
    parameter draws (`members` of them): row r of a batch always uses draw r % members, so
    a row's trajectory is that of one draw (the surrogate dynamics of a stream)."""

    @property
    def members(self) -> int:
        """Number of distinct parameter draws."""
        ...

    def __call__(
        self, W: torch.Tensor, generator: torch.Generator | None = None, noise: bool = True
    ) -> torch.Tensor:
        """W: (B, p, d) windows in data units, oldest row first -> the next value (B, d),
        float64: a draw from the predictive, or its conditional mean when noise is False.
        Noise comes from the CPU `generator` (None: torch's global one)."""
        ...


def no_covariates(kind: str, covariates: ArrayLike | None) -> None:
    """ValueError when a kind that takes no drivers is given some."""
    if covariates is not None:
        raise ValueError(f"{kind} takes no covariates (GET /v1/kinds: those with covariates)")


def hyperparameters(model: object) -> dict[str, Any]:
    """The constructor arguments of a dataclass forecaster (its `init=True` fields)."""
    return {f.name: getattr(model, f.name) for f in fields(model) if f.init}  # type: ignore[arg-type]  # forecasters are dataclasses


def as_series(y: ArrayLike, name: str = "y", missing_ok: bool = False) -> FloatArray:
    """Validate y and return it as (T, d) float64 (with `missing_ok`, NaN marks a missing
    value and only infinity is refused)."""
    try:
        Y = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from exc
    if Y.ndim == 1:
        Y = Y[:, None]
    if Y.ndim != 2:
        raise ValueError(f"{name} must be (T,) or (T, d), got shape {Y.shape}")
    if Y.shape[1] == 0:
        raise ValueError(f"{name} has zero columns")
    if missing_ok and np.isinf(Y).any():
        raise ValueError(f"{name} contains infinite values")
    if not missing_ok and not np.all(np.isfinite(Y)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return Y


def column_scale(Y: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The mean and std of each column of Y (T, d), NaN (missing) left out, that models
    standardise by. A constant column (std within 1e-12 of its mean's size) gets its mean's
    size as its std, 1 at zero: relative, so a series of values near 1e-12 is not taken for
    a constant (an absolute floor did, and its forecasts came out 10^4 times too large)."""
    mu = np.nanmean(Y, axis=0)
    sd = np.nanstd(Y, axis=0)
    size = np.where(np.abs(mu) > 0, np.abs(mu), 1.0)
    return mu, np.where(sd > 1e-12 * size, sd, size)


def check_context(context: ArrayLike, d: int, need: int) -> FloatArray:
    """Validate a prediction context: (n,) or (n, d) with n >= need -> (n, d) float64."""
    C = as_series(context, "context")
    if C.shape[1] != d:
        raise ValueError(f"context has dimension {C.shape[1]}, the model was fitted on d={d}")
    if C.shape[0] < need:
        raise ValueError(f"context too short: got {C.shape[0]} values, need >= {need}")
    return C


def check_predict_args(
    horizon: int, num_samples: int, levels: Sequence[float], quantiles: Sequence[float]
) -> None:
    """Raise ValueError on a non-positive horizon, num_samples < 2 or bad levels/quantiles."""
    if int(horizon) != horizon or horizon < 1:
        raise ValueError(f"horizon must be a positive integer, got {horizon!r}")
    if int(num_samples) != num_samples or num_samples < 2:
        raise ValueError(f"num_samples must be an integer >= 2, got {num_samples!r}")
    check_levels(levels, quantiles)


def check_levels(levels: Sequence[float], quantiles: Sequence[float]) -> None:
    """Raise ValueError unless every level is in (0, 100) and every quantile in (0, 1)."""
    for L in levels:
        if not 0.0 < float(L) < 100.0:
            raise ValueError(f"interval levels must lie in (0, 100), got {L!r}")
    for q in quantiles:
        if not 0.0 < float(q) < 1.0:
            raise ValueError(f"quantiles must lie in (0, 1), got {q!r}")


def summarize_samples(
    paths: FloatArray,
    cond_means: FloatArray,
    levels: Sequence[float] = (80, 95),
    quantiles: Sequence[float] = (),
    return_samples: bool = False,
) -> Forecast:
    """Summarise Monte Carlo forecasts into a `Forecast`.

    paths: (S, h, d) noisy sample paths, one per parameter draw theta_s.
    cond_means: (S, h, d) E[y | theta_s], the conditional-mean path under the same draw.
    Epistemic var = Var_s(cond_means); aleatoric var = mean_s (paths - cond_means)^2, an
    unbiased MC estimate of E_theta[Var(y | theta)]. Median, intervals and quantiles are
    empirical quantiles of `paths`; the level-L interval is central.
    """
    Y = np.asarray(paths, dtype=np.float64)
    M = np.asarray(cond_means, dtype=np.float64)
    if Y.ndim != 3 or Y.shape != M.shape:
        raise ValueError(
            f"paths and cond_means must both be (S, h, d); got {Y.shape} and {M.shape}"
        )
    if Y.shape[0] < 2:
        raise ValueError("need at least 2 sample paths")
    check_levels(levels, quantiles)

    epi_var = M.var(axis=0)
    alea_var = np.mean((Y - M) ** 2, axis=0)
    return _from_paths(Y, Y.mean(axis=0), epi_var, alea_var, levels, quantiles, return_samples)


def _from_paths(
    Y: FloatArray,
    mean: FloatArray,
    epi_var: FloatArray,
    alea_var: FloatArray,
    levels: Sequence[float],
    quantiles: Sequence[float],
    return_samples: bool,
) -> Forecast:
    """The `Forecast` of paths Y (S, h, d) with the given mean and variance split; median,
    central intervals and quantiles are the paths' empirical quantiles."""
    lv = [float(L) for L in levels]
    qs = [float(q) for q in quantiles]
    alphas = [(1.0 - L / 100.0) / 2.0 for L in lv]
    probs = np.array([0.5, *alphas, *(1.0 - a for a in alphas), *qs])
    Q = np.quantile(Y, probs, axis=0)  # one pass: (len(probs), h, d)
    n = len(lv)
    return Forecast(
        mean=mean,
        median=Q[0],
        std=np.sqrt(epi_var + alea_var),
        epistemic_std=np.sqrt(epi_var),
        aleatoric_std=np.sqrt(alea_var),
        intervals={L: (Q[1 + i], Q[1 + n + i]) for i, L in enumerate(lv)},
        quantiles={q: Q[1 + 2 * n + i] for i, q in enumerate(qs)},
        samples=Y if return_samples else None,
    )


def pool_forecasts(
    parts: Sequence[Forecast],
    levels: Sequence[float] = (80, 95),
    quantiles: Sequence[float] = (),
    return_samples: bool = False,
) -> Forecast:
    """One forecast from several made with samples, weighted by their sample counts.

    By the law of total variance over the parts: epistemic var = E_k[epistemic_k^2] +
    Var_k(mean_k) (the parts' disagreement is something the model does not know, less the
    Monte Carlo noise of each part's mean), aleatoric var = E_k[aleatoric_k^2]; median,
    intervals and quantiles come from the pooled paths.
    """
    if any(f.samples is None for f in parts):
        raise ValueError("every part needs its samples (predict with return_samples=True)")
    paths = [np.asarray(f.samples) for f in parts]
    w = np.array([p.shape[0] for p in paths], dtype=np.float64)
    w /= w.sum()
    Y = np.concatenate(paths)
    mean = np.einsum("k,khd->hd", w, np.stack([f.mean for f in parts]))
    # A part's mean is that of its few paths: its Monte Carlo error (total var / n) would pass
    # for disagreement between parts, so it is taken out of the spread of the means.
    spread = sum(wk * (f.mean - mean) ** 2 for wk, f in zip(w, parts, strict=True))
    noise = sum(wk * f.std**2 / len(p) for wk, f, p in zip(w, parts, paths, strict=True))
    epi_var = np.maximum(spread - noise, 0.0) + sum(
        wk * f.epistemic_std**2 for wk, f in zip(w, parts, strict=True)
    )
    alea_var = sum(wk * f.aleatoric_std**2 for wk, f in zip(w, parts, strict=True))
    check_levels(levels, quantiles)
    return _from_paths(Y, mean, epi_var, alea_var, levels, quantiles, return_samples)


def floored(
    forecast: Forecast,
    floor: float,
    levels: Sequence[float] = (80, 95),
    quantiles: Sequence[float] = (),
    return_samples: bool = False,
) -> Forecast:
    """The forecast of paths cut at `floor` (counts and amounts cannot go below zero): every
    summary recomputed from the cut paths; the epistemic and aleatoric parts shrink in
    proportion to the total std."""
    if forecast.samples is None:
        raise ValueError("flooring needs the forecast's samples (return_samples=True)")
    Y = np.maximum(forecast.samples, floor)
    ratio = Y.std(axis=0) / np.where(forecast.std > 0, forecast.std, 1.0)
    epi_var, alea_var = (forecast.epistemic_std * ratio) ** 2, (forecast.aleatoric_std * ratio) ** 2
    return _from_paths(Y, Y.mean(axis=0), epi_var, alea_var, levels, quantiles, return_samples)


def allocate_samples(weights: FloatArray, total: int) -> NDArray[np.int64]:
    """Integer counts summing to `total`, proportional to weights (largest remainders), so
    the pooled sample follows the weights without multinomial noise."""
    exact = weights * total
    counts = np.floor(exact).astype(np.int64)
    counts[np.argsort(-(exact - counts))[: total - int(counts.sum())]] += 1
    return counts


class PathForecaster:
    """A forecaster whose `predict` summarises its `sample_paths`: Monte Carlo paths of the
    posterior predictive and each one's conditional-mean path (the epistemic / aleatoric
    split). The conjugate AR kinds share this; a subclass writes `sample_paths` only."""

    def sample_paths(
        self,
        horizon: int,
        num_samples: int,
        seed: int = 0,
        context: ArrayLike | None = None,
        covariates: ArrayLike | None = None,
    ) -> tuple[FloatArray, FloatArray]:
        """Paths and their conditional means, both (num_samples, horizon, d), data units."""
        raise NotImplementedError

    def predict(
        self,
        horizon: int,
        *,
        levels: Sequence[float] = (80, 95),
        quantiles: Sequence[float] = (),
        num_samples: int = 1000,
        seed: int = 0,
        return_samples: bool = False,
        context: ArrayLike | None = None,
        covariates: ArrayLike | None = None,
    ) -> Forecast:
        """Posterior-predictive forecast; arrays are (horizon, d), samples (S, horizon, d).
        context: a series of the fitted dimension to forecast from the end of (no refit);
        covariates: (horizon, c), the drivers' known future, when fitted with them (see
        the kind's `sample_paths`)."""
        check_predict_args(horizon, num_samples, levels, quantiles)
        paths, means = self.sample_paths(horizon, num_samples, seed, context, covariates)
        return summarize_samples(paths, means, levels, quantiles, return_samples)
