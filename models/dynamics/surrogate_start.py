"""Where a learned surrogate's members start: the window at the end of the series a stream
opens (or is reset) with.

A reading missing from that window, or a gross fault in it (a logger's 9999), is no value to
start from. The series is screened as a forecast's is (`faults.gross_faults`), and each
member starts from its own posterior draw of the window's missing values given the readings
around them (`imputation.impute` under the version's imputation VAR), so the ensemble's
spread carries what was not observed instead of one guess at it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from models.dynamics.surrogate import WindowForecaster
from models.forecasting.base import FloatArray
from models.forecasting.faults import as_missing, gross_faults
from models.forecasting.gaps import imputation_template
from models.forecasting.imputation import impute


def starting_windows(
    series: Sequence[Any], forecaster: WindowForecaster, members: int, seed: int = 0
) -> tuple[FloatArray, dict[str, list[dict[str, Any]]]]:
    """(members, p d) starting states from `series` (T values or rows of d; None where
    missing), and what was done to it: {"set_aside": gross faults, "imputed": the missing
    cells' posterior mean and intervals}, each only when there were some (indices into
    `series`)."""
    Y = np.array(series, dtype=np.float64)  # None: NaN
    Y = Y[:, None] if Y.ndim == 1 else Y
    faults = gross_faults(Y, seed)
    Y = as_missing(Y, faults)
    p = forecaster.window_shape_[0]
    report: dict[str, list[dict[str, Any]]] = {"set_aside": faults} if faults else {}
    if not np.isnan(Y[-p:]).any():
        return np.tile(Y[-p:].reshape(-1), (members, 1)), report
    imputation = impute(Y, template=imputation_template(forecaster), seed=seed)
    draws = np.linspace(0, imputation.values.shape[0] - 1, members).round().astype(int)
    windows = np.stack([imputation.completed(int(k))[-p:].reshape(-1) for k in draws])
    return windows, {**report, "imputed": imputation.cells()}
