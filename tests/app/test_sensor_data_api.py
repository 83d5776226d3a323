"""Real sensor data through HTTP: missing values, timestamps on a grid, anomalies, refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.app.test_backtests_api import run_backtest
from tests.app.test_models_api import ar2, train, wait_job


def gappy(n: int, seed: int, fraction: float) -> list[float | None]:
    values: list[float | None] = list(ar2(n, seed))
    rng = np.random.default_rng(seed + 1)
    for i in np.nonzero(rng.random(n) < fraction)[0]:
        values[int(i)] = None
    return values


def forecast(client: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    r = client.post("/v1/forecasts?wait=30", json={"horizon": 4, **body}, headers=headers)
    assert r.status_code == 200, r.text
    job = r.json()
    assert job["status"] == "succeeded", job
    return dict(job["result"]["series"][0])


@pytest.mark.parametrize("kind", ["bayes_ar", "auto"])
def test_a_forecast_through_nulls_reports_each_imputed_value(
    client: TestClient, headers: dict[str, str], kind: str
) -> None:
    values = gappy(200, 0, 0.2)
    values[-1] = None
    times = [f"2026-01-01T{h // 60:02d}:{h % 60:02d}:00" for h in range(200)]
    s = forecast(
        client,
        headers,
        series=[{"id": "s", "values": values, "timestamps": times}],
        model={"kind": kind},
    )
    missing = [i for i, v in enumerate(values) if v is None]
    assert [c["index"] for c in s["imputed"]] == missing
    last = s["imputed"][-1]
    assert last["timestamp"].startswith("2026-01-01T03:19") and last["component"] is None
    lo, hi = last["intervals"]["95"]
    assert lo < last["mean"] < hi and last["std"] > 0
    assert s["fitted"]["missing"]["count"] == len(missing)
    assert len(s["mean"]) == 4 and min(s["epistemic_std"]) > 0


def test_auto_on_a_short_series_takes_the_candidates_that_fit_it(
    client: TestClient, headers: dict[str, str]
) -> None:
    """Two years of monthly values, too few for the ensemble (52), are not a 422: auto scores
    the candidates that fit (the pool and analog); below what the pool needs, a 422 says
    how many."""
    values = [round(10 + 3 * np.sin(2 * np.pi * t / 12) + 0.1 * t, 3) for t in range(24)]
    times = [f"{2024 + t // 12}-{t % 12 + 1:02d}-01" for t in range(24)]
    s = forecast(
        client,
        headers,
        series=[{"id": "m", "values": values, "timestamps": times}],
        model={"kind": "auto"},
    )
    assert s["fitted"]["auto"]["choice"] == "bayes_ar_pool"
    assert set(s["fitted"]["auto"]["validation_crps"]) == {"bayes_ar_pool", "analog"}
    assert s["fitted"]["auto"]["left_out"]["ensemble"].startswith("needs 52 values to fit")
    short = {"id": "m", "values": values[:8]}
    r = client.post(
        "/v1/forecasts",
        json={"series": [short], "horizon": 2, "model": {"kind": "auto"}},
        headers=headers,
    )
    assert r.status_code == 422 and "needs at least 9" in r.json()["detail"][0]["msg"]


def test_a_version_trained_with_gaps_forecasts_a_context_with_gaps(
    client: TestClient, headers: dict[str, str]
) -> None:
    job = train(client, headers, "gappy", {"kind": "bayes_ar"}, gappy(300, 1, 0.1))  # type: ignore[arg-type]
    assert job["status"] == "succeeded"
    context = gappy(60, 2, 0.2)
    first = next(i for i, v in enumerate(context) if v is not None)
    s = forecast(
        client,
        headers,
        series=[{"id": "s", "values": context}],
        model={"name": "gappy", "version": 1},
    )
    gaps = [i for i, v in enumerate(context) if v is None and i > first]
    assert [c["index"] for c in s["imputed"]] == gaps
    # a context that starts late is conditioned on from its first reading
    late = forecast(
        client,
        headers,
        series=[{"id": "s", "values": [None] * 5 + context}],
        model={"name": "gappy", "version": 1},
    )
    assert late["fitted"]["leading_missing"] == first + 5
    assert [c["index"] - 5 for c in late["imputed"]] == gaps
    np.testing.assert_allclose(late["mean"], s["mean"], rtol=1e-9)


def test_a_multivariate_row_may_miss_a_component(
    client: TestClient, headers: dict[str, str]
) -> None:
    a, b = ar2(150, 3), ar2(150, 4)
    rows: list[list[float | None]] = [[x, y] for x, y in zip(a, b, strict=True)]
    rows[40][1] = None
    rows[90][0] = None
    s = forecast(client, headers, series=[{"id": "s", "values": rows}])
    assert [(c["index"], c["component"]) for c in s["imputed"]] == [(40, 1), (90, 0)]
    assert len(s["mean"][0]) == 2


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([None] * 30, "0 observed values"),
        ([1.0] + [None] * 30, "1 observed values"),
        ([float(i % 5) if i % 6 == 0 else None for i in range(30)], "5 observed values"),
    ],
)
def test_too_few_observed_values_is_a_422_saying_how_many_are_needed(
    client: TestClient, headers: dict[str, str], values: list[float | None], message: str
) -> None:
    r = client.post(
        "/v1/forecasts",
        json={"series": [{"id": "s", "values": values}], "horizon": 2},
        headers=headers,
    )
    assert r.status_code == 422, r.text
    (detail,) = r.json()["detail"]
    assert detail["field"].startswith("series.0.values") and message in detail["msg"]


def test_conformal_calibration_runs_through_missing_values(
    client: TestClient, headers: dict[str, str]
) -> None:
    s = forecast(
        client,
        headers,
        series=[{"id": "s", "values": gappy(300, 5, 0.1)}],
        calibration="conformal",
        calibration_folds=20,
    )
    lo, hi = s["calibrated_intervals"]["95"]["lower"], s["calibrated_intervals"]["95"]["upper"]
    assert all(a < b for a, b in zip(lo, hi, strict=True))
    assert 0 < s["calibration"]["backtest_coverage"]["95"] <= 1


def test_a_backtest_scores_only_the_values_that_were_observed(
    client: TestClient, headers: dict[str, str]
) -> None:
    values = gappy(300, 6, 0.1)
    values[-1] = None  # the last test window holds a missing value
    body = {"series": [{"id": "s", "values": values}], "horizon": 4, "folds": 3}
    r = client.post("/v1/backtests", json=body, headers=headers)
    assert r.status_code == 202, r.text
    job = wait_job(client, r.json()["id"], headers)
    assert job["status"] == "succeeded", job
    job = client.get(f"/v1/backtests/{job['id']}", headers=headers).json()
    overall = job["result"]["series"][0]["metrics"]["overall"]
    assert overall["crps"] > 0 and 0 <= overall["coverage_80"] <= 1


def test_a_gap_in_the_timestamps_is_imputed_and_the_forecast_continues_the_months(
    client: TestClient, headers: dict[str, str]
) -> None:
    values = ar2(60, 6)
    months = [f"{2020 + m // 12}-{m % 12 + 1:02d}-01" for m in range(63) if m not in (20, 21, 22)]
    s = forecast(
        client,
        headers,
        series=[{"id": "m", "values": values, "timestamps": months}],
        horizon=2,
    )
    assert [c["index"] for c in s["imputed"]] == [20, 21, 22]
    assert s["imputed"][0]["timestamp"].startswith("2021-09-01")
    assert [t[:10] for t in s["timestamps"]] == ["2025-04-01", "2025-05-01"]
    assert s["fitted"]["grid"] == {
        "freq": "1MS",
        "timezone": None,
        "length": 63,
        "empty_slots": 3,
        "merged": 0,
    }


def test_daily_local_time_across_dst_with_a_timezone(
    client: TestClient, headers: dict[str, str]
) -> None:
    days = [f"2026-03-{d:02d}T09:00:00" for d in range(1, 29)]
    s = forecast(
        client,
        headers,
        series=[{"id": "d", "values": ar2(28, 7), "timestamps": days, "timezone": "Europe/Paris"}],
        horizon=3,
    )
    assert s["timestamps"] == [
        "2026-03-29T09:00:00+02:00",
        "2026-03-30T09:00:00+02:00",
        "2026-03-31T09:00:00+02:00",
    ]


@pytest.mark.parametrize(
    ("series", "field", "words"),
    [
        ({"freq": "fortnightly"}, "series.0.freq", "not a frequency"),
        ({"timezone": "Mars/Olympus"}, "series.0.timezone", "IANA"),
        ({"freq": "D", "timestamps": None}, "series.0", "need timestamps"),
        ({"freq": "1h"}, "series.0.timestamps", "same 1h slot"),
    ],
)
def test_bad_time_settings_are_422s_naming_the_field(
    client: TestClient,
    headers: dict[str, str],
    series: dict[str, Any],
    field: str,
    words: str,
) -> None:
    times = [f"2026-01-01T00:{m:02d}:00" for m in range(40)]
    s = {"id": "s", "values": ar2(40, 8), "timestamps": times, **series}
    r = client.post("/v1/forecasts", json={"series": [s], "horizon": 2}, headers=headers)
    assert r.status_code == 422, r.text
    (detail,) = r.json()["detail"]
    assert detail["field"] == field and words in detail["msg"], detail


def test_values_in_one_slot_are_averaged_on_request(
    client: TestClient, headers: dict[str, str]
) -> None:
    times = [f"2026-01-01T{h:02d}:{m:02d}:00" for h in range(20) for m in (0, 20)]
    s = forecast(
        client,
        headers,
        series=[{"id": "s", "values": ar2(40, 9), "timestamps": times, "freq": "1h",
                 "aggregate": "mean"}],
        horizon=1,
    )  # fmt: skip
    assert s["fitted"]["grid"]["merged"] == 20 and s["fitted"]["grid"]["length"] == 20


def test_detect_anomalies_lists_a_spike_with_its_time(
    client: TestClient, headers: dict[str, str]
) -> None:
    values: list[float | None] = list(ar2(200, 10))
    values[120] = 25.0
    values[60] = None  # a missing reading is never an anomaly
    start = datetime(2026, 2, 1, tzinfo=UTC)
    times = [(start + timedelta(minutes=15 * k)).isoformat() for k in range(200)]
    s = forecast(
        client,
        headers,
        series=[{"id": "s", "values": values, "timestamps": times}],
        detect_anomalies={"level": 99.9},
    )
    spike = next(a for a in s["anomalies"] if a["index"] == 120)
    assert spike["timestamp"] == "2026-02-02T06:00:00Z" and spike["value"] == 25.0
    assert spike["reason"] == "outside" and spike["interval"][1] < 25.0
    assert 60 not in {a["index"] for a in s["anomalies"]}


def test_an_anomaly_level_out_of_range_is_a_422(
    client: TestClient, headers: dict[str, str]
) -> None:
    body = {"series": [{"id": "s", "values": ar2(50, 1)}], "horizon": 2}
    r = client.post(
        "/v1/forecasts", json={**body, "detect_anomalies": {"level": 100}}, headers=headers
    )
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "detect_anomalies.level"


def test_nonnegative_support_keeps_counts_at_or_above_zero(
    client: TestClient, headers: dict[str, str]
) -> None:
    rng = np.random.default_rng(12)
    counts = [float(c) for c in rng.poisson(0.7, 120)]
    body = {"series": [{"id": "c", "values": counts}], "quantiles": [0.05], "levels": [95]}
    real = forecast(client, headers, **body, return_samples=True)
    assert min(real["intervals"]["95"]["lower"]) < 0  # the Gaussian AR's own intervals
    s = forecast(client, headers, **body, support="nonnegative", return_samples=True)
    assert min(s["intervals"]["95"]["lower"]) >= 0 and min(s["quantiles"]["0.05"]) >= 0
    assert np.min(s["samples"]) >= 0 and min(s["mean"]) > 0
    assert all(
        abs(np.hypot(e, a) - t) < 1e-9
        for e, a, t in zip(s["epistemic_std"], s["aleatoric_std"], s["std"], strict=True)
    )


def test_nonnegative_support_refuses_a_negative_value_by_name(
    client: TestClient, headers: dict[str, str]
) -> None:
    body = {"series": [{"id": "c", "values": [1.0, -2.0] * 20}], "horizon": 2}
    r = client.post("/v1/forecasts", json={**body, "support": "nonnegative"}, headers=headers)
    assert r.status_code == 422 and "item 1 is negative" in r.json()["detail"][0]["msg"]


def test_an_hourly_series_gets_its_daily_season_without_asking(
    client: TestClient, headers: dict[str, str]
) -> None:
    rng = np.random.default_rng(13)
    t = np.arange(24 * 14)
    values = (10 + 3 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 0.5, t.size)).round(4)
    start = datetime(2026, 5, 1, tzinfo=UTC)
    times = [(start + timedelta(hours=int(h))).isoformat() for h in t]
    s = forecast(
        client, headers, series=[{"id": "h", "values": values.tolist(), "timestamps": times}]
    )
    season = s["fitted"]["seasonality"]
    assert season["season_length"] == 24 and {"period": 24, "from": "freq"} in season["candidates"]
    assert s["fitted"]["grid"]["freq"] == "1h"
    # max_lag left out: two days of lags, the grid's season's, for every season it scored
    assert s["fitted"]["max_lag"] == 48


def test_a_record_that_starts_late_is_fitted_from_its_first_reading(
    client: TestClient, headers: dict[str, str]
) -> None:
    """Three empty days before an hourly sensor's first reading: the forecast is the record's
    from that reading on, and every reported index still counts from the posted series'
    start. (The blank hours used to be drawn from the model and listed as imputed; 200 of
    them before 400 readings lost the daily season and cost 8-29% in CRPS.)"""
    rng = np.random.default_rng(5)
    t = np.arange(24 * 17)
    readings = (10 + 3 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 0.5, t.size)).round(4)
    values: list[float | None] = [None] * 72 + readings[72:].tolist()
    values[100] = values[250] = None
    values[300] = 9999.0
    start = datetime(2026, 5, 1, tzinfo=UTC)
    times = [(start + timedelta(hours=int(h))).isoformat() for h in t]
    late = forecast(client, headers, series=[{"id": "s", "values": values, "timestamps": times}])
    assert late["fitted"]["leading_missing"] == 72
    assert late["fitted"]["seasonality"]["season_length"] == 24
    assert [c["index"] for c in late["imputed"]] == [100, 250, 300]
    assert late["imputed"][0]["timestamp"] == "2026-05-05T04:00:00Z"
    (aside,) = late["set_aside"]
    assert (aside["index"], aside["timestamp"]) == (300, "2026-05-13T12:00:00Z")
    record = [{"id": "s", "values": values[72:], "timestamps": times[72:]}]
    same = forecast(client, headers, series=record)
    assert "leading_missing" not in same["fitted"]
    np.testing.assert_allclose(late["mean"], same["mean"], rtol=1e-9)
    assert [c["index"] - 72 for c in late["imputed"]] == [c["index"] for c in same["imputed"]]


def driven_series(T: int, seed: int) -> tuple[list[float], list[float]]:
    rng = np.random.default_rng(seed)
    x = np.cumsum(rng.normal(0, 0.3, T)) + 2 * np.sin(np.arange(T) / 9)
    y = np.zeros(T)
    for t in range(1, T):
        y[t] = 0.5 * y[t - 1] + 2.0 * x[t] + rng.normal()
    return [round(float(v), 5) for v in y + 20], [round(float(v), 5) for v in x]


@pytest.mark.parametrize("kind", ["bayes_ar", "bayes_ar_bma", "bayes_ar_pool", "auto"])
def test_a_covariate_with_its_future_drives_the_forecast(
    client: TestClient, headers: dict[str, str], kind: str
) -> None:
    y, x = driven_series(206, 14)
    cov = {"temp": {"values": x[:200], "future": x[200:]}}
    s = forecast(
        client,
        headers,
        series=[{"id": "s", "values": y[:200], "covariates": cov}],
        horizon=6,
        model={"kind": kind},
    )
    assert s["fitted"]["covariates"] == {"names": ["temp"], "interpolated": 0}
    plain = forecast(
        client, headers, series=[{"id": "s", "values": y[:200]}], horizon=6, model={"kind": kind}
    )
    error = np.abs(np.array(s["mean"]) - y[200:]).mean()
    assert error < np.abs(np.array(plain["mean"]) - y[200:]).mean()


def test_a_drivers_gross_fault_is_set_aside_by_name(
    client: TestClient, headers: dict[str, str]
) -> None:
    """A logger's 9999 in the temperature would flatten its coefficient to about 0: it is
    an unknown value of the driver (interpolated), listed under the covariate's name."""
    y, x = driven_series(206, 14)
    faulty = [*x[:120], 9999.0, *x[121:200]]

    def with_temp(values: list[float], **options: Any) -> dict[str, Any]:
        cov = {"temp": {"values": values, "future": x[200:]}}
        series = [{"id": "s", "values": y[:200], "covariates": cov}]
        return forecast(client, headers, series=series, horizon=6, **options)

    s, clean = with_temp(faulty), with_temp(x[:200])
    (aside,) = s["fitted"]["covariates"]["set_aside"]
    assert (aside["covariate"], aside["index"], aside["value"]) == ("temp", 120, 9999.0)
    assert s["fitted"]["covariates"]["interpolated"] == 1 and s["set_aside"] is None
    assert np.abs(np.array(s["mean"]) - clean["mean"]).max() < 0.1 * np.std(y)
    kept = with_temp(faulty, outliers="keep")
    assert "set_aside" not in kept["fitted"]["covariates"]


