"""Turning a job's model spec into a fitted forecaster (worker side).

A spec is {"kind": a registered kind or "auto", "params": {...}} to fit on the series, or a
stored version {"name", "version", "kind", "version_id"} to load.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from app.db.repositories import model_versions
from app.queue import Queue, queue_for
from app.services.posted import Drivers
from models.forecasting.auto import auto_choice
from models.forecasting.base import Forecast, Forecaster, LibraryForecaster
from models.forecasting.faults import as_missing, gross_faults
from models.forecasting.gaps import GapForecaster, as_grid, has_gaps, leading_missing
from models.forecasting.imputation import impute, interpolate
from models.forecasting.registry import AUTO, BY_NAME, kind_info, make_forecaster
from models.forecasting.seasons import choose_season, shared_max_lag
from models.forecasting.serialize import loads
from models.forecasting.torch_runtime import resolve_device

Progress = Callable[[float], None]


def device_for(model: dict[str, Any]) -> str:
    """Where the job's numerics run: neural models (the gpu queue's) use the GPU when there
    is one."""
    return resolve_device(None).type if queue_for(model.get("kind", "")) is Queue.GPU else "cpu"


def fit_spec(
    spec: dict[str, Any],
    y: np.ndarray,
    horizon: int,
    seed: int,
    progress: Progress,
    periods: Sequence[int] | None = None,
    covariates: np.ndarray | None = None,
    set_aside: bool = True,
) -> tuple[Forecaster, dict[str, Any]]:
    """Fit a forecaster on y (NaN: missing values, fitted through by `gaps`); returns it with
    what the fit chose (for the result's `fitted`). periods: seasonal periods the series'
    time step suggests, from which (and the data's own) an AR kind given no season picks one;
    None keeps the settings as given (a model version: a stream can only step a model
    without seasonal terms). covariates: (T, c) drivers, for the kinds that take them.
    set_aside: fit through y's gross faults as missing values (`screened`). A record that
    starts late (`leading_missing`) is fitted from its first reading; what the fit reports
    indexes the posted y all the same, with "leading_missing" the rows it started after."""
    lead, y, aside = screened_record(y, seed, set_aside)
    covariates = None if covariates is None else covariates[lead:]
    kind, params = spec["kind"], dict(spec.get("params", {}))
    gappy = has_gaps(y)
    # Choices (auto's, a season's) are made on the posterior-mean completion; fits go
    # through the gaps.
    choosing = kind == AUTO or periods is not None
    imputation = (
        impute(as_grid(y), seed=seed, covariates=covariates, periods=periods or ())
        if gappy and choosing
        else None
    )
    data = y if imputation is None else imputation.completed()
    found: dict[str, Any] = {}
    if kind == AUTO:
        for k in params:
            if k in BY_NAME:
                params[k], found[k] = _with_season(k, params[k], data, periods, covariates)
        kind, scores, left_out = auto_choice(
            data,
            params,
            horizon=horizon,
            val_fraction=params["val_fraction"],
            seed=seed,
            kinds=params.get("candidates"),
            covariates=covariates,
            progress=lambda f: progress(f / 2),
        )
        params, found = (
            params.get(kind, {}),
            {
                "auto": {"choice": kind, "validation_crps": scores}
                | ({"left_out": left_out} if left_out else {}),
                "seasonality": found.get(kind),
            },
        )
        progress = _from_half(progress)
    else:
        params, found["seasonality"] = _with_season(kind, params, data, periods, covariates)
        imputation = None  # drawn again by the kind's own VAR, with its season
    make = partial(make_forecaster, kind, params)
    model: Forecaster
    if gappy:
        refit = kind_info(kind).cheap_fit
        model = GapForecaster(make, refit, seed, imputation)
        model = model.fit(y, progress=progress, covariates=covariates)
    else:
        model = make().fit(y, progress=progress, covariates=covariates)
    return model, {**model.params_, **{k: v for k, v in found.items() if v is not None}, **aside}


def sets_aside(request: dict[str, Any]) -> bool:
    """Whether a job's fits go through its series' gross faults (`"outliers"`, which a job
    queued before the option existed does not have)."""
    return bool(request.get("outliers", "set_aside") == "set_aside")


def screened(y: np.ndarray, seed: int, set_aside: bool = True) -> tuple[np.ndarray, dict[str, Any]]:
    """y with its gross faults (`gross_faults`: a sensor's wild reading, which would skew the
    fit and be the regressor of the next steps) made missing values, and {"set_aside": them}
    to report (nothing when there are none, or when not set_aside)."""
    faults = gross_faults(y, seed) if set_aside else []
    return (as_missing(y, faults), {"set_aside": faults}) if faults else (y, {})


def screened_record(
    y: np.ndarray, seed: int, set_aside: bool = True
) -> tuple[int, np.ndarray, dict[str, Any]]:
    """y `screened` from its first reading on: how many rows it starts after
    (`leading_missing`), what is left of y, and the report, whose set-aside faults are
    indexed in the posted y, with "leading_missing" when y starts late."""
    lead = leading_missing(y)
    y, aside = screened(y[lead:], seed, set_aside)
    for fault in aside.get("set_aside", []):
        fault["index"] += lead
    return lead, y, aside | ({"leading_missing": lead} if lead else {})


def screened_each(
    ys: Sequence[np.ndarray], keys: Sequence[Any], label: str, seed: int, set_aside: bool
) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
    """Each series `screened`, and the gross faults of all of them, each tagged with its
    series' key under `label` (a driver's name, a library series' index)."""
    clean, aside = [], []
    for key, y in zip(keys, ys, strict=True):
        y, report = screened(y, seed, set_aside)
        clean.append(y)
        aside += [{label: key, **f} for f in report.get("set_aside", [])]
    return clean, aside


@dataclass
class SpecFit:
    """A spec fitted as a forecast job fits it (`fit_spec`, with the settings as given and
    the seasons its time grid offers), for work that refits it at every origin: backtests'
    folds, and the benches."""

    spec: dict[str, Any]
    horizon: int
    seed: int = 0
    set_aside: bool = True
    periods: Sequence[int] = ()

    def fit(
        self, y: np.ndarray, progress: Progress | None = None, covariates: np.ndarray | None = None
    ) -> SpecFit:
        report = progress or (lambda _f: None)
        self.model, _ = fit_spec(
            self.spec, y, self.horizon, self.seed, report, list(self.periods), covariates,
            self.set_aside,
        )  # fmt: skip
        return self

    def predict(self, horizon: int, **options: Any) -> Forecast:
        return self.model.predict(horizon, **options)


def _with_season(
    kind: str,
    params: dict[str, Any],
    data: np.ndarray,
    periods: Sequence[int] | None,
    covariates: np.ndarray | None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """params with the season an AR kind's evidence picks, when none was given (else as they
    are, with no report). Every season is scored with the same largest lag order
    (`shared_max_lag`, when not given), so that their evidences cover the same rows."""
    if periods is None or params.get("season_length", 0) is not None:
        return params, None
    if "max_lag" in params and params["max_lag"] is None:
        params = {**params, "max_lag": shared_max_lag(periods, len(data))}

    def fit(m: int | None, K: int) -> Any:
        model = make_forecaster(kind, {**params, "season_length": m, "fourier_order": K})
        return model.fit(data, covariates=covariates)

    _, report = choose_season(data, fit, periods)
    chosen = {k: report[k] for k in ("season_length", "fourier_order")}
    return {**params, **chosen}, report


def driver_arrays(
    found: Drivers | None, seed: int = 0, set_aside: bool = True
) -> tuple[np.ndarray | None, np.ndarray | None, dict[str, Any]]:
    """Drivers as (T, c) history (unknown values interpolated linearly) and (h, c) future,
    with what was done to them; (None, None, {}) for a series without drivers. set_aside: a
    posted covariate's gross faults (`screened`) are unknown values too, listed by name, so
    that a logger's 9999 in the temperature does not flatten the fitted coefficient. Its
    future is then screened as the continuation of the cleaned readings (a 9999 in a posted
    plan would be the forecast's input): such a value is interpolated between its neighbours
    and listed with `"future": true` and its step in the future as `index`."""
    if found is None:
        return None, None, {}
    T, m = len(found.history), found.measured
    history, aside = _screened_columns(np.asarray(found.history, dtype=float), m, found.names,
                                       seed, set_aside)  # fmt: skip  # None -> NaN
    unknown = int(np.isnan(history).sum())
    if unknown:
        history = interpolate(history)
    done = {"names": found.names, "interpolated": unknown}
    if found.future is None:
        return history, None, done | ({"set_aside": aside} if aside else {})
    # The history judged alone first, so that a fault in the plan cannot mask one in it.
    future = np.asarray(found.future, dtype=float).reshape(-1, history.shape[1])  # h may be 0
    whole = np.vstack([history, future])
    whole, ahead = _screened_columns(whole, m, found.names, seed, set_aside, after=T)
    for fault in ahead:
        fault.update(index=fault["index"] - T, future=True)
    aside += ahead
    whole = interpolate(whole) if ahead else whole
    return history, whole[T:], done | ({"set_aside": aside} if aside else {})


def _screened_columns(
    X: np.ndarray, m: int, names: list[str], seed: int, set_aside: bool, after: int = 0
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """X (rows, c) with the gross faults of its first m columns (the posted covariates, by
    name) at rows >= `after` made NaN, and those faults."""
    _, aside = screened_each(list(X[:, :m].T), names[:m], "covariate", seed, set_aside)
    aside = [f for f in aside if f["index"] >= after]
    out = np.array(X)
    for f in aside:
        out[f["index"], names.index(f["covariate"])] = np.nan
    return out, aside


def _from_half(progress: Progress) -> Progress:
    return lambda f: progress(0.5 + f / 2)


def fit_library(
    spec: dict[str, Any],
    series: Sequence[np.ndarray],
    progress: Progress,
    seed: int = 0,
    set_aside: bool = True,
) -> tuple[Forecaster, dict[str, Any]]:
    """A library kind fitted on several series (the first is its own). A library is a set of
    references to match against: gaps in one are filled with their posterior mean, and so
    are its gross faults (`screened`), which a query would otherwise match and continue;
    they are reported with the index of their series."""
    model = make_forecaster(spec["kind"], spec.get("params", {}))
    if not isinstance(model, LibraryForecaster):
        raise ValueError(f"{spec['kind']} does not keep a library of series")
    series, aside = screened_each(series, range(len(series)), "series", seed, set_aside)
    series = [impute(as_grid(y)).completed() if has_gaps(y) else y for y in series]
    model = model.fit_library(series, progress=progress)
    return model, {**model.params_, **({"set_aside": aside} if aside else {})}


def load_stored(factory: sessionmaker[Session], spec: dict[str, Any]) -> Forecaster:
    """The stored version a resolved spec {"name", "version", "version_id"} pins."""
    with factory() as session:
        return load_version(session, spec["version_id"])


def load_version(session: Session, version_id: str) -> Forecaster:
    version = model_versions.get_by_id(session, version_id)
    if version is None or version.artifact is None:
        raise ValueError(f"model version {version_id} has no artifact")
    what = f"model {version.name!r} version {version.version}"
    try:
        return loads(version.artifact)  # safetensors only: stored bytes are never unpickled
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from exc
