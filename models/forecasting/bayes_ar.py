"""Exact conjugate Bayesian (vector) autoregression with evidence-based lag selection.

z_t = c + g t/T + sum_k (a_k sin(2 pi k t/m) + b_k cos(2 pi k t/m)) + sum_{i=1..p} A_i z_{t-i}
      + e_t,  e_t ~ N(0, Sigma),
fitted on each dimension standardised, under the MNIW prior of `mniw.py`; the lag order p
maximises the marginal likelihood on a common sample. Forecasts are posterior-predictive
Monte Carlo paths. Refs: Karlsson 2013, "Forecasting with Bayesian VAR models", sec. 3.2.1;
Harvey 1989 ch. 2 (trigonometric seasonality).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np
import torch
from numpy.typing import ArrayLike
from scipy.linalg import solve_triangular

from models.forecasting.ar_sampler import ARSampler
from models.forecasting.base import (
    FloatArray,
    NotFittedError,
    OneStepSampler,
    PathForecaster,
    Progress,
    SeriesTooShort,
    as_series,
    check_context,
    column_scale,
    hyperparameters,
)
from models.forecasting.bayes_ar_state import FittedAR, ar_coef
from models.forecasting.mniw import (
    MNIWPosterior,
    MNIWPrior,
    mniw_log_evidence,
    mniw_sample,
    mniw_update,
)
from models.forecasting.var_design import (
    deterministic_terms,
    feasible,
    lagged_design,
    rollout,
)


def noise_scale(z: FloatArray) -> FloatArray:
    """A prior guess of the one-step noise variance of each column of a standardised series
    z (T, d): the variance of its first differences, at most 1 (the series' own variance).

    The prior mean of the noise covariance is worth one observation; set to the whole
    variance (1), it swamps the noise of a persistent series (a random walk with drift's
    one-step std came out 9x too wide), so it is set near the scale of one-step changes
    instead, as Minnesota-style priors scale by univariate residual variances (Litterman
    1986; Karlsson 2013 sec. 3.2.1). For white noise the differences' variance is 2, capped
    at 1; for an AR(1) with coefficient a it is 2(1 - a), close to the innovations' 1 - a^2.
    The coefficients' prior, conditional on Sigma in the conjugate model, is rescaled with
    it (`BayesianAR.prior`), or a coefficient near 1 would count as many noise std's away
    from its prior mean and inflate the posterior noise just the same.
    """
    if z.shape[0] < 2:
        return np.ones(z.shape[1])
    noise: FloatArray = np.clip(np.var(np.diff(z, axis=0), axis=0), 1e-10, 1.0)
    return noise


BASE_MAX_LAG = 12
LONGEST_MAX_LAG = 64


def default_max_lag(season_length: float | None) -> int:
    """The largest lag order tried when none is given: two seasons (lags m + 1 and 2m carry
    a seasonal pattern that drifts, which fixed Fourier terms cannot), at least 12 and at
    most 64."""
    if season_length is None:
        return BASE_MAX_LAG
    return int(min(LONGEST_MAX_LAG, max(BASE_MAX_LAG, 2 * round(season_length))))


@dataclass
class BayesianAR(PathForecaster):
    """Conjugate Bayesian VAR(p) with intercept and optional trend / Fourier seasonality.

    max_lag: largest order tried (capped for short series; None: `default_max_lag` of the
    season length); lags: fixed order, skipping selection; season_length m and
    fourier_order K: K sin/cos pairs (used when K >= 1);
    prior_scale: prior std of lag coefficients (standardised units, relative to Sigma);
    det_prior_scale: same for intercept, trend and Fourier coefficients.
    """

    max_lag: int | None = None
    lags: int | None = None
    trend: bool = False
    season_length: float | None = None
    fourier_order: int = 0
    prior_scale: float = 3.0
    det_prior_scale: float = 100.0
    _fit: FittedAR | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_lag is not None and self.max_lag < 1:
            raise ValueError(f"max_lag must be >= 1 or None, got {self.max_lag}")
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
    def lag_limit(self) -> int:
        """max_lag, or its default for the season length."""
        return self.max_lag or default_max_lag(self.season_length)

    def top_order(self, T: int, n_regressors: int, d: int) -> int:
        """The largest lag order fit() scores on T values of dimension d with n_regressors
        deterministic and covariate columns: `lags` itself, or the longest that fits up to
        `lag_limit`; SeriesTooShort when none fits."""
        limit = self.lag_limit if self.lags is None else self.lags
        P = next((p for p in range(limit, 0, -1) if feasible(T, p, n_regressors, d)), 0)
        if P == 0 or (self.lags is not None and P != self.lags):
            raise SeriesTooShort(T, self.min_length(self.lags, self.trend, self.fourier_order, d))
        return P

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

    def prior(
        self, p: int, d: int, covariates: int = 0, noise: FloatArray | None = None
    ) -> MNIWPrior:
        """The MNIW prior of order p in dimension d with `covariates` regressors (their
        coefficients, like the lags', of prior std `prior_scale`; standardised units). The
        noise covariance has prior mean diag(noise) (`noise_scale` of the series; default
        1, the series' whole variance) with the fewest degrees of freedom that give it one."""
        det, lag = self.det_prior_scale**2, self.prior_scale**2
        v0 = np.r_[np.full(self.n_det, det), np.full(covariates + p * d, lag)]
        if noise is None:
            return MNIWPrior(v0=v0, Psi0=np.eye(d), nu0=d + 2.0)
        # B | Sigma ~ MN(0, V0, Sigma): coefficients' prior variance is Sigma times V0, so V0
        # is divided by the noise guess to keep their prior std at the scales above.
        return MNIWPrior(v0=v0 / float(np.mean(noise)), Psi0=np.diag(noise), nu0=d + 2.0)

    def deterministic(self, T: int) -> FloatArray:
        """The deterministic regressors of times 0..T-1 of a series of length T: (T, n_det)."""
        t = np.arange(T, dtype=np.float64)
        return deterministic_terms(t, T, self.trend, self.season_length, self.fourier_order)

    def regressors(
        self, T: int, covariates: ArrayLike | None
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """The deterministic terms and standardised covariates of the T rows: (T, n_det + c),
        with the covariates' centre and scale (c,)."""
        X = np.empty((T, 0)) if covariates is None else as_series(covariates, "covariates")
        if X.shape[0] != T:
            raise ValueError(f"covariates have {X.shape[0]} rows for {T} values")
        x_mu, x_sd = X.mean(axis=0), X.std(axis=0)
        x_sd = np.where(x_sd > 0, x_sd, 1.0)
        return np.hstack([self.deterministic(T), (X - x_mu) / x_sd]), x_mu, x_sd

    def fit(
        self,
        y: ArrayLike,
        *,
        progress: Progress | None = None,
        covariates: ArrayLike | None = None,
    ) -> Self:
        """Fit to y: (T,) or (T, d); selects the lag order by log evidence unless `lags`.
        covariates: (T,) or (T, c) known drivers, regressors at the same time as y (their
        future values are then needed to forecast). Exact and quick: `progress` is not
        called."""
        Yraw = as_series(y)
        T, d = Yraw.shape
        terms, x_mu, x_sd = self.regressors(T, covariates)
        c = x_mu.shape[0]
        n_det = self.n_det + c
        P = self.top_order(T, n_det, d)
        orders = [P] if self.lags is not None else list(range(1, P + 1))

        mu, sd = column_scale(Yraw)
        z = (Yraw - mu) / sd

        def design(P: int) -> tuple[FloatArray, FloatArray]:
            return lagged_design(z, P, terms[P:])

        noise = noise_scale(z)

        def prior(p: int) -> MNIWPrior:
            return self.prior(p, d, c, noise)

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

        params = {
            "model": "bayesian_ar",
            "order": p,
            "max_lag": P if self.lags is None else p,
            "log_evidence": {str(q): v for q, v in log_ev.items()},
            "n_obs": T,
            "dim": d,
            **self._summary(post, p, sd, x_sd),
        }
        self._fit = FittedAR(post, mu, sd, z[T - p :], T, params, x_mu, x_sd)
        return self

    def _summary(
        self, post: MNIWPosterior, p: int, sd: FloatArray, x_sd: FloatArray
    ) -> dict[str, Any]:
        """Settings and posterior summaries in data units: AR coefficients, noise covariance,
        and each covariate's coefficient (y per unit of the driver)."""
        c = x_sd.shape[0]
        A, A_std = ar_coef(post, self.n_det + c, p, sd)
        out: dict[str, Any] = {
            "trend": self.trend,
            "season_length": self.season_length,
            "fourier_order": self.fourier_order,
            "prior_scale": self.prior_scale,
            "ar_coef": A.tolist(),
            "ar_coef_std": A_std.tolist(),
            "noise_cov": (post.Sigma_mean * np.outer(sd, sd)).tolist(),
        }
        if c:
            scale = sd[None, :] / x_sd[:, None]
            rows = slice(self.n_det, self.n_det + c)
            out["covariate_coef"] = (post.M[rows] * scale).tolist()
            out["covariate_coef_std"] = (np.sqrt(post.coef_var[rows]) * scale).tolist()
        return out

    def _state(self) -> FittedAR:
        if self._fit is None:
            raise NotFittedError("BayesianAR is not fitted; call fit(y) first")
        return self._fit

    @property
    def params_(self) -> dict[str, Any]:
        """Fitted summary: order, log evidence per order, AR coefficients, noise covariance."""
        return self._state().params

    @property
    def log_evidence_(self) -> float:
        """Log marginal likelihood of the chosen order in data units:
        log p(y_P, ..., y_{T-1} | y_0, ..., y_{P-1}) with P = params_["max_lag"], the rows
        every order was scored on. The evidence of the standardised series less the
        log-Jacobian of the scaling, so fits of one series on other scales compare."""
        st = self._state()
        n_rows = st.T - int(st.params["max_lag"])
        standardised = float(st.params["log_evidence"][str(st.params["order"])])
        return standardised - n_rows * float(np.log(st.sd).sum())

    @property
    def ar_coef_(self) -> FloatArray:
        """Posterior mean of A_1..A_p in data units, (p, d, d): y_t = ... + sum_i A_i y_{t-i}."""
        return np.asarray(self._state().params["ar_coef"], dtype=np.float64)

    @property
    def ar_coef_std_(self) -> FloatArray:
        """Marginal posterior std of each entry of `ar_coef_`, (p, d, d)."""
        return np.asarray(self._state().params["ar_coef_std"], dtype=np.float64)

    def sample_paths(
        self,
        horizon: int,
        num_samples: int,
        seed: int = 0,
        context: ArrayLike | None = None,
        covariates: ArrayLike | None = None,
    ) -> tuple[FloatArray, FloatArray]:
        """Posterior-predictive paths and each draw's conditional-mean path, both
        (num_samples, horizon, d) in data units (what `predict` summarises).

        context: (n,) or (n, d), n >= order: forecast from its end with the fitted posterior
        (no refit). Trend and Fourier terms take the context to start where the training
        series started, so its first forecast step has time index n (the training series
        itself as context gives the same forecast as no context). covariates: (horizon, c),
        the drivers' known future, when the model was fitted with them.
        """
        st = self._state()
        T0, z_tail = st.T, st.z_tail
        if context is not None:
            C = check_context(context, st.mu.shape[0], z_tail.shape[0])
            T0, z_tail = C.shape[0], (C[C.shape[0] - z_tail.shape[0] :] - st.mu) / st.sd
        rng = np.random.default_rng(seed)
        B, U = mniw_sample(st.post, int(num_samples), rng)
        t = np.arange(T0, T0 + int(horizon), dtype=np.float64)
        D = deterministic_terms(t, st.T, self.trend, self.season_length, self.fourier_order)
        D = np.hstack([D, st.covariate_terms(covariates, int(horizon), "future")])
        Zy, Zm = rollout(B, U, z_tail, D, rng)
        return st.mu + st.sd * Zy, st.mu + st.sd * Zm

    def one_step(
        self, y: ArrayLike, covariates: ArrayLike | None = None
    ) -> tuple[FloatArray, FloatArray]:
        """The posterior one-step-ahead predictive of each y_t given the p values before it,
        t = p..T-1: its mean and std, both (T - p, d) in data units (a Gaussian approximation
        of the Student-t: Sigma's posterior mean times 1 + the row's leverage). y: a complete
        series of the fitted dimension, its times counted from where the training series
        started (the training series itself gives in-sample one-step predictions);
        covariates: theirs over the same times, when the model has them."""
        st = self._state()
        p = st.z_tail.shape[0]
        Z = (as_series(y) - st.mu) / st.sd
        t = np.arange(Z.shape[0], dtype=np.float64)
        D = deterministic_terms(t, st.T, self.trend, self.season_length, self.fourier_order)
        D = np.hstack([D, st.covariate_terms(covariates, Z.shape[0], "history")])
        X, _ = lagged_design(Z, p, D[p:])
        leverage = np.sum(solve_triangular(st.post.L, X.T, lower=True) ** 2, axis=0)
        var = (1.0 + leverage)[:, None] * np.diag(st.post.Sigma_mean)[None, :]
        return st.mu + st.sd * (X @ st.post.M), st.sd * np.sqrt(var)

    @property
    def window_shape_(self) -> tuple[int, int]:
        """(p, d): the fitted order and dimension, the window a one-step prediction needs."""
        p, d = self._state().z_tail.shape
        return int(p), int(d)

    def one_step_sampler(self, draws: int, seed: int = 0) -> OneStepSampler:
        """`draws` posterior draws (B_k, Sigma_k) as a batched one-step predictive.

        Only for models without trend or Fourier terms: those depend on absolute time,
        which a window of recent values does not carry.
        """
        st = self._state()
        if self.n_det != 1 or st.x_mu.size:
            raise ValueError(
                "one-step sampling needs a model without trend or Fourier terms "
                "(they depend on absolute time, which a window does not carry)"
            )
        if int(draws) != draws or draws < 1:
            raise ValueError(f"draws must be a positive integer, got {draws!r}")
        B, U = mniw_sample(st.post, int(draws), np.random.default_rng(seed))
        return ARSampler(*(torch.from_numpy(a) for a in (B, U, st.mu, st.sd)))

    def to_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """Hyperparameters, summary and the exact posterior (float64 tensors)."""
        st = self._state()
        meta = {
            "kind": "bayes_ar",
            "hyper": hyperparameters(self),
            "params": st.params,
            "T": st.T,
            "nu": st.post.nu,
        }
        arrays = {"M": st.post.M, "L": st.post.L, "Psi": st.post.Psi, "mu": st.mu, "sd": st.sd}
        if st.x_mu.size:
            arrays |= {"x_mu": st.x_mu, "x_sd": st.x_sd}
        tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}
        tensors["z_tail"] = torch.from_numpy(np.ascontiguousarray(st.z_tail))
        return meta, tensors

    @classmethod
    def from_state(cls, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> Self:
        """Rebuild the fitted model written by `to_state`."""
        if meta.get("kind") != "bayes_ar":
            raise ValueError(f"not a bayes_ar state: kind={meta.get('kind')!r}")
        a = {k: tensors[k].to(torch.float64).numpy() for k in ("M", "L", "Psi", "mu", "sd")}
        post = MNIWPosterior(M=a["M"], L=a["L"], Psi=a["Psi"], nu=float(meta["nu"]))
        model = cls(**meta["hyper"])
        x = {k: tensors[k].to(torch.float64).numpy() if k in tensors else np.empty(0)
             for k in ("x_mu", "x_sd")}  # fmt: skip
        model._fit = FittedAR(
            post=post,
            mu=a["mu"],
            sd=a["sd"],
            z_tail=tensors["z_tail"].to(torch.float64).numpy(),
            T=int(meta["T"]),
            params=meta["params"],
            x_mu=x["x_mu"],
            x_sd=x["x_sd"],
        )
        return model
