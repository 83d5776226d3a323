"""Exact conjugate Bayesian (vector) autoregression with evidence-based lag selection.

z_t = c + g t/T + sum_k (a_k sin(2 pi k t/m) + b_k cos(2 pi k t/m)) + sum_{i=1..p} A_i z_{t-i}
      + e_t,  e_t ~ N(0, Sigma),
fitted on each dimension standardised, under the MNIW prior of `mniw.py`; the lag order p
maximises the marginal likelihood on a common sample. Forecasts are posterior-predictive
Monte Carlo paths. Refs: Karlsson 2013, "Forecasting with Bayesian VAR models", sec. 3.2.1;
Harvey 1989 ch. 2 (trigonometric seasonality).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np
from numpy.typing import ArrayLike

from models.forecasting.base import (
    FloatArray,
    Forecast,
    NotFittedError,
    check_levels,
    summarize_samples,
)
from models.forecasting.mniw import (
    MNIWPosterior,
    MNIWPrior,
    mniw_log_evidence,
    mniw_sample,
    mniw_update,
)


def deterministic_terms(t: FloatArray, T: int, trend: bool, m: float | None, K: int) -> FloatArray:
    """Columns [1, t/T (if trend), sin/cos(2 pi k t/m) for k = 1..K]: t (n,) -> (n, n_det)."""
    cols = [np.ones_like(t)]
    if trend:
        cols.append(t / T)
    if K > 0 and m is not None:
        for k in range(1, K + 1):
            w = 2.0 * np.pi * k * t / m
            cols += [np.sin(w), np.cos(w)]
    return np.stack(cols, axis=1)


def lagged_design(z: FloatArray, P: int, D: FloatArray) -> tuple[FloatArray, FloatArray]:
    """X = [D, z_{t-1}, ..., z_{t-P}]: (T-P, n_det + P d) and Y = z_t: (T-P, d), t = P..T-1.

    Lag 1 comes first, so the design of any order p <= P is a column prefix of X.
    z: (T, d); D: (T-P, n_det) deterministic terms for the same rows.
    """
    T = z.shape[0]
    X = np.hstack([D, *(z[P - i : T - i] for i in range(1, P + 1))])
    return X, z[P:]


def _feasible(T: int, p: int, n_det: int, d: int) -> bool:
    """Enough rows for order p: p <= (T-1)//3 and n_rows > n_regressors + 2."""
    return 1 <= p <= (T - 1) // 3 and T - p > n_det + p * d + 2


def rollout(
    B: FloatArray, U: FloatArray, z_tail: FloatArray, D: FloatArray, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray]:
    """Roll out S draws h steps ahead in standardised units (loop over steps only).

    B: (S, k, d) coefficients; U: (S, d, d) noise roots; z_tail: (p, d) last p observations,
    oldest first; D: (h, n_det) future deterministic terms.
    Returns the noisy paths and the conditional-mean paths E[z | B_s, Sigma_s], both (S, h, d).
    """
    S, _, d = B.shape
    h, n_det = D.shape
    p = z_tail.shape[0]
    B_lag = B[:, n_det:]  # (S, p d, d)
    base = D @ B[:, :n_det]  # (S, h, d)
    E = rng.standard_normal((S, h, d)) @ U.transpose(0, 2, 1)
    # Row 0 carries the noisy path, row 1 the noiseless one, so one product serves both.
    # History is stored newest-first, so each step's lag vector [z_{t-1}, ..., z_{t-p}] is a
    # contiguous slice (no copying) and the new value is written just in front of it.
    H = np.empty((S, 2, (h + p) * d))
    H[:, :, h * d :] = z_tail[::-1].reshape(-1)
    for j in range(h):
        s = (h - j) * d
        m = base[:, None, j] + np.einsum("sck,skd->scd", H[:, :, s : s + p * d], B_lag)
        m[:, 0] += E[:, j]
        H[:, :, s - d : s] = m
    out = H[:, :, : h * d].reshape(S, 2, h, d)[:, :, ::-1]
    return out[:, 0], out[:, 1]


@dataclass(frozen=True, eq=False)
class _Fitted:
    post: MNIWPosterior
    mu: FloatArray  # (d,) standardisation centre
    sd: FloatArray  # (d,) standardisation scale
    z_tail: FloatArray  # (p, d)
    T: int
    params: dict[str, Any]