def test_a_gross_fault_in_a_drivers_future_is_set_aside_too(
    client: TestClient, headers: dict[str, str]
) -> None:
    """A 9999 in a posted plan would be the forecast's input at that step: it is screened as
    the continuation of the driver's readings, interpolated, and listed as in the future."""
    y, x = driven_series(206, 14)
    faulty = [*x[200:202], 9999.0, *x[203:206]]

    def with_future(future: list[float], **options: Any) -> dict[str, Any]:
        cov = {"temp": {"values": x[:200], "future": future}}
        series = [{"id": "s", "values": y[:200], "covariates": cov}]
        return forecast(client, headers, series=series, horizon=6, **options)

    s, clean = with_future(faulty), with_future(x[200:])
    (aside,) = s["fitted"]["covariates"]["set_aside"]
    assert (aside["covariate"], aside["index"], aside["future"]) == ("temp", 2, True)
    assert aside["value"] == 9999.0 and s["fitted"]["covariates"]["interpolated"] == 0
    assert np.abs(np.array(s["mean"]) - clean["mean"]).max() < 0.2 * np.std(y)
    kept = with_future(faulty, outliers="keep")
    assert abs(kept["mean"][2] - clean["mean"][2]) > 100 * np.std(y)  # what it would do


def test_calendar_terms_and_a_version_that_keeps_its_drivers(
    client: TestClient, headers: dict[str, str]
) -> None:
    t = np.arange(24 * 12)
    rng = np.random.default_rng(15)
    y = (10 + 3 * (t % 24 >= 8) * (t % 24 < 18) + rng.normal(0, 0.3, t.size)).round(4)
    start = datetime(2026, 6, 1, tzinfo=UTC)
    times = [(start + timedelta(hours=int(h))).isoformat() for h in t]
    series = {"id": "s", "values": y.tolist(), "timestamps": times, "calendar": ["hour"]}
    train(client, headers, "office", {"kind": "bayes_ar"}, series)
    s = forecast(client, headers, series=[series], model={"name": "office", "version": 1})
    assert s["fitted"]["stored"]["name"] == "office"
    r = client.post(
        "/v1/forecasts",
        json={
            "series": [{**series, "calendar": []}],
            "horizon": 2,
            "model": {"name": "office", "version": 1},
        },
        headers=headers,
    )
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["field"] == "series.0.covariates"


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"future": None}, "series.0.covariates.temp.future", "needs the next 4 values"),
        ({"future": [1.0, 2.0]}, "series.0.covariates.temp.future", "2 values; the horizon is 4"),
        ({"values": [1.0] * 10}, "series.0", "10 given for 60 values"),
    ],
)
def test_a_bad_covariate_is_a_422_naming_it(
    client: TestClient, headers: dict[str, str], change: dict[str, Any], field: str, words: str
) -> None:
    y, x = driven_series(64, 16)
    cov = {"values": x[:60], "future": x[60:], **change}
    body = {"series": [{"id": "s", "values": y[:60], "covariates": {"temp": cov}}], "horizon": 4}
    r = client.post("/v1/forecasts", json=body, headers=headers)
    assert r.status_code == 422, r.text
    (detail,) = r.json()["detail"]
    assert detail["field"] == field and words in detail["msg"], detail


