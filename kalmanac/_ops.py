"""Every API operation, written once as a generator over `_protocol` steps.

The clients expose these as methods (`Client.forecast` runs `forecast` to completion with
blocking I/O, `AsyncClient.forecast` awaits it); the first argument, the `Core`, carries
what the operations share: the retry policy and the long-poll length.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from kalmanac._protocol import Call, Op, Reply, RetryPolicy, Sleep, request
from kalmanac.errors import JobFailed, JobTimeout
from kalmanac.results import (
    Backtest,
    Forecast,
    Job,
    Model,
    ModelVersion,
    Page,
)
from kalmanac.series import is_long_frame, to_series_list

T = TypeVar("T")
Progress = Callable[[Job], None]
POLL_FIRST_S, POLL_MAX_S = 0.1, 1.0


@dataclass
class Core:
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    # The transport's "never sent" error: safe to retry for any request.
    sent_safely: type[BaseException] = ConnectionRefusedError
    long_poll_s: float = 10.0  # the server's ?wait= is capped (KALMANAC_MAX_WAIT_S, 30 s)
    rng: random.Random = field(default_factory=random.Random)

    def send(self, call: Call) -> Op[Reply]:
        return request(call, self.policy, self.rng, self.sent_safely)

    def get(self, path: str, params: dict[str, Any] | None = None) -> Op[Any]:
        reply = yield from self.send(Call("GET", path, query_params(params)))
        return reply.body


def query_params(params: dict[str, Any] | None) -> dict[str, Any] | None:
    return {k: v for k, v in params.items() if v is not None} if params else None


def given(**fields: Any) -> dict[str, Any]:
    """Only the fields the caller set, so the server's defaults stay the defaults."""
    return {k: v for k, v in fields.items() if v is not None}


def model_spec(model: str | dict[str, Any] | None) -> dict[str, Any] | None:
    """A kind (`kinds()` lists them), `"demand@3"` (a stored version), `"demand@production"` (an
    alias), or the JSON spec itself."""
    if model is None or isinstance(model, dict):
        return model
    name, at, ref = model.partition("@")
    if not at:
        return {"kind": model}
    return {"name": name, "version": int(ref)} if ref.isdigit() else {"name": name, "alias": ref}


def poll(
    core: Core,
    path: str,
    parse: Callable[[Any], T],
    timeout: float | None,
    progress: Progress | None,
    body: Any = None,
    started: float | None = None,
    check: bool = True,
) -> Op[T]:
    """GETs `path` (a job resource) until the job is final; `body`: an answer already in
    hand. Raises JobTimeout after `timeout` s, and (with `check`) JobFailed unless it
    succeeded."""
    started = time.monotonic() if started is None else started
    interval = POLL_FIRST_S
    if body is None:
        body = yield from core.get(path)
    while True:
        job = Job.from_json(body)
        if progress is not None:
            progress(job)
        if job.done:
            break
        left = None if timeout is None else started + timeout - time.monotonic()
        if left is not None and left <= 0:
            raise JobTimeout(job, timeout or 0.0)
        yield Sleep(interval if left is None else min(interval, left))
        interval = min(interval * 1.5, POLL_MAX_S)
        body = yield from core.get(path)
    if check and job.status != "succeeded":
        raise JobFailed(job)
    return parse(body)


def _submit(
    core: Core,
    path: str,
    body: dict[str, Any],
    idempotency_key: str | None,
    wait_s: float | None = None,
) -> Op[Reply]:
    # A fresh Idempotency-Key per call makes resending after a dropped connection safe:
    # the server answers with the job it already made.
    headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
    params = {"wait": round(wait_s, 3)} if wait_s else None
    call = Call("POST", path, params, body, headers, extra_timeout=wait_s or 0.0)
    return (yield from core.send(call))


