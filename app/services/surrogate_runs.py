"""Learned-surrogate streams on workers: the pinned forecaster as dynamics, its starting
window, and forecasts of the series.

Randomness stays exactly-once like the rest of a stream's: the parameter draws are keyed by
the stream seed, and the noise of the steps up to observation seq by (seed, seq), each with
its own third entropy word so it is independent of the analysis's (seed, seq) generator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from sqlalchemy.orm import Session

from app.services import artifacts
from app.services.fitting import load_version
from app.services.forecast_runs import to_payload
from models.dynamics.surrogate import SurrogateDynamics, WindowForecaster, window
from models.forecasting import summarize_samples

DRAWS, STEP_NOISE, FORECAST_NOISE = 1, 2, 3


def _key(seed: int, seq: int, use: int) -> int:
    return int(np.random.SeedSequence([seed, seq, use]).generate_state(1, np.uint64)[0] >> 1)


def _generator(seed: int, seq: int, use: int) -> torch.Generator:
    return torch.Generator().manual_seed(_key(seed, seq, use))


def load(session: Session, config: dict[str, Any]) -> SurrogateDynamics:
    """The stream's pinned forecaster with one parameter draw per member."""
    ref = config["dynamics"]["model"]
    forecaster = artifacts.cached(ref["version_id"], lambda: load_version(session, ref))
    if not isinstance(forecaster, WindowForecaster):
        raise ValueError(f"model {ref['name']!r} version {ref['version']} has no one-step sampler")
    members = int(config["filter"]["ensemble_size"])
    return SurrogateDynamics.of(forecaster, members, _key(config["seed"], 0, DRAWS))


def up_to(dynamics: SurrogateDynamics, seed: int, seq: int) -> SurrogateDynamics:
    """The dynamics for the steps up to observation seq (their noise keyed by (seed, seq))."""
    return dynamics.seeded(_generator(seed, seq, STEP_NOISE))


def start(config: dict[str, Any], dtype: torch.dtype) -> torch.Tensor | None:
    """The window every member starts at (initial.series, cut to the window at creation),
    or None when the stream starts from initial.mean and std instead."""
    rows = config["initial"].get("series")
    if rows is None:
        return None
    return window(torch.tensor(rows, dtype=dtype), len(rows))


def forecast_payload(
    dynamics: SurrogateDynamics,
    E: torch.Tensor,
    t0: float,
    key: tuple[int, int],
    request: dict[str, Any],
    progress: Callable[[float], object],
) -> dict[str, Any]:
    """The series `horizon` steps past the analysis at t0, one path per member, in the
    forecast result format (numbers per step for a univariate series, rows of d otherwise).

    Each member's noisy path and its noiseless twin (same parameter draw) split the spread:
    epistemic = spread of the noiseless paths over members (state and parameter
    uncertainty), aleatoric = the noise on top (exact for a linear AR, as in its predict).
    The noise is keyed by (stream seed, seq of the analysis it starts from).
    """
    horizon = int(request["horizon"])
    noisy = dynamics.seeded(_generator(*key, FORECAST_NOISE))
    mean = dynamics.noiseless()
    X, Xm = E, E
    paths = torch.empty((2, E.shape[0], horizon, dynamics.d), dtype=E.dtype)
    for k in range(horizon):
        X, Xm = noisy.step(X, 1.0), mean.step(Xm, 1.0)
        paths[0, :, k], paths[1, :, k] = dynamics.newest(X), dynamics.newest(Xm)
        progress((k + 1) / horizon)
    Y = paths.numpy()
    forecast = summarize_samples(Y[0], Y[1], request["levels"], request["quantiles"])
    fitted = {"t0": t0, "dt": 1.0, "lags": dynamics.p}
    payload = to_payload(forecast, univariate=dynamics.d == 1, fitted=fitted, timestamps=None)
    payload["times"] = [t0 + k + 1 for k in range(horizon)]
    return payload