@dataclass
class BayesianAR:
    """Conjugate Bayesian VAR(p) with intercept and optional trend / Fourier seasonality.

    max_lag: largest order tried (capped for short series); lags: fixed order, skipping
    selection; season_length m and fourier_order K: K sin/cos pairs (used when K >= 1);
    prior_scale: prior std of lag coefficients (standardised units, relative to Sigma);
    det_prior_scale: same for intercept, trend and Fourier coefficients.
    """

    max_lag: int = 12
    lags: int | None = None
    trend: bool = False
    season_length: float | None = None
    fourier_order: int = 0
    prior_scale: float = 3.0
    det_prior_scale: float = 100.0
    _fit: _Fitted | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_lag < 1:
            raise ValueError(f"max_lag must be >= 1, got {self.max_lag}")
        if self.lags is not None and self.lags < 1:
            raise ValueError(f"lags must be >= 1 or None, got {self.lags}")
        if self.fourier_order < 0:
            raise ValueError(f"fourier_order must be >= 0, got {self.fourier_order}")
        if self.fourier_order > 0:
            m = self.season_length
            if m is None or not m > 1:
                raise ValueError("fourier_order >= 1 needs season_length > 1")
            if 2 * self.fourier_order > m:
                raise ValueError(f"fourier_order must be <= season_length / 2 = {m / 2}")
        if not (self.prior_scale > 0 and self.det_prior_scale > 0):
            raise ValueError("prior scales must be positive")

    @property
    def n_det(self) -> int:
        """Number of deterministic regressors (intercept, trend, Fourier)."""
        return 1 + int(self.trend) + 2 * self.fourier_order

    @staticmethod
    def min_length(
        lags: int | None = None, trend: bool = False, fourier_order: int = 0, dim: int = 1
    ) -> int:
        """Smallest series length fit() accepts: T >= 3p + 1 and T - p > n_det + p d + 2,
        with p = lags (or 1 when the order is selected) and n_det = 1 + trend + 2K."""
        p = 1 if lags is None else lags
        n_det = 1 + int(trend) + 2 * fourier_order
        return max(3 * p + 1, p + n_det + p * dim + 3)

    def fit(self, y: ArrayLike) -> Self:
        """Fit to y: (T,) or (T, d); selects the lag order by log evidence unless `lags`."""
        Yraw = _as_series(y)
        T, d = Yraw.shape
        n_det = self.n_det
        if self.lags is not None:
            P = self.lags if _feasible(T, self.lags, n_det, d) else 0
            orders = [self.lags]
        else:
            P = next((p for p in range(self.max_lag, 0, -1) if _feasible(T, p, n_det, d)), 0)
            orders = list(range(1, P + 1))
        if P == 0:
            need = self.min_length(self.lags, self.trend, self.fourier_order, d)
            raise ValueError(f"series too short: got T={T}, this model needs T >= {need}")

        mu = Yraw.mean(axis=0)
        sd = Yraw.std(axis=0)
        sd = np.where(sd > 1e-12 * np.maximum(1.0, np.abs(mu)), sd, 1.0)  # constant series
        z = (Yraw - mu) / sd

        def design(P: int) -> tuple[FloatArray, FloatArray]:
            t = np.arange(P, T, dtype=np.float64)
            D = deterministic_terms(t, T, self.trend, self.season_length, self.fourier_order)
            return lagged_design(z, P, D)

        def prior(p: int) -> MNIWPrior:
            v0 = np.r_[np.full(n_det, self.det_prior_scale**2), np.full(p * d, self.prior_scale**2)]
            return MNIWPrior(v0=v0, Psi0=np.eye(d), nu0=d + 2.0)

        # Every order is scored on the same rows t = P..T-1; the Gram matrix is built once.
        X, Y = design(P)
        XtX, XtY = X.T @ X, X.T @ Y
        log_ev: dict[int, float] = {}
        for p in orders:
            k = n_det + p * d
            post = mniw_update(prior(p), X[:, :k], Y, XtX[:k, :k], XtY[:k])
            log_ev[p] = mniw_log_evidence(prior(p), post, X.shape[0])
        p = max(log_ev, key=lambda q: log_ev[q])
        if p != P:  # refit the chosen order on all the rows it can use
            X, Y = design(p)
        post = mniw_update(prior(p), X[:, : n_det + p * d], Y)

        A, A_std = _ar_coef(post, n_det, p, sd)
        Sigma = post.Sigma_mean * np.outer(sd, sd)
        params: dict[str, Any] = {
            "model": "bayesian_ar",
            "order": p,
            "max_lag": P if self.lags is None else p,
            "log_evidence": {str(q): v for q, v in log_ev.items()},
            "n_obs": T,
            "dim": d,
            "trend": self.trend,
            "season_length": self.season_length,
            "fourier_order": self.fourier_order,
            "prior_scale": self.prior_scale,
            "ar_coef": A.tolist(),
            "ar_coef_std": A_std.tolist(),
            "noise_cov": Sigma.tolist(),
        }
        self._fit = _Fitted(post=post, mu=mu, sd=sd, z_tail=z[T - p :], T=T, params=params)
        return self

    def _state(self) -> _Fitted:
        if self._fit is None:
            raise NotFittedError("BayesianAR is not fitted; call fit(y) first")
        return self._fit

    @property
    def params_(self) -> dict[str, Any]:
        """Fitted summary: order, log evidence per order, AR coefficients, noise covariance."""
        return self._state().params

    @property
    def ar_coef_(self) -> FloatArray:
        """Posterior mean of A_1..A_p in data units, (p, d, d): y_t = ... + sum_i A_i y_{t-i}."""
        return np.asarray(self._state().params["ar_coef"], dtype=np.float64)

    @property
    def ar_coef_std_(self) -> FloatArray:
        """Marginal posterior std of each entry of `ar_coef_`, (p, d, d)."""
        return np.asarray(self._state().params["ar_coef_std"], dtype=np.float64)

    def predict(
        self,
        horizon: int,
        *,
        levels: Sequence[float] = (80, 95),
        quantiles: Sequence[float] = (),
        num_samples: int = 1000,
        seed: int = 0,
        return_samples: bool = False,
    ) -> Forecast:
        """Posterior-predictive forecast; arrays are (horizon, d), samples (S, horizon, d)."""
        st = self._state()
        if int(horizon) != horizon or horizon < 1:
            raise ValueError(f"horizon must be a positive integer, got {horizon!r}")
        if int(num_samples) != num_samples or num_samples < 2:
            raise ValueError(f"num_samples must be an integer >= 2, got {num_samples!r}")
        check_levels(levels, quantiles)
        rng = np.random.default_rng(seed)
        B, U = mniw_sample(st.post, int(num_samples), rng)
        t = np.arange(st.T, st.T + int(horizon), dtype=np.float64)
        D = deterministic_terms(t, st.T, self.trend, self.season_length, self.fourier_order)
        Zy, Zm = rollout(B, U, st.z_tail, D, rng)
        return summarize_samples(
            st.mu + st.sd * Zy, st.mu + st.sd * Zm, levels, quantiles, return_samples
        )


