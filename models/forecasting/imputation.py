"""Posterior draws of a series' missing values under the conjugate Bayesian VAR.

Data augmentation (Tanner & Wong 1987; for autoregressions with missing values, McCulloch &
Tsay 1994): a Gibbs sampler alternating
    theta ~ p(theta | y_obs, y_mis)   the exact MNIW posterior of the completed series, and
    y_mis ~ p(y_mis | theta, y_obs)   Gaussian, drawn exactly.
Given theta the VAR(p)'s density of the whole series (conditional on its first p values) is
a Gaussian Markov random field whose precision is block-banded, p steps wide in time, so the
missing cells' conditional is a banded Gaussian, factored with a banded Cholesky in
O(n_missing x bandwidth^2). The kept draws of the completed series carry the uncertainty of
what was not observed: a forecaster fitted on each of them, or forecasting from each of them,
has a posterior that accounts for the gaps instead of one interpolation treated as data.
The lag order is a Gibbs step too, drawn from its posterior given the completed series
(uniform prior over 1..P, every order scored on the same rows), so the kept draws integrate
over it. The chain starts at the largest order: an order chosen once on the linearly
interpolated series (its straight lines across the gaps favour an AR(1)) locked a short
seasonal series with many gaps into an AR(1), whose draws then never showed the season
again (bench/missing_data.py: air passengers, 30% missing, a forecast with 7x the CRPS of
the complete data's). A model with fixed `lags` keeps them. The sampler never treats an
interpolated value as observed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.linalg import cholesky_banded, solve_banded

from models.forecasting.base import FloatArray, column_scale, hyperparameters
from models.forecasting.bayes_ar import BayesianAR, noise_scale
from models.forecasting.mniw import mniw_nested_log_evidence, mniw_sample, mniw_update
from models.forecasting.seasons import grid_periods_that_fit, shared_max_lag
from models.forecasting.var_design import lagged_design

# The first p values enter the conditional likelihood only as lags, so a gap there gets the
# series' own marginal N(0, 1) (standardised units) as its prior; later cells a vague
# N(0, 10^2), negligible where the AR pins them down, which keeps every conditional proper.
_VAGUE_PRECISION = 1e-2


@dataclass(frozen=True, eq=False)
class Imputation:
    """Kept Gibbs draws of a series' missing cells.

    observed: (T, d) the series with NaN where a value was missing; values: (K, n) draws of
    the n missing cells (in time order, as `np.nonzero(missing)` lists them), data units;
    order: the VAR order most often drawn over the kept sweeps.
    """

    observed: FloatArray
    values: FloatArray
    order: int

    @property
    def missing(self) -> NDArray[np.bool_]:
        """(T, d): True where a value was missing."""
        return ~np.isfinite(self.observed)

    def completed(self, k: int | None = None) -> FloatArray:
        """The series with draw k filled in (None: the posterior mean): (T, d)."""
        out = self.observed.copy()
        out[self.missing] = self.values.mean(axis=0) if k is None else self.values[k]
        return out

    def spread(self, count: int) -> list[FloatArray]:
        """`count` completed series from draws spread evenly over the chain."""
        K = self.values.shape[0]
        return [self.completed(int(k)) for k in np.linspace(0, K - 1, min(count, K)).round()]

    def cells(self, levels: Sequence[float] = (80, 95)) -> list[dict[str, Any]]:
        """One entry per missing cell, in time order: index, component, posterior mean and
        std, and central intervals by level (the draws' empirical quantiles)."""
        t_idx, j_idx = np.nonzero(self.missing)
        probs = [p for L in levels for p in ((1 - L / 100) / 2, (1 + L / 100) / 2)]
        Q = np.quantile(self.values, probs, axis=0) if probs else None
        mean, std = self.values.mean(axis=0), self.values.std(axis=0)
        out = []
        for n, (t, j) in enumerate(zip(t_idx.tolist(), j_idx.tolist(), strict=True)):
            cell: dict[str, Any] = {"index": t, "component": j}
            cell["mean"], cell["std"] = float(mean[n]), float(std[n])
            if Q is not None:
                cell["intervals"] = {
                    f"{L:g}": [float(Q[2 * i, n]), float(Q[2 * i + 1, n])]
                    for i, L in enumerate(levels)
                }
            out.append(cell)
        return out


def interpolate(Y: FloatArray) -> FloatArray:
    """Linear interpolation of NaN cells per column (ends held at the nearest observed value)."""
    out = np.array(Y, dtype=np.float64)
    t = np.arange(out.shape[0])
    for j in range(out.shape[1]):
        seen = np.isfinite(out[:, j])
        out[~seen, j] = np.interp(t[~seen], t[seen], out[seen, j])
    return out


def impute(
    y: FloatArray,
    *,
    template: BayesianAR | None = None,
    sweeps: int = 100,
    burn_in: int = 30,
    per_sweep: int = 4,
    seed: int = 0,
    covariates: FloatArray | None = None,
    periods: Sequence[int] = (),
) -> Imputation:
    """Gibbs draws of the NaN cells of y: (T, d) under the VAR of `template` (an unfitted
    BayesianAR whose trend and seasonal terms are used; default: chosen by evidence among an
    intercept, a linear trend and each of `periods` as Fourier terms, the seasons the time
    grid offers) with `covariates` (T, c), known drivers, as regressors: a gap beside a known
    driver is drawn from what the driver says too.

    Every column needs at least two observed values. After `burn_in` sweeps, each of `sweeps`
    sweeps keeps `per_sweep` independent draws from the missing cells' conditional given that
    sweep's parameters (one of them carries the chain on): cheap extra draws that make the
    cells' intervals sharper estimates than one draw per sweep of a correlated chain.
    """
    Y = np.array(y, dtype=np.float64)
    if Y.ndim != 2:
        raise ValueError(f"y must be (T, d), got shape {Y.shape}")
    missing = ~np.isfinite(Y)
    if (np.sum(~missing, axis=0) < 2).any():
        raise ValueError("every component needs at least two observed values")
    T, d = Y.shape
    if not missing.any():
        return Imputation(observed=Y, values=np.empty((1, 0)), order=0)
    mu, sd = column_scale(Y)
    z = (interpolate(Y) - mu) / sd
    model = _start(template, z, covariates, periods)
    D = model.regressors(T, covariates)[0]
    c = D.shape[1] - model.n_det
    P = model.top_order(T, D.shape[1], d)
    t_m, j_m = np.nonzero(missing)
    rng = np.random.default_rng(seed)
    kept, orders = [], []
    p = P
    for sweep in range(burn_in + sweeps):
        noise = noise_scale(z)
        if sweep and model.lags is None:
            p = _draw_order(model, z, D, c, P, noise, rng)
        X, Z = lagged_design(z, p, D[p:])
        B, U = mniw_sample(mniw_update(model.prior(p, d, c, noise), X, Z), 1, rng)
        cells = _draw_missing(z, missing, B[0], U[0], D, p, rng, per_sweep)
        z[t_m, j_m] = cells[:, 0]
        if sweep >= burn_in:
            kept.append(mu[j_m] + sd[j_m] * cells.T)
            orders.append(p)
    Y[missing] = np.nan
    order = int(np.bincount(orders).argmax())
    return Imputation(observed=Y, values=np.concatenate(kept), order=order)


def _start(
    template: BayesianAR | None,
    z: FloatArray,
    covariates: FloatArray | None,
    periods: Sequence[int] = (),
) -> BayesianAR:
    """The imputation VAR (unfitted): the template, or the one with the highest evidence on
    the interpolated series among an intercept alone or with a linear trend, each with and
    without the seasons in `periods` (two Fourier pairs; a season needs three cycles), so
    the gaps of a trending or seasonal series follow the trend and the season. One max_lag
    for all, so that their evidences cover the same rows."""
    if template:
        return BayesianAR(**hyperparameters(template))
    fit_in = grid_periods_that_fit(periods, z.shape[0])
    lag = shared_max_lag(periods, z.shape[0])
    options = [
        BayesianAR(max_lag=lag, trend=trend, season_length=m, fourier_order=min(2, m // 2))
        if m
        else BayesianAR(max_lag=lag, trend=trend)
        for m in [0, *fit_in]
        for trend in (False, True)
    ]
    evidence = [m.fit(z, covariates=covariates).log_evidence_ for m in options]
    return BayesianAR(**hyperparameters(options[int(np.argmax(evidence))]))


def _draw_order(
    model: BayesianAR,
    z: FloatArray,
    D: FloatArray,
    c: int,
    P: int,
    noise: FloatArray,
    rng: np.random.Generator,
) -> int:
    """A lag order of `model`'s VAR drawn from its posterior given the completed z (T, d),
    under a uniform prior over 1..P: each order's exact evidence on the rows t = P..T-1 (the
    designs and priors of the orders nest, so one factorisation scores them all)."""
    d, n_det = z.shape[1], D.shape[1]
    X, Y = lagged_design(z, P, D[P:])
    sizes = [n_det + p * d for p in range(1, P + 1)]
    prior = model.prior(P, d, c, noise)
    log_ev = mniw_nested_log_evidence(prior, X.T @ X, X.T @ Y, Y.T @ Y, X.shape[0], sizes)
    w = np.exp(log_ev - log_ev.max())
    return int(rng.choice(P, p=w / w.sum())) + 1


def _draw_missing(
    z: FloatArray,
    missing: NDArray[np.bool_],
    B: FloatArray,
    U: FloatArray,
    D: FloatArray,
    p: int,
    rng: np.random.Generator,
    count: int = 1,
) -> FloatArray:
    """`count` independent draws (n_missing, count) of the missing cells of z (T, d) given
    the VAR draw (B, U U' = Sigma).

    Residuals e_t = sum_{a=0..p} C_a z_{t-a} - m_t (C_0 = I, C_a = -A_a, m_t the deterministic
    mean), t = p..T-1; -2 log density = sum_t e_t' Lam e_t with Lam = Sigma^-1, so the
    precision's block (s, s + a - b) gathers C_a' Lam C_b over the rows where z_s enters as
    lag a, and the linear term C_a' Lam m_t.
    """
    T, d = z.shape
    n_det = D.shape[1]
    A = B[n_det:].reshape(p, d, d).transpose(0, 2, 1)  # z_t = ... + A_i z_{t-i}
    C = np.concatenate([np.eye(d)[None], -A])  # (p+1, d, d)
    Lam = np.linalg.inv(U @ U.T)
    # r_t = m_t - sum_b C_b z0_{t-b}, t = p..T-1: each equation's residual with the missing
    # cells at zero, so its part of the linear term, C_a' Lam r_t, is the observed cells' pull
    # on the missing ones (and the deterministic mean's).
    z0 = np.where(missing, 0.0, z)
    r = D[p:] @ B[:n_det]
    for b in range(p + 1):
        r -= z0[p - b : T - b] @ C[b].T
    r_lam = r @ Lam
    t_m, j_m = np.nonzero(missing)
    n = t_m.size
    # Only the rows holding a missing cell are needed: band[i, p + k] = Q block (s, s + k) for
    # s = rows[i], k = -p..p, summed over the equations t = s + a in p..T-1 that z_s enters
    # (as lag a). Costs O(rows x p^2), not O(T x p^2).
    rows, row_of = np.unique(t_m, return_inverse=True)
    band = np.zeros((rows.size, 2 * p + 1, d, d))
    rhs_rows = np.zeros((rows.size, d))
    for a in range(p + 1):
        t = rows + a
        ok = (t >= p) & (t < T)
        rhs_rows[ok] += r_lam[t[ok] - p] @ C[a]
        # offsets k = a - b for b = 0..p: from a down to a - p
        band[ok, a : a + p + 1] += (C[a].T @ Lam @ C)[::-1]
    # Cells are in time order, so two cells interact only within `width` positions.
    width = int(np.max(np.searchsorted(t_m, t_m + p, side="right") - 1 - np.arange(n)))
    ab = np.zeros((width + 1, n))  # upper banded storage: ab[width + i - j, j] = Q[i, j]
    ab[width] = band[row_of, p, j_m, j_m] + np.where(t_m < p, 1.0, _VAGUE_PRECISION)
    for o in range(1, width + 1):
        i, j = np.arange(n - o), np.arange(o, n)
        dt = t_m[j] - t_m[i]
        near = dt <= p
        q = band[row_of[i], p + np.minimum(dt, p), j_m[i], j_m[j]]
        ab[width - o, o:] = np.where(near, q, 0.0)
    R = cholesky_banded(ab)  # Q_mm = R' R, R upper
    rhs = rhs_rows[row_of, j_m]
    # mean = Q^-1 rhs = R^-1 R'^-1 rhs; the draw adds R^-1 xi (covariance Q^-1).
    lower = _transpose_upper_band(R)
    w = solve_banded((width, 0), lower, rhs)
    draws: FloatArray = solve_banded((0, width), R, w[:, None] + rng.standard_normal((n, count)))
    return draws


def _transpose_upper_band(R: FloatArray) -> FloatArray:
    """The banded storage of R' (lower, for solve_banded((width, 0), ...)) from that of the
    upper-triangular R (for solve_banded((0, width), ...))."""
    width, n = R.shape[0] - 1, R.shape[1]
    L = np.zeros_like(R)
    for o in range(width + 1):
        # R[i, i+o] sits at R_band[width - o, i + o]; R'[i+o, i] sits at L_band[o, i].
        L[o, : n - o] = R[width - o, o:]
    return L
