"""Forecasting through missing values, for every kind.

The missing cells are drawn from their posterior under the conjugate VAR (`imputation`), and
the forecast integrates over those draws (multiple imputation, Rubin 1987): its paths pool
forecasts made from several completed series, so a gap, above all one at the end of the
series, widens the epistemic part (the spread between completions) instead of being patched
over once. How the parameters see the gaps depends on the kind:
- a kind that is quick to fit (`KindInfo.cheap_fit`) is refitted on each completion: for the
  conjugate AR kinds, pooling draws from p(theta | completion_k) over completions drawn from
  p(y_mis | y_obs) samples the posterior p(theta | y_obs) itself (the data-augmentation
  identity); the analog kind matches within each completion;
- any other kind is fitted once, on the posterior-mean completion (a neural fit per draw
  would cost draws x its training time), and forecasts from each completion as context.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np
import torch
from numpy.typing import ArrayLike

from models.forecasting.base import (
    FloatArray,
    Forecast,
    Forecaster,
    NotFittedError,
    Progress,
    allocate_samples,
    check_predict_args,
    pool_forecasts,
)
from models.forecasting.bayes_ar import BayesianAR
from models.forecasting.imputation import Imputation, impute
from models.seeding import derived_seed

COMPLETIONS = 20  # completed series a forecast integrates over


def has_gaps(y: ArrayLike) -> bool:
    """Whether y holds a missing (NaN) value."""
    return bool(np.isnan(np.asarray(y, dtype=np.float64)).any())


def leading_missing(y: ArrayLike) -> int:
    """How many of y's first rows miss every component: a record that starts late (a sensor
    installed after the export's first row). They hold nothing to fit through: as gaps they
    would be drawn from the model alone, and a season would have to be found through them."""
    seen = np.flatnonzero(~np.isnan(as_grid(y)).all(axis=1))
    return int(seen[0]) if seen.size else 0


def as_grid(y: ArrayLike) -> FloatArray:
    """y as (T, d) float64 with NaN for missing values (None included)."""
    Y = np.asarray(y, dtype=np.float64)
    return Y[:, None] if Y.ndim == 1 else Y


def imputation_template(model: object) -> BayesianAR:
    """The VAR that draws a kind's missing values: with the kind's seasonal terms when it has
    them, so a long gap follows the season instead of reverting to the mean, and as many lags
    as the kind may use (a season carried by lags m and m + 1 is drawn into the gaps too)."""
    K = int(getattr(model, "fourier_order", 0) or 0)
    m = getattr(model, "season_length", None)
    lag = getattr(model, "max_lag", None)
    if K > 0 and m:
        return BayesianAR(max_lag=lag, season_length=m, fourier_order=K)
    return BayesianAR(max_lag=lag)


@dataclass(eq=False)
class GapForecaster:
    """A kind's forecaster fitted through missing values (see the module notes).

    make: builds an unfitted forecaster of the kind; refit: refit it on each completion;
    imputation: draws of the training series' missing cells, when already made (used when
    they are of the series `fit` is given). Fitted: `imputation_`, the draws used; `model`,
    the kind fitted on the posterior-mean completion (what a model version stores); and
    `members`, the models the forecast pools (each completion's refit, or just `model`).
    """

    make: Callable[[], Forecaster]
    refit: bool
    seed: int = 0
    imputation: Imputation | None = None
    model: Forecaster = field(init=False)
    members: list[Forecaster] = field(init=False)
    imputation_: Imputation = field(init=False)

    def fit(
        self,
        y: ArrayLike,
        *,
        progress: Progress | None = None,
        covariates: ArrayLike | None = None,
    ) -> Self:
        """Draw y's missing values (unless `imputation` holds draws for this y) and fit on
        the completions (with the covariates, for a kind that takes them)."""
        Y = as_grid(y)
        imp = self.imputation
        if imp is None or not np.array_equal(imp.observed, Y, equal_nan=True):
            X = None if covariates is None else as_grid(covariates)
            imp = impute(Y, template=imputation_template(self.make()), seed=self.seed, covariates=X)
        squeeze = np.ndim(y) == 1

        def shaped(Z: FloatArray) -> FloatArray:
            return Z[:, 0] if squeeze else Z

        self.imputation_ = imp
        self.model = self.make().fit(
            shaped(imp.completed()), progress=progress, covariates=covariates
        )
        self.members = [self.model]
        if self.refit:
            self.members = [
                self.make().fit(shaped(Z), covariates=covariates) for Z in imp.spread(COMPLETIONS)
            ]
        return self

    @classmethod
    def around(cls, fitted: Forecaster, imputation: Imputation) -> GapForecaster:
        """A forecaster already fitted (a stored version), forecasting from the completions
        of a context with gaps (`imputation`, drawn for it) and through gappy contexts."""
        out = cls(lambda: fitted, refit=False, imputation=imputation)
        out.model, out.members, out.imputation_ = fitted, [fitted], imputation
        return out

    def _imputation(self) -> Imputation:
        if not hasattr(self, "imputation_"):
            raise NotFittedError("GapForecaster is not fitted; call fit(y) first")
        return self.imputation_

    @property
    def params_(self) -> dict[str, Any]:
        imp = self._imputation()
        missing = imp.missing
        return {
            **self.model.params_,
            "missing": {
                "count": int(missing.sum()),
                "fraction": float(missing.mean()),
                "method": "gibbs_data_augmentation",
                "imputation_order": imp.order,
                "completions": min(COMPLETIONS, imp.values.shape[0]),
                "parameters": "refitted on each completion"
                if self.refit
                else "fitted on the posterior-mean completion",
            },
        }

    @property
    def window_shape_(self) -> tuple[int, int]:
        return self.model.window_shape_

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
        """Pooled forecast over completions of the training series (or of `context`)."""
        options: dict[str, Any] = {
            "levels": levels,
            "quantiles": quantiles,
            "num_samples": num_samples,
            "seed": seed,
            "return_samples": return_samples,
            "covariates": covariates,
        }
        if context is not None:
            return predict_through_gaps(self.members, horizon, context, **options)
        imp = self._imputation()
        contexts: list[FloatArray | None] = [None] if self.refit else list(imp.spread(COMPLETIONS))
        return pooled_predict(self.members, contexts, horizon, **options)

    def to_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """The state of the kind fitted on the posterior-mean completion."""
        return self.model.to_state()

    @classmethod
    def from_state(cls, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> Self:
        raise TypeError("a stored version is loaded as its kind (serialize.loads)")


def predict_through_gaps(
    members: Sequence[Forecaster],
    horizon: int,
    context: ArrayLike,
    *,
    seed: int = 0,
    **kw: Any,
) -> Forecast:
    """Forecast from `context` with fitted `members` (pooled); a context with gaps is
    completed by posterior draws first, as a training series is."""
    C = np.asarray(context, dtype=np.float64)
    if not has_gaps(C):
        return pooled_predict(members, [C], horizon, seed=seed, **kw)
    imp = impute(as_grid(C), template=imputation_template(members[0]), seed=seed)
    contexts = [Z[:, 0] if C.ndim == 1 else Z for Z in imp.spread(COMPLETIONS)]
    return pooled_predict(members, contexts, horizon, seed=seed, **kw)


def pooled_predict(
    members: Sequence[Forecaster],
    contexts: Sequence[FloatArray | None],
    horizon: int,
    *,
    levels: Sequence[float] = (80, 95),
    quantiles: Sequence[float] = (),
    num_samples: int = 1000,
    seed: int = 0,
    return_samples: bool = False,
    covariates: ArrayLike | None = None,
) -> Forecast:
    """Equal shares of `num_samples` for each (member, context) pair, cycling the shorter
    list, pooled by the law of total variance (`pool_forecasts`)."""
    check_predict_args(horizon, num_samples, levels, quantiles)
    pairs = max(len(members), len(contexts))
    pairs = min(pairs, int(num_samples) // 2)  # every part needs two paths for its spread
    counts = allocate_samples(np.full(pairs, 1.0 / pairs), int(num_samples))
    parts = [
        members[k % len(members)].predict(
            horizon,
            levels=(),
            num_samples=int(n),
            seed=derived_seed(seed, k),
            return_samples=True,
            context=contexts[k % len(contexts)],
            covariates=covariates,
        )
        for k, n in enumerate(counts)
    ]
    return pool_forecasts(parts, levels, quantiles, return_samples)