def test_a_kind_that_takes_no_covariates_is_refused_by_name(
    client: TestClient, headers: dict[str, str]
) -> None:
    y, x = driven_series(104, 17)
    cov = {"temp": {"values": x[:100], "future": x[100:]}}
    body = {"series": [{"id": "s", "values": y[:100], "covariates": cov}], "horizon": 4}
    r = client.post("/v1/forecasts", json={**body, "model": {"kind": "analog"}}, headers=headers)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "model.kind"
    backtest = {**body, "folds": 2, "model": {"kind": "analog"}}
    r = client.post("/v1/backtests", json=backtest, headers=headers)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "model.kind"


def test_a_backtest_with_drivers_takes_each_folds_future_from_their_history(
    client: TestClient, headers: dict[str, str]
) -> None:
    """Does the driver help? A backtest answers it: each fold is fitted with the drivers up
    to its origin and forecast with their values over its horizon as the known future (no
    future is posted; the history holds it)."""
    y, x = driven_series(300, 18)
    x[150] = 9999.0  # a logger's fault in the driver: set aside, as a forecast sets it aside
    body = {"horizon": 6, "folds": 4, "model": {"kind": "bayes_ar"}}
    plain = run_backtest(client, headers, {**body, "series": [{"id": "s", "values": y}]})
    driven = {"id": "s", "values": y, "covariates": {"temp": {"values": x}}}
    job = run_backtest(client, headers, {**body, "series": [driven]})
    metrics = job["result"]["series"][0]["metrics"]
    (aside,) = metrics["covariates"]["set_aside"]
    assert (aside["covariate"], aside["index"], aside["value"]) == ("temp", 150, 9999.0)
    assert metrics["covariates"]["names"] == ["temp"]
    crps = metrics["overall"]["crps"]
    assert crps < 0.8 * plain["result"]["series"][0]["metrics"]["overall"]["crps"]