def _as_series(y: ArrayLike) -> FloatArray:
    """Validate y and return it as (T, d) float64."""
    try:
        Y = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"y must be numeric: {exc}") from exc
    if Y.ndim == 1:
        Y = Y[:, None]
    if Y.ndim != 2:
        raise ValueError(f"y must be (T,) or (T, d), got shape {Y.shape}")
    if Y.shape[1] == 0:
        raise ValueError("y has zero columns")
    if not np.all(np.isfinite(Y)):
        raise ValueError("y contains NaN or infinite values")
    return Y


def _ar_coef(
    post: MNIWPosterior, n_det: int, p: int, sd: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Posterior mean and std of A_1..A_p, (p, d, d), undoing the standardisation.

    z_t = sum_i At_i z_{t-i} with At_i[a, b] = M[n_det + (i-1) d + b, a]; in data units
    A_i = diag(sd) At_i diag(sd)^-1.
    """
    d = sd.shape[0]
    At = post.M[n_det : n_det + p * d].reshape(p, d, d).transpose(0, 2, 1)
    Vt = post.coef_var[n_det : n_det + p * d].reshape(p, d, d).transpose(0, 2, 1)
    ratio = sd[:, None] / sd[None, :]
    return At * ratio, np.sqrt(Vt) * ratio
