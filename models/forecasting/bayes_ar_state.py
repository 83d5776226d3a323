"""The fitted state of the conjugate AR (`bayes_ar.BayesianAR`): posterior, standardisation,
the last values, covariates' scaling; and its AR coefficients in data units."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from models.forecasting.base import FloatArray, as_series
from models.forecasting.mniw import MNIWPosterior


@dataclass(frozen=True, eq=False)
class FittedAR:
    """What a fitted BayesianAR holds: the exact posterior and the standardisations."""

    post: MNIWPosterior
    mu: FloatArray  # (d,) standardisation centre
    sd: FloatArray  # (d,) standardisation scale
    z_tail: FloatArray  # (p, d)
    T: int
    params: dict[str, Any]
    x_mu: FloatArray  # (c,) covariates' standardisation (c = 0: none)
    x_sd: FloatArray

    def covariate_terms(self, covariates: ArrayLike | None, n: int, what: str) -> FloatArray:
        """Standardised covariates (n, c) for n rows; ValueError unless given exactly when
        the model was fitted with them, with n rows and c columns."""
        c = self.x_mu.shape[0]
        if covariates is None:
            if c:
                raise ValueError(f"the model was fitted with {c} covariates: give their {what}")
            return np.empty((n, 0))
        if not c:
            raise ValueError("the model was fitted without covariates")
        X = as_series(covariates, "covariates")
        if X.shape != (n, c):
            raise ValueError(f"covariates' {what} must be ({n}, {c}), got {X.shape}")
        return (X - self.x_mu) / self.x_sd


def ar_coef(
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