def test_conformal_calibration_with_drivers_scores_folds_with_their_known_future(
    client: TestClient, headers: dict[str, str]
) -> None:
    y, x = driven_series(206, 19)
    cov = {"temp": {"values": x[:200], "future": x[200:]}}
    body = {"model": {"kind": "bayes_ar"}, "calibration": "conformal", "horizon": 6}

    def width(series: dict[str, Any]) -> float:
        s = forecast(client, headers, series=[series], **body)
        interval = s["calibrated_intervals"]["80"]
        return float(np.mean(np.subtract(interval["upper"], interval["lower"])))

    driven = width({"id": "s", "values": y[:200], "covariates": cov})
    assert driven < 0.8 * width({"id": "s", "values": y[:200]})


def test_excluded_anomalies_are_listed_and_fitted_through_as_missing(
    client: TestClient, headers: dict[str, str]
) -> None:
    values: list[float | None] = list(ar2(200, 18))
    values[150] = 40.0
    s = forecast(
        client,
        headers,
        series=[{"id": "s", "values": values}],
        detect_anomalies={"level": 99.9, "exclude": True},
    )
    assert 150 in {a["index"] for a in s["anomalies"]}
    spike = next(c for c in s["imputed"] if c["index"] == 150)
    assert abs(spike["mean"]) < 5  # what the series says was there, not the spike


