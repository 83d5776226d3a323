"""Bayesian model averaging of conjugate AR fits over scale, differencing and trend.

Candidates: the series as given or its logarithm (when every value is positive), each
modelled in levels (with and without a linear trend), in first differences (a unit root;
the intercept is the drift) and, with a whole season length m shorter than the common
order P, in seasonal differences y_t - y_{t-m} and in both (a seasonal unit root: the
seasonal pattern evolves instead of repeating, as in the airline model; no Fourier terms,
the differencing removes a fixed pattern). Every candidate is a `BayesianAR` scored by its
exact marginal likelihood of the same observations y_P..y_{T-1} given the first P, in the
units of y: the log scale adds the change-of-variables term -sum log y_t, and differencing
(given the previous values) has Jacobian 1. Posterior weights are proportional to
exp(log evidence) under a uniform prior over candidates; forecasts pool each candidate's
posterior-predictive paths in proportion to its weight. Refs: Box & Cox 1964 (likelihood of
a transformed series); Hoeting et al. 1999, "Bayesian model averaging: a tutorial"; Box &
Jenkins 1970 ch. 9 (seasonal differencing).
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
    SeriesTooShort,
    allocate_samples,
    as_series,
    check_context,
    hyperparameters,
)
from models.forecasting.bayes_ar import BayesianAR
from models.forecasting.var_design import feasible
from models.seeding import derived_seed

MIN_WEIGHT = 1e-4  # candidates below this posterior weight are dropped (and not stored)
_LOG_CAP = 700.0  # exp() of a runaway log-scale path stays finite


def difference_operator(first: bool, seasonal: int) -> FloatArray:
    """Coefficients c_0..c_D (c_0 = 1) of (1 - B)^first (1 - B^seasonal), B the lag
    operator: the differenced series is w_t = sum_k c_k x_{t-k}."""
    c = np.ones(1)
    for lag in [1] * int(first) + [seasonal] * bool(seasonal):
        c = np.r_[c, np.zeros(lag)] - np.r_[np.zeros(lag), c]
    return c


def apply_difference(X: FloatArray, c: FloatArray) -> FloatArray:
    """w_t = sum_k c_k X_{t-k} for t = D..T-1: X (T, d) -> (T - D, d)."""
    D, T = c.size - 1, X.shape[0]
    w = np.zeros((T - D, X.shape[1]))
    for k in np.flatnonzero(c):
        w += c[k] * X[D - k : T - k]
    return w


def integrate(W: FloatArray, last: FloatArray, c: FloatArray) -> FloatArray:
    """Undo `apply_difference` forward: x_t = w_t - sum_{k>=1} c_k x_{t-k}. W (S, h, d)
    differenced paths, last (D, d) the values before them, oldest first -> (S, h, d)."""
    D = c.size - 1
    S, h, d = W.shape
    x = np.empty((S, D + h, d))
    x[:, :D] = last
    lags = np.flatnonzero(c[1:]) + 1
    for j in range(h):
        t = D + j
        x[:, t] = W[:, j] - np.tensordot(x[:, t - lags], c[lags], axes=([1], [0]))
    return x[:, D:]


@dataclass(frozen=True, eq=False)
class _Candidate:
    log: bool
    difference: bool
    seasonal: int  # seasonal difference lag m, 0 for none
    trend: bool
    weight: float
    log_evidence: float
    last: FloatArray  # (D, d) last training values on the candidate's scale (differencing)
    model: BayesianAR

    @property
    def operator(self) -> FloatArray:
        return difference_operator(self.difference, self.seasonal)

    def summary(self) -> dict[str, Any]:
        return {
            "log": self.log,
            "difference": self.difference,
            "seasonal_difference": self.seasonal or None,
            "trend": self.trend,
            "weight": self.weight,
            "log_evidence": self.log_evidence,
            "order": self.model.params_["order"],
        }


@dataclass
class BayesianARAveraged(PathForecaster):
    """Evidence-weighted average of BayesianAR fits on y or log y, in levels or differences.

    max_lag, season_length, fourier_order, prior_scale, det_prior_scale: as for BayesianAR;
    log / difference / trend: include the log-scale / first-difference / linear-trend
    candidates; seasonal_difference: the seasonal-difference ones, when season_length is a
    whole number m with m < P (the common order: max_lag, or less for a short series).
    """

    max_lag: int | None = None
    season_length: float | None = None
    fourier_order: int = 0
    prior_scale: float = 3.0
    det_prior_scale: float = 100.0
    log: bool = True
    difference: bool = True
    trend: bool = True
    seasonal_difference: bool = True
    _candidates: list[_Candidate] = field(default_factory=list, init=False, repr=False)
    _fit_info: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self._ar(self.max_lag, trend=self.trend)  # BayesianAR validates the shared settings

    def _ar(self, max_lag: int | None, trend: bool, fourier: bool = True) -> BayesianAR:
        return BayesianAR(
            max_lag=max_lag,
            trend=trend,
            season_length=self.season_length if fourier else None,
            fourier_order=self.fourier_order if fourier else 0,
            prior_scale=self.prior_scale,
            det_prior_scale=self.det_prior_scale,
        )

    @staticmethod
    def min_length(trend: bool = True, fourier_order: int = 0, dim: int = 1) -> int:
        """Shortest series fit() accepts (that of its largest level candidate)."""
        return BayesianAR.min_length(None, trend, fourier_order, dim)

    def fit(
        self,
        y: ArrayLike,
        *,
        progress: Progress | None = None,
        covariates: ArrayLike | None = None,
    ) -> Self:
        """Fit every candidate on y: (T,) or (T, d) and weight them by evidence. covariates:
        (T, c) known drivers, regressors of the level candidates (differenced candidates are
        then left out: a driver acts on the level). Exact and quick: `progress` is not
        called."""
        Y = as_series(y)
        T, d = Y.shape
        n_det = 1 + int(self.trend) + 2 * self.fourier_order
        # One P for all: every candidate scores the same rows t = P..T-1.
        limit = self._ar(self.max_lag, self.trend).lag_limit
        P = next((p for p in range(limit, 0, -1) if feasible(T, p, n_det, d)), 0)
        if P == 0:
            raise SeriesTooShort(T, self.min_length(self.trend, self.fourier_order, d))
        scales = [False, True] if self.log and bool(np.all(Y > 0)) else [False]
        fits: list[tuple[bool, bool, int, bool, FloatArray, BayesianAR, float]] = []
        for log in scales:
            X = np.log(Y) if log else Y
            jacobian = -float(np.log(Y[P:]).sum()) if log else 0.0
            for trend in [False, True] if self.trend else [False]:
                m = self._ar(P, trend).fit(X, covariates=covariates)
                fits.append((log, False, 0, trend, X[-1:], m, m.log_evidence_ + jacobian))
            if covariates is not None:
                continue  # a driver acts on the level
            for first, seasonal in self._differencings(P):
                c = difference_operator(first, seasonal)
                D = c.size - 1
                m = self._ar(P - D, False, fourier=not seasonal).fit(apply_difference(X, c))
                fits.append((log, first, seasonal, False, X[-D:], m, m.log_evidence_ + jacobian))
        ev = np.array([f[-1] for f in fits])
        w = np.exp(ev - ev.max())
        w /= w.sum()
        keep = w >= MIN_WEIGHT
        w = np.where(keep, w, 0.0) / w[keep].sum()
        self._candidates = [
            _Candidate(log, first, seasonal, trend, float(wi), float(e), last, m)
            for (log, first, seasonal, trend, last, m, e), wi in zip(fits, w, strict=True)
            if wi > 0
        ]
        # The mixture's marginal likelihood under the uniform prior over candidates.
        log_ev = float(ev.max() + np.log(np.mean(np.exp(ev - ev.max()))))
        self._fit_info = {
            "n_obs": T,
            "dim": d,
            "max_lag": P,
            "tried": len(fits),
            "log_evidence": log_ev,
        }
        return self

    def _differencings(self, P: int) -> list[tuple[bool, int]]:
        """(first difference, seasonal lag) of the differenced candidates that fit in P."""
        out = [(True, 0)] if self.difference and P >= 2 else []
        m = self.season_length
        if self.seasonal_difference and m is not None and float(m).is_integer():
            firsts = (False, True) if self.difference else (False,)
            out += [(first, int(m)) for first in firsts if int(m) + first < P]
        return out

    def _fitted(self) -> list[_Candidate]:
        if not self._candidates:
            raise NotFittedError("BayesianARAveraged is not fitted; call fit(y) first")
        return self._candidates

    @property
    def params_(self) -> dict[str, Any]:
        """Candidates kept (scale, differencing, trend, weight, evidence, order), best first."""
        cands = sorted(self._fitted(), key=lambda c: -c.weight)
        return {
            "model": "bayesian_ar_bma",
            **self._fit_info,
            "candidates": [c.summary() for c in cands],
        }

    @property
    def log_evidence_(self) -> float:
        """log p(y_P, ..., y_{T-1} | y_0, ..., y_{P-1}) averaged over the candidates (uniform
        prior), in the units of y: what a choice between settings of this kind compares."""
        self._fitted()
        return float(self._fit_info["log_evidence"])

    @property
    def window_shape_(self) -> tuple[int, int]:
        """(p, d): enough recent values for every candidate (D more for a differenced one)."""
        cands = self._fitted()
        p = max(c.model.window_shape_[0] + c.operator.size - 1 for c in cands)
        return p, cands[0].model.window_shape_[1]

    def sample_paths(
        self,
        horizon: int,
        num_samples: int,
        seed: int = 0,
        context: ArrayLike | None = None,
        covariates: ArrayLike | None = None,
    ) -> tuple[FloatArray, FloatArray]:
        """The pooled paths and each one's conditional-mean path, both (num_samples, horizon,
        d) in data units (what `predict` summarises): num_samples split across candidates by
        weight. A log-scale candidate's conditional-median path exp(E[log y | theta]) stands
        in for its conditional mean in the epistemic / aleatoric split."""
        cands = self._fitted()
        C = None
        if context is not None:
            C = check_context(context, cands[0].model.window_shape_[1], self.window_shape_[0])
            if any(c.log for c in cands) and not bool(np.all(C > 0)):
                raise ValueError("context must be positive: the model forecasts on a log scale")
        counts = allocate_samples(np.array([c.weight for c in cands]), int(num_samples))
        paths, means = [], []
        for i, (c, k) in enumerate(zip(cands, counts, strict=True)):
            if k == 0:
                continue
            op = c.operator
            last, ctx = c.last, None
            if C is not None:  # the context on the candidate's scale, differenced like y was
                X = np.log(C) if c.log else C
                last, ctx = X[X.shape[0] - op.size + 1 :], apply_difference(X, op)
            Yp, Ym = c.model.sample_paths(horizon, int(k), derived_seed(seed, i), ctx, covariates)
            if op.size > 1:
                Yp, Ym = integrate(Yp, last, op), integrate(Ym, last, op)
            if c.log:
                Yp, Ym = np.exp(np.minimum(Yp, _LOG_CAP)), np.exp(np.minimum(Ym, _LOG_CAP))
            paths.append(Yp)
            means.append(Ym)
        return np.concatenate(paths), np.concatenate(means)

    def to_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """Hyperparameters and every kept candidate's exact posterior (tensors prefixed c{i}.)."""
        metas: list[dict[str, Any]] = []
        tensors: dict[str, torch.Tensor] = {}
        for i, c in enumerate(self._fitted()):
            meta, ts = c.model.to_state()
            metas.append(c.summary() | {"last": c.last.tolist(), "state": meta})
            tensors |= {f"c{i}.{k}": v for k, v in ts.items()}
        meta = {
            "kind": "bayes_ar_bma",
            "hyper": hyperparameters(self),
            "fit": self._fit_info,
            "candidates": metas,
        }
        return meta, tensors

    @classmethod
    def from_state(cls, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> Self:
        """Rebuild the fitted model written by `to_state`."""
        if meta.get("kind") != "bayes_ar_bma":
            raise ValueError(f"not a bayes_ar_bma state: kind={meta.get('kind')!r}")
        model = cls(**meta["hyper"])
        cands = []
        for i, m in enumerate(meta["candidates"]):
            prefix = f"c{i}."
            ts = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
            ar = BayesianAR.from_state(m["state"], ts)
            seasonal = int(m.get("seasonal_difference") or 0)  # absent from older versions
            last = np.asarray(m["last"], dtype=np.float64).reshape(-1, ar.window_shape_[1])
            cands.append(
                _Candidate(
                    bool(m["log"]),
                    bool(m["difference"]),
                    seasonal,
                    bool(m["trend"]),
                    float(m["weight"]),
                    float(m["log_evidence"]),
                    last,
                    ar,
                )
            )
        if not cands:
            raise ValueError("a bayes_ar_bma state needs at least one candidate")
        model._candidates, model._fit_info = cands, dict(meta["fit"])
        return model
