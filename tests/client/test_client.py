"""The Python client against a real server (uvicorn with its embedded worker)."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pandas as pd
import pytest

from bench.stack import Stack
from kalmanac import AsyncClient, Client, KalmanacError
from tests.client.conftest import StartServer

MODEL = {"kind": "bayes_ar", "params": {"max_lag": 4}}
Y = np.sin(np.arange(60) / 4.0) + 0.05 * np.cos(np.arange(60) * 1.7)


def test_forecast_from_numpy(client: Client) -> None:
    seen: list[str] = []
    fc = client.forecast(
        Y, horizon=5, levels=[80, 95], model=MODEL, progress=lambda j: seen.append(j.status)
    )
    assert fc.job.status == "succeeded" and seen[-1] == "succeeded"
    s = fc[0]
    assert s.mean.shape == (5,) and s.epistemic_std.shape == (5,)
    assert np.all(s.intervals["80"].lower <= s.mean) and np.all(s.mean <= s.intervals["95"].upper)
    frame = fc.to_frame()
    assert list(frame.index) == [1, 2, 3, 4, 5]
    assert {"mean", "lower_95", "upper_95", "epistemic_std", "aleatoric_std"} <= set(frame.columns)

    two = client.forecast(np.column_stack([Y, -Y]), horizon=3, model=MODEL)
    assert two[0].mean.shape == (3, 2)


def test_forecast_from_a_pandas_series_keeps_timestamps(client: Client) -> None:
    index = pd.date_range("2026-01-01", periods=len(Y), freq="h", tz="UTC")
    fc = client.forecast(pd.Series(Y, index=index, name="load"), horizon=3, model=MODEL)
    frame = fc["load"].to_frame()
    expected = pd.date_range(index[-1] + pd.Timedelta(hours=1), periods=3, freq="h", tz="UTC")
    assert list(frame.index) == list(expected)

    columns = pd.DataFrame({"a": Y, "b": Y[::-1]}, index=index)
    multi = client.forecast(columns, horizon=2, model=MODEL).to_frame()
    assert {"mean:a", "mean:b"} <= set(multi.columns)


def test_a_422_names_the_field(client: Client) -> None:
    with pytest.raises(KalmanacError) as info:
        client.forecast(Y, horizon=0)
    err = info.value
    assert err.status == 422 and err.code == "validation_error"
    assert err.field("horizon") is not None and "greater than or equal" in err.field("horizon").msg
    with pytest.raises(KalmanacError) as info:
        client.get_job("00000000-0000-0000-0000-000000000000")
    assert info.value.status == 404


class Counting(httpx.HTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.statuses: list[int] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        self.statuses.append(response.status_code)
        return response


@pytest.fixture(scope="module")
def limited(start_server: StartServer) -> Stack:
    """A server allowing each tenant 2 requests at once, refilled at 2 per second."""
    return start_server(rate_limit_per_s="2", rate_limit_burst="2")


def test_429_is_retried_until_it_succeeds(limited: Stack, api_key: str) -> None:
    transport = Counting()
    with Client(limited.base, api_key=api_key, retries=8, backoff=0.1, transport=transport) as kc:
        for _ in range(5):
            assert kc.list_jobs().items == []
    assert 429 in transport.statuses and transport.statuses.count(200) == 5
    with (
        Client(limited.base, api_key=api_key, retries=0) as kc,
        pytest.raises(KalmanacError) as info,
    ):
        for _ in range(5):
            kc.list_jobs()
    assert info.value.status == 429 and info.value.retry_after is not None
    assert info.value.details and info.value.details[0].field


def test_async_client_gives_the_same_answers(server: Stack, api_key: str, client: Client) -> None:
    expected = client.forecast(Y, horizon=4, model=MODEL, seed=3)

    async def run() -> None:
        async with AsyncClient(server.base, api_key=api_key) as ac:
            got = await ac.forecast(Y, horizon=4, model=MODEL, seed=3)
            np.testing.assert_allclose(got[0].mean, expected[0].mean)
            np.testing.assert_allclose(
                got[0].intervals["80"].upper, expected[0].intervals["80"].upper
            )
            page = await ac.list_jobs(kind="forecast")
            assert {expected.id, got.id} <= {j.id for j in page.items}
            with pytest.raises(KalmanacError) as info:
                await ac.forecast(Y, horizon=0)
            assert info.value.field("horizon") is not None

    asyncio.run(run())


def test_stream_round_trip(client: Client) -> None:
    stream = client.create_stream(
        {"system": "lorenz63", "dt": 0.01},
        observation={"indices": [0, 2], "noise_std": 1.0},
        filter={"method": "etkf", "ensemble_size": 10},
        initial={"mean": [1, 1, 20], "std": 2.0},
    )
    t = 0.05 * np.arange(1, 9)
    obs = pd.DataFrame({"t": t, "x": 1 + 10 * t, "z": 20 - 5 * t})
    pushed = client.push(stream.id, obs)
    assert pushed.accepted == 8 and pushed.duplicates == 0
    assert client.push(stream.id, obs.assign(seq=range(1, 9))).duplicates == 8  # idempotent
    client.wait_assimilated(stream.id, 8, timeout=30)

    frame = client.analyses(stream.id).to_frame()
    assert list(frame.index) == list(range(1, 9))
    np.testing.assert_allclose(frame["t"], t)
    assert {"mean_0", "mean_2", "spread_1", "innovation_rms"} <= set(frame.columns)

    watched = []
    for analysis in client.watch(stream.id, after_seq=5):
        watched.append(analysis.seq)
        if analysis.seq == 8:
            break
    assert watched == [6, 7, 8]

    fc = client.stream_forecast(stream.id, 5, levels=[90])
    assert fc[0].mean.shape == (5, 3) and fc[0].times is not None
    assert client.get_stream(stream.id).health["status"] == "ok"
    reset = client.reset_stream(stream.id, mean=[2, 2, 25], std=0.5)
    assert reset.config["initial"] == {"mean": [2.0, 2.0, 25.0], "std": 0.5, "series": None}
    np.testing.assert_allclose(reset.mean, [2, 2, 25])
    assert client.close_stream(stream.id).status == "closed"


def test_a_model_stream_resets_from_the_latest_values(client: Client) -> None:
    """A stream stepping a stored forecaster restarts from a (T, d) array of the series, a
    missing reading (NaN) included."""
    rng = np.random.default_rng(1)
    y = np.cumsum(rng.normal(size=(120, 2)), axis=0) * 0.1
    version = client.train_model("client-flow", y[:100], model={"kind": "bayes_ar",
                                 "params": {"max_lag": 2}}, timeout=60)  # fmt: skip
    stream = client.create_stream(
        {"model": {"name": "client-flow", "version": version.version}},
        observation={"indices": [0], "noise_std": 0.1},
        initial={"series": y[:100].tolist()},
    )
    latest = y[:110].copy()
    latest[-2, 1] = np.nan  # a missing reading: sent as null, drawn per member
    reset = client.reset_stream(stream.id, series=latest)
    # the model's window and up to 100 values before it, to screen it against
    sent = [[None if np.isnan(v) else float(v) for v in row] for row in latest]
    start = max(0, 110 - reset.config["dynamics"]["model"]["lags"] - 100)
    assert reset.config["initial"]["series"] == sent[start:]
    assert reset.config["initial"]["first_index"] == start
    assert reset.health["status"] == "ok" and reset.t == 0


def test_missing_values_and_the_long_format_with_future_covariates(client: Client) -> None:
    """The statsforecast shape in and out: unique_id, ds, y, covariates; X_df their future."""
    rng = np.random.default_rng(0)
    ds = pd.date_range("2026-01-01", periods=84, freq="D")
    frames, futures = [], []
    for uid in ("north", "south"):
        temp = 15 + 5 * np.sin(np.arange(84) / 7) + rng.normal(0, 0.5, 84)
        y = 50 + 2 * temp + rng.normal(0, 1, 84)
        frame = pd.DataFrame({"unique_id": uid, "ds": ds, "y": y, "temp": temp})
        frame.loc[[10, 11, 40], "y"] = np.nan  # a sensor that dropped readings
        frame.loc[60, "y"] = -999.0  # and a logger's error code
        frames.append(frame.iloc[:80])
        futures.append(frame.iloc[80:][["unique_id", "ds", "temp"]])
    df, X_df = pd.concat(frames), pd.concat(futures)
    fc = client.forecast(df, horizon=4, X_df=X_df, levels=[80], model=MODEL)
    out = fc.to_frame()
    assert list(out.columns[:4]) == ["unique_id", "ds", "mean", "median"]
    assert {"lo-80", "hi-80", "epistemic_std", "aleatoric_std"} <= set(out.columns)
    assert list(out["unique_id"]) == ["north"] * 4 + ["south"] * 4
    assert list(pd.to_datetime(out["ds"]).dt.tz_localize(None)[:4]) == list(ds[80:84])
    north = fc["north"]
    assert [c["index"] for c in north.imputed] == [10, 11, 40, 60]
    assert [(c["index"], c["value"]) for c in north.set_aside] == [(60, -999.0)]
    assert north.fitted["covariates"]["names"] == ["temp"]
    kept = client.forecast(df, horizon=4, X_df=X_df, levels=[80], model=MODEL, outliers="keep")
    assert kept["north"].set_aside == [] and kept["north"].std[0] > 5 * north.std[0]


def test_a_long_frame_without_its_future_is_refused_by_the_server(client: Client) -> None:
    ds = pd.date_range("2026-01-01", periods=40, freq="D")
    df = pd.DataFrame({"unique_id": "a", "ds": ds, "y": Y[:40], "price": Y[:40] ** 2})
    with pytest.raises(KalmanacError) as info:
        client.forecast(df, horizon=3, model=MODEL)
    assert info.value.field("series.0.covariates.price.future") is not None