def test_a_gross_fault_is_set_aside_by_default_and_kept_on_request(
    client: TestClient, headers: dict[str, str]
) -> None:
    clean = list(ar2(200, 21))
    values: list[float | None] = [*clean[:-1], 1e4]  # a wild last reading: the forecast's start
    start = datetime(2026, 3, 1, tzinfo=UTC)
    times = [(start + timedelta(hours=k)).isoformat() for k in range(200)]
    series = {"id": "s", "values": values, "timestamps": times}
    s = forecast(client, headers, series=[series], model={"kind": "bayes_ar"})
    (aside,) = s["set_aside"]
    assert aside["index"] == 199 and aside["value"] == 1e4 and "score" in aside
    assert aside["timestamp"] == "2026-03-09T07:00:00Z" and "set_aside" not in s["fitted"]
    (filled,) = [c for c in s["imputed"] if c["index"] == 199]
    assert abs(filled["mean"] - clean[-1]) < 5 * filled["std"] + 3
    reference = forecast(client, headers, series=[{**series, "values": clean}])
    assert abs(s["mean"][0] - reference["mean"][0]) < 3 * reference["std"][0]
    kept = forecast(client, headers, series=[series], model={"kind": "bayes_ar"}, outliers="keep")
    assert kept["set_aside"] is None and kept["imputed"] is None and kept["mean"][0] > 100