def forecast(
    core: Core,
    series: Any,
    horizon: int,
    *,
    levels: Sequence[float] = (80, 95),
    quantiles: Sequence[float] = (),
    model: str | dict[str, Any] | None = None,
    num_samples: int | None = None,
    return_samples: bool = False,
    seed: int | None = None,
    calibration: str | None = None,
    X_df: Any = None,
    freq: str | None = None,
    support: str | None = None,
    detect_anomalies: float | None = None,
    exclude_anomalies: bool = False,
    outliers: str | None = None,
    wait: bool = True,
    timeout: float | None = None,
    progress: Progress | None = None,
    idempotency_key: str | None = None,
) -> Op[Forecast]:
    """Forecast `horizon` steps of `series`: a list, a 1-D/2-D numpy array, a pandas Series
    or DataFrame (a DatetimeIndex becomes timestamps, and the forecast is indexed by the
    future ones), a dict of id to any of those, or a long-format DataFrame (unique_id, ds, y
    and covariate columns, with their future in `X_df`; the result's `to_frame()` is then
    long too: unique_id, ds, mean, lo-80, hi-80, ...). NaN or None marks a missing value.
    `model`: a kind (`kinds()` lists them, `"auto"` among them),
    `"name@version"`/`"name@alias"`, or a spec dict. `freq` (e.g. "15min", "MS"): the time
    step of timestamped series (inferred when omitted); `support="nonnegative"` keeps the
    forecast at or above zero; `detect_anomalies=99`: list past readings outside their
    one-step-ahead 99% interval (`exclude_anomalies=True`: and fit through them as missing).
    Gross faults are fitted through as missing values and listed in `set_aside` unless
    `outliers="keep"`.

    With `wait` (the default) returns once the job is final (raising JobFailed if it did
    not succeed, JobTimeout after `timeout` s), calling `progress(job)` as it goes; without,
    returns the queued job at once (fetch it later with `get_forecast`)."""
    started = time.monotonic()
    inputs = to_series_list(series, X_df)
    payloads = [s.payload() | ({"freq": freq} if freq and s.timestamps else {}) for s in inputs]
    options = given(
        model=model_spec(model),
        num_samples=num_samples,
        seed=seed,
        calibration=calibration,
        support=support,
        outliers=outliers,
        detect_anomalies=None
        if detect_anomalies is None
        else {"level": detect_anomalies, "exclude": exclude_anomalies},
    )
    body = {"series": payloads, "horizon": horizon, "levels": list(levels),
            "quantiles": list(quantiles), "return_samples": return_samples, **options}  # fmt: skip
    columns = {s.id: s.columns for s in inputs}
    long = is_long_frame(series)

    def parse(d: Any) -> Forecast:
        return Forecast.from_json(d, columns, long=long)

    # The server's long-poll answers the common case in one round trip; a longer job is
    # then polled, which also feeds the progress callback.
    wait_s = min(core.long_poll_s, timeout if timeout is not None else core.long_poll_s)
    if progress is not None:
        wait_s = min(wait_s, 1.0)
    reply = yield from _submit(
        core, "/v1/forecasts", body, idempotency_key, wait_s if wait else None
    )
    if not wait:
        return parse(reply.body)
    path = f"/v1/forecasts/{reply.body['id']}"
    return (yield from poll(core, path, parse, timeout, progress, reply.body, started))


def get_forecast(core: Core, forecast_id: str) -> Op[Forecast]:
    """A forecast job and, once it succeeded, its result."""
    return Forecast.from_json((yield from core.get(f"/v1/forecasts/{forecast_id}")))


def backtest(
    core: Core,
    series: Any,
    horizon: int,
    *,
    folds: int = 5,
    model: str | dict[str, Any] | None = None,
    levels: Sequence[float] = (80, 95),
    num_samples: int | None = None,
    seed: int | None = None,
    outliers: str | None = None,
    wait: bool = True,
    timeout: float | None = None,
    progress: Progress | None = None,
    idempotency_key: str | None = None,
) -> Op[Backtest]:
    """Rolling-origin backtest: `folds` origins `horizon` apart at the end of each series;
    returns CRPS, MASE, sMAPE, coverage and Winkler score per series. Each fold is fitted as
    a forecast is (`outliers="keep"`: on every reading, gross faults too). `series` as for
    `forecast`; a long-format DataFrame's covariate columns are drivers, whose values over
    each fold's horizon are their known future (no X_df)."""
    started = time.monotonic()
    body = {
        "series": [s.payload() for s in to_series_list(series)],
        "horizon": horizon,
        "folds": folds,
        "levels": list(levels),
        **given(model=model_spec(model), num_samples=num_samples, seed=seed, outliers=outliers),
    }
    reply = yield from _submit(core, "/v1/backtests", body, idempotency_key)
    if not wait:
        return Backtest.from_json(reply.body)
    path = f"/v1/backtests/{reply.body['id']}"
    return (yield from poll(core, path, Backtest.from_json, timeout, progress, None, started))


