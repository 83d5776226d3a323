"""An equal-weight linear pool of the two conjugate AR kinds: half the paths from
`BayesianAR`, half from `BayesianARAveraged`, both fitted with the same settings.

The averaged kind weights its candidates (scale, trend, differencing) by evidence, and with
a few hundred values the evidence puts nearly all of the weight on one of them. When every
candidate is misspecified, as on real series, that choice is overconfident, and a linear
pool of the predictive distributions hedges it (Geweke & Amisano 2011, "Optimal prediction
pools"; Hall & Mitchell 2007, "Combining density forecasts"). The CRPS is convex in the
predictive distribution, so on every series and horizon the pool scores at most the mean of
its two members' CRPS; a choice between them by a short validation tail can do worse than
either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np
import torch
from numpy.typing import ArrayLike

from models.forecasting.base import (
    FloatArray,
    NotFittedError,
    PathForecaster,
    Progress,
    allocate_samples,
    hyperparameters,
)
from models.forecasting.bayes_ar import BayesianAR
from models.forecasting.bayes_ar_bma import BayesianARAveraged
from models.seeding import derived_seed

Members = tuple[BayesianAR, BayesianARAveraged]
_PREFIXES = ("ar.", "bma.")


@dataclass
class BayesianARPool(PathForecaster):
    """BayesianAR (levels, no trend) and BayesianARAveraged pooled half and half.

    max_lag, season_length, fourier_order, prior_scale, det_prior_scale: as for BayesianAR,
    shared by both members.
    """

    max_lag: int | None = None
    season_length: float | None = None
    fourier_order: int = 0
    prior_scale: float = 3.0
    det_prior_scale: float = 100.0
    _members: Members | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._unfitted()  # the members validate the shared settings

    def _unfitted(self) -> Members:
        shared = hyperparameters(self)
        return BayesianAR(**shared), BayesianARAveraged(**shared)

    @staticmethod
    def min_length(fourier_order: int = 0, dim: int = 1) -> int:
        """That of the averaged member (its trend candidate needs the most)."""
        return BayesianARAveraged.min_length(True, fourier_order, dim)

    def fit(
        self,
        y: ArrayLike,
        *,
        progress: Progress | None = None,
        covariates: ArrayLike | None = None,
    ) -> Self:
        """Fit both members on y: (T,) or (T, d), with covariates (T, c) when given. Exact and
        quick: `progress` is not called."""
        ar, bma = self._unfitted()
        self._members = (ar.fit(y, covariates=covariates), bma.fit(y, covariates=covariates))
        return self

    def _fitted(self) -> Members:
        if self._members is None:
            raise NotFittedError("BayesianARPool is not fitted; call fit(y) first")
        return self._members

    @property
    def params_(self) -> dict[str, Any]:
        """Both members' summaries, with their weights in the pool."""
        ar, bma = self._fitted()
        return {
            "model": "bayesian_ar_pool",
            "weights": {"bayes_ar": 0.5, "bayes_ar_bma": 0.5},
            "bayes_ar": ar.params_,
            "bayes_ar_bma": bma.params_,
        }

    @property
    def log_evidence_(self) -> float:
        """log of the members' mean marginal likelihood: what a choice of season for the pool
        compares (each member scores its own rows from the same max_lag)."""
        ev = np.array([m.log_evidence_ for m in self._fitted()])
        return float(ev.max() + np.log(np.mean(np.exp(ev - ev.max()))))

    @property
    def window_shape_(self) -> tuple[int, int]:
        """(p, d): enough recent values for both members."""
        shapes = [m.window_shape_ for m in self._fitted()]
        return max(p for p, _ in shapes), shapes[0][1]

    def sample_paths(
        self,
        horizon: int,
        num_samples: int,
        seed: int = 0,
        context: ArrayLike | None = None,
        covariates: ArrayLike | None = None,
    ) -> tuple[FloatArray, FloatArray]:
        """Half of num_samples paths from each member, with their conditional means, both
        (num_samples, horizon, d); context and covariates as for the members."""
        counts = allocate_samples(np.array([0.5, 0.5]), int(num_samples))
        paths, means = [], []
        members: tuple[BayesianAR | BayesianARAveraged, ...] = self._fitted()
        for i, (member, k) in enumerate(zip(members, counts, strict=True)):
            if k:
                p, m = member.sample_paths(
                    horizon, int(k), derived_seed(seed, i), context, covariates
                )
                paths.append(p)
                means.append(m)
        return np.concatenate(paths), np.concatenate(means)

    def to_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """Hyperparameters and both members' states (tensors prefixed ar. and bma.)."""
        metas: list[dict[str, Any]] = []
        tensors: dict[str, torch.Tensor] = {}
        members: tuple[BayesianAR | BayesianARAveraged, ...] = self._fitted()
        for prefix, member in zip(_PREFIXES, members, strict=True):
            meta, ts = member.to_state()
            metas.append(meta)
            tensors |= {prefix + k: v for k, v in ts.items()}
        return {"kind": "bayes_ar_pool", "hyper": hyperparameters(self), "members": metas}, tensors

    @classmethod
    def from_state(cls, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> Self:
        """Rebuild the fitted model written by `to_state`."""
        if meta.get("kind") != "bayes_ar_pool":
            raise ValueError(f"not a bayes_ar_pool state: kind={meta.get('kind')!r}")
        model = cls(**meta["hyper"])
        states = [
            {k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix)}
            for prefix in _PREFIXES
        ]
        model._members = (
            BayesianAR.from_state(meta["members"][0], states[0]),
            BayesianARAveraged.from_state(meta["members"][1], states[1]),
        )
        return model