def test_a_version_reports_the_faults_it_was_trained_without(
    client: TestClient, headers: dict[str, str]
) -> None:
    values = list(ar2(200, 22))
    values[80] = -500.0
    train(client, headers, "faulty", {"kind": "bayes_ar"}, values)
    version = client.get("/v1/models/faulty/versions/1", headers=headers).json()
    (aside,) = version["metrics"]["fitted"]["set_aside"]
    assert aside["index"] == 80 and aside["value"] == -500.0
    r = client.post(
        "/v1/forecasts", json={"series": [{"id": "s", "values": values}], "horizon": 2,
                               "outliers": "drop"}, headers=headers)  # fmt: skip
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "outliers"


def test_a_move_at_the_end_is_forecast_from_and_an_error_code_is_set_aside(
    client: TestClient, headers: dict[str, str]
) -> None:
    clean = np.asarray(ar2(200, 23))
    jump = 30 * float(clean.std())
    moved = [*clean[:-3], *(clean[-3:] + jump)]  # recalibrated: the series is somewhere else
    s = forecast(client, headers, series=[{"id": "s", "values": moved}])
    assert s["set_aside"] is None and s["mean"][0] > clean.mean() + jump / 2
    coded = [*clean[:-3], 9999.0, 9999.0, 9999.0]  # the logger's error code, repeated
    s = forecast(client, headers, series=[{"id": "s", "values": coded}])
    assert [a["index"] for a in s["set_aside"]] == [197, 198, 199]
    assert abs(s["mean"][0] - clean.mean()) < 5 * float(clean.std())
    setpoint = [20.0] * 60 + [22.0] * 40  # a stepped series holds its new level
    s = forecast(client, headers, series=[{"id": "s", "values": setpoint}])
    assert s["set_aside"] is None and abs(s["mean"][0] - 22.0) < 0.5