def get_backtest(core: Core, backtest_id: str) -> Op[Backtest]:
    return Backtest.from_json((yield from core.get(f"/v1/backtests/{backtest_id}")))


# Kinds


def kinds(core: Core) -> Op[list[dict[str, Any]]]:
    """The forecaster kinds the server fits (`auto` last), each with its `summary`, whether it
    is the `default`, and the JSON schema of its `params`."""
    body = yield from core.get("/v1/kinds")
    items: list[dict[str, Any]] = body["items"]
    return items


# Jobs


def list_jobs(
    core: Core,
    *,
    status: str | None = None,
    kind: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Op[Page[Job]]:
    """One page of the job history, newest first; pass `next_cursor` back as `cursor`."""
    params = {"status": status, "kind": kind, "limit": limit, "cursor": cursor}
    body = yield from core.get("/v1/jobs", params)
    return Page([Job.from_json(j) for j in body["items"]], body.get("next_cursor"))


def get_job(core: Core, job_id: str) -> Op[Job]:
    return Job.from_json((yield from core.get(f"/v1/jobs/{job_id}")))


def cancel_job(core: Core, job_id: str) -> Op[Job]:
    reply = yield from core.send(Call("POST", f"/v1/jobs/{job_id}/cancel"))
    return Job.from_json(reply.body)


def wait_job(
    core: Core, job_id: str, *, timeout: float | None = None, progress: Progress | None = None
) -> Op[Job]:
    """Waits until the job is final and returns it, whatever the outcome."""
    return (
        yield from poll(core, f"/v1/jobs/{job_id}", Job.from_json, timeout, progress, check=False)
    )


# Models


def list_models(core: Core, *, limit: int = 100, cursor: str | None = None) -> Op[Page[Model]]:
    body = yield from core.get("/v1/models", {"limit": limit, "cursor": cursor})
    return Page([Model.from_json(m) for m in body["items"]], body.get("next_cursor"))


def get_model(core: Core, name: str) -> Op[Model]:
    """A model with all its versions and aliases."""
    return Model.from_json((yield from core.get(f"/v1/models/{name}")))


def get_version(core: Core, name: str, version: int) -> Op[ModelVersion]:
    return ModelVersion.from_json((yield from core.get(f"/v1/models/{name}/versions/{version}")))


def set_alias(core: Core, name: str, alias: str, version: int) -> Op[Model]:
    """Points `alias` at `version`; forecasts may then use `model="name@alias"`."""
    call = Call("PUT", f"/v1/models/{name}/aliases/{alias}", json={"version": version})
    return Model.from_json((yield from core.send(call)).body)


def train_model(
    core: Core,
    name: str,
    series: Any = None,
    *,
    model: str | dict[str, Any] | None = None,
    seed: int | None = None,
    outliers: str | None = None,
    timeout: float | None = None,
    progress: Progress | None = None,
    idempotency_key: str | None = None,
) -> Op[ModelVersion]:
    """Trains a new version of `name` on `series` (none for an observer) and returns it.
    `outliers="keep"` trains on every reading (by default gross faults are fitted through as
    missing values, listed in the version's `metrics["fitted"]["set_aside"]`)."""
    started = time.monotonic()
    body: dict[str, Any] = {
        "name": name,
        **given(model=model_spec(model), seed=seed, outliers=outliers),
    }
    if series is not None:
        body["series"] = [s.payload() for s in to_series_list(series)]
    reply = yield from _submit(core, "/v1/models", body, idempotency_key)
    job_id = reply.body["id"]
    yield from poll(core, f"/v1/jobs/{job_id}", Job.from_json, timeout, progress, None, started)
    trained = yield from get_model(core, name)
    return next(v for v in trained.versions if v.job_id == job_id)
