"""Streams whose dynamics is a stored forecaster, through HTTP with the embedded worker."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.services.surrogates import HISTORY
from tests.app.test_models_api import train
from tests.conftest import issue_key
from tests.streams_support import wait_assimilated

T_TRAIN, ORIGIN, K, H = 300, 340, 30, 5  # train on y[:300]; forecast at 340; stream 30 steps
NOISE = 0.5  # std of the streamed measurements of component 0 (component 1 is never seen)


def var1(T: int, seed: int) -> np.ndarray:
    """A bivariate VAR(1), unit innovations: (T, 2). Component 1 is a persistent driver that
    component 0 follows, so measuring 0 also tells about 1."""
    rng = np.random.default_rng(seed)
    A = np.array([[0.6, 0.5], [0.0, 0.95]])
    y = np.zeros((T + 100, 2))
    for t in range(1, T + 100):
        y[t] = A @ y[t - 1] + rng.standard_normal(2)
    return np.round(y[100:], 6)


@pytest.fixture(scope="module")
def tenant(settings: Settings, client: TestClient) -> dict[str, str]:
    """One tenant holding the model version every test here uses ("flow", alias "prod")."""
    headers = {"Authorization": f"Bearer {issue_key(settings)}"}
    y = var1(ORIGIN + K + H, seed=0)
    train(
        client,
        headers,
        "flow",
        {"kind": "bayes_ar", "params": {"max_lag": 3}},
        y[:T_TRAIN].tolist(),
    )
    r = client.put("/v1/models/flow/aliases/prod", json={"version": 1}, headers=headers)
    assert r.status_code == 200, r.text
    return headers


def open_stream(client: TestClient, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    y = var1(ORIGIN + K + H, seed=0)
    body: dict[str, Any] = {
        "dynamics": {"model": {"name": "flow", "alias": "prod"}},
        "observation": {"indices": [0], "noise_std": NOISE},
        "filter": {"method": "etkf", "ensemble_size": 32, "inflation": 1.0},
        "initial": {"series": y[:ORIGIN].tolist()},
        "seed": 5,
    }
    body.update(overrides)
    r = client.post("/v1/streams", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


def measurements(seed: int = 9) -> list[dict[str, Any]]:
    """Noisy measurements of component 0 at t = 1..K (series steps after the origin)."""
    y = var1(ORIGIN + K + H, seed=0)
    rng = np.random.default_rng(seed)
    return [
        {"seq": k, "t": k, "values": [float(y[ORIGIN + k - 1, 0] + NOISE * rng.standard_normal())]}
        for k in range(1, K + 1)
    ]


def rmse(a: Any, b: Any) -> float:
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def test_streamed_measurements_correct_the_forecast(
    client: TestClient, tenant: dict[str, str]
) -> None:
    """The use case: forecast at t, then stream noisy, partial measurements of the next
    steps; the stream's analyses and its forecast beat the forecast made at t."""
    y = var1(ORIGIN + K + H, seed=0)
    truth_k, truth_h = y[ORIGIN : ORIGIN + K], y[ORIGIN + K : ORIGIN + K + H]
    body = {
        "series": [{"id": "flow", "values": y[:ORIGIN].tolist()}],
        "horizon": K + H,
        "seed": 0,
        "model": {"name": "flow", "alias": "prod"},
    }
    out = client.post("/v1/forecasts?wait=30", json=body, headers=tenant).json()
    assert out["status"] == "succeeded", out
    uncorrected = np.array(out["result"]["series"][0]["mean"])  # (K + H, 2)

    stream = open_stream(client, tenant)
    pinned = stream["config"]["dynamics"]["model"]
    assert (pinned["version"], pinned["alias"], pinned["lags"], pinned["dim"]) == (1, "prod", 1, 2)
    url = f"/v1/streams/{stream['id']}"
    r = client.post(f"{url}/observations", json={"observations": measurements()}, headers=tenant)
    assert r.status_code == 202, r.text
    state = wait_assimilated(client, stream["id"], tenant, K)
    assert state["n_assimilated"] == K and state["t"] == K
    items = client.get(f"{url}/analyses?limit=100", headers=tenant).json()["items"]
    analysed = np.array([a["mean"][-2:] for a in items])  # the window's newest value
    assert len(analysed) == K and len(items[0]["mean"]) == 2 * pinned["lags"]

    r = client.get(f"{url}/forecast", params={"horizon": H, "levels": [90]}, headers=tenant)
    assert r.status_code == 200, r.text
    (s,) = r.json()["result"]["series"]
    assert np.shape(s["mean"]) == (H, 2) and s["times"] == [K + 1.0 + k for k in range(H)]
    epi, alea = np.array(s["epistemic_std"]), np.array(s["aleatoric_std"])
    assert (epi > 0).all() and (alea > 0).all()  # state/parameter spread and the AR noise

    errors = {
        "uncorrected_steps": rmse(uncorrected[:K], truth_k),
        "analysis_steps": rmse(analysed, truth_k),
        "uncorrected_steps_unobserved": rmse(uncorrected[:K, 1], truth_k[:, 1]),
        "analysis_steps_unobserved": rmse(analysed[:, 1], truth_k[:, 1]),
        "uncorrected_after": rmse(uncorrected[K:], truth_h),
        "corrected_after": rmse(s["mean"], truth_h),
    }
    print("surrogate stream errors:", {k: round(v, 3) for k, v in errors.items()})
    assert errors["analysis_steps"] < 0.5 * errors["uncorrected_steps"], errors
    assert errors["analysis_steps_unobserved"] < errors["uncorrected_steps_unobserved"], errors
    assert errors["corrected_after"] < errors["uncorrected_after"], errors


def test_same_analyses_whatever_the_batching(client: TestClient, tenant: dict[str, str]) -> None:
    """Step noise is keyed by (seed, seq): one post or one post per measurement, same numbers."""
    obs = measurements()[:8]
    a, b = open_stream(client, tenant), open_stream(client, tenant)
    client.post(f"/v1/streams/{a['id']}/observations", json={"observations": obs}, headers=tenant)
    for o in obs:
        client.post(
            f"/v1/streams/{b['id']}/observations", json={"observations": [o]}, headers=tenant
        )
    wait_assimilated(client, a["id"], tenant, 8)
    wait_assimilated(client, b["id"], tenant, 8)

    def analyses(sid: str) -> list[Any]:
        return client.get(f"/v1/streams/{sid}/analyses", headers=tenant).json()["items"]

    assert analyses(a["id"]) == analyses(b["id"])


def test_a_reset_restarts_from_the_latest_values(
    client: TestClient, tenant: dict[str, str]
) -> None:
    """A model stream cannot be redrawn around its opening series (up to t0, which it has
    moved past): a reset takes the series up to the stream's time, or a window's mean, and
    the stream goes on from there."""
    y = var1(ORIGIN + K + H, seed=0)
    sid = open_stream(client, tenant)["id"]
    obs = measurements()
    r = client.post(f"/v1/streams/{sid}/observations", json={"observations": obs[:10]},
                    headers=tenant)  # fmt: skip
    assert r.status_code == 202, r.text
    wait_assimilated(client, sid, tenant, 10)
    url = f"/v1/streams/{sid}/reset"
    latest = y[: ORIGIN + 10].tolist()  # the series up to the stream's time, t = 10
    for body, field in [
        ({}, "initial"),
        ({"initial": {"series": latest, "mean": [0.0, 0.0]}}, "initial"),
        ({"initial": {"series": latest, "std": 2.0}}, "initial.std"),
        ({"initial": {"series": [[1.0, 2.0, 3.0]]}}, "initial.series.0"),
        ({"initial": {"mean": [1.0, 2.0, 3.0]}}, "initial.mean"),
    ]:
        r = client.post(url, json=body, headers=tenant)
        assert r.status_code == 422, (body, r.text)
        assert field in [d["field"] for d in r.json()["detail"]], (body, r.text)

    r = client.post(url, json={"initial": {"series": latest}}, headers=tenant)
    assert r.status_code == 200, r.text
    state = r.json()
    assert state["t"] == 10 and state["last_seq"] == 10 and state["health"]["status"] == "ok"
    kept = state["config"]["initial"]  # the window (1 lag) and the history before it
    assert kept["series"] == y[ORIGIN + 10 - 1 - HISTORY : ORIGIN + 10].tolist()
    assert kept["first_index"] == ORIGIN + 10 - 1 - HISTORY
    r = client.post(f"/v1/streams/{sid}/observations", json={"observations": obs[10:15]},
                    headers=tenant)  # fmt: skip
    assert r.status_code == 202, r.text
    state = wait_assimilated(client, sid, tenant, 15)
    items = client.get(f"/v1/streams/{sid}/analyses?limit=100", headers=tenant).json()["items"]
    after = np.array([a["mean"] for a in items if a["seq"] > 10])
    assert after.shape == (5, 2) and rmse(after, y[ORIGIN + 10 : ORIGIN + 15]) < 1.5

    r = client.post(url, json={"initial": {"mean": [0.0, 0.0], "std": 0.5}}, headers=tenant)
    assert r.status_code == 200 and r.json()["mean"] == [0.0, 0.0], r.text


def test_a_gap_or_a_fault_in_the_window_is_drawn_per_member(
    client: TestClient, tenant: dict[str, str]
) -> None:
    """Real exports end with missing readings or a logger's 9999: the members start from
    draws of the window given the readings around it, so a gap spreads the members and a
    fault is set aside, both on record in config.initial by index in the posted series."""
    y = var1(ORIGIN, seed=0).tolist()
    gap, fault = [row[:] for row in y], [row[:] for row in y]
    for row in gap[-3:]:
        row[1] = None  # the newest values of one component, missing
    fault[-1][0] = 9999.0
    started: dict[str, dict[str, Any]] = {}
    for name, series in (("clean", y), ("gap", gap), ("fault", fault)):
        sid = open_stream(client, tenant, initial={"series": series})["id"]
        started[name] = wait_started(client, sid, tenant)
    assert started["clean"]["mean"] == pytest.approx(y[-1]) and started["clean"]["spread"] == [0, 0]
    assert not {"set_aside", "imputed"} & set(started["clean"]["config"]["initial"])

    imputed = started["gap"]["config"]["initial"]["imputed"]
    assert [(c["index"], c["component"]) for c in imputed] == [(ORIGIN - k, 1) for k in (3, 2, 1)]
    low, high = imputed[-1]["intervals"]["95"]
    assert low < y[-1][1] < high
    assert started["gap"]["spread"][0] == 0.0  # observed: every member starts at it
    assert started["gap"]["spread"][1] == pytest.approx(imputed[-1]["std"], rel=0.3)

    initial = started["fault"]["config"]["initial"]
    (aside,) = initial["set_aside"]
    assert (aside["index"], aside["component"], aside["value"]) == (ORIGIN - 1, 0, 9999.0)
    assert [c["index"] for c in initial["imputed"]] == [ORIGIN - 1]
    assert abs(started["fault"]["mean"][0] - y[-1][0]) < 3.0  # drawn, not 9999


def wait_started(
    client: TestClient, stream_id: str, headers: dict[str, str], timeout: float = 60
) -> dict[str, Any]:
    """The stream once the worker has drawn its first ensemble (it has a mean then)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = client.get(f"/v1/streams/{stream_id}", headers=headers).json()
        if state["mean"] is not None:
            return dict(state)
        time.sleep(0.05)
    raise AssertionError(f"stream {stream_id} has no ensemble after {timeout} s: {state}")


def test_pinned_version_survives_an_alias_move(client: TestClient, tenant: dict[str, str]) -> None:
    stream = open_stream(client, tenant, initial={"mean": [0.0, 0.0], "std": 0.5})
    y = var1(200, seed=3)
    train(client, tenant, "flow", {"kind": "bayes_ar", "params": {"lags": 2}}, y.tolist())
    client.put("/v1/models/flow/aliases/prod", json={"version": 2}, headers=tenant)
    try:
        url = f"/v1/streams/{stream['id']}"
        client.post(
            f"{url}/observations", json={"observations": measurements()[:2]}, headers=tenant
        )
        state = wait_assimilated(client, stream["id"], tenant, 2)
        assert state["config"]["dynamics"]["model"]["version"] == 1
        assert len(state["mean"]) == 2  # version 1's window (1 lag x 2), not version 2's
        newer = open_stream(client, tenant)
        assert newer["config"]["dynamics"]["model"]["version"] == 2
        # cut to version 2's window (2 lags) and the history before it
        assert len(newer["config"]["initial"]["series"]) == 2 + HISTORY
    finally:
        client.put("/v1/models/flow/aliases/prod", json={"version": 1}, headers=tenant)


FLOW = {"model": {"name": "flow", "version": 1}}
START = {"mean": [1.0, 2.0]}  # version 1's window: 1 lag x 2 dimensions
BAD = [
    ({"dynamics": {"model": {"name": "nope", "version": 1}}, "initial": START}, "dynamics.model"),
    ({"dynamics": {"model": {"name": "flow", "version": 9}}, "initial": START}, "dynamics.model"),
    ({"dynamics": {"model": {"name": "flow", "alias": "x"}}, "initial": START}, "dynamics.model"),
    ({"dynamics": {"model": {"name": "flow"}}, "initial": START}, "dynamics.model"),
    ({"dynamics": {"system": "lorenz63", **FLOW}}, "dynamics"),
    ({"dynamics": FLOW}, ""),  # no initial window
    ({"dynamics": FLOW, "initial": {"series": [[1.0, 2.0]], **START}}, ""),
    ({"dynamics": FLOW, "initial": {"series": [[1.0, 2.0]], "std": 2.0}}, ""),
    ({"dynamics": FLOW, "initial": {"series": [[1.0, 2.0, 3.0]]}}, "initial.series.0"),
    ({"dynamics": FLOW, "initial": {"series": [1.0, 2.0]}}, "initial.series.0"),
    ({"dynamics": FLOW, "initial": {"series": [[1.0, None], [2.0, None]]}}, "initial.series"),
    ({"dynamics": FLOW, "initial": {"series": []}}, "initial.series"),
    ({"dynamics": FLOW, "initial": {"mean": [1.0, 2.0, 3.0]}}, "initial.mean"),
    ({"dynamics": FLOW, "initial": START, "observation": {"indices": [2]}}, "observation.indices"),
    ({"dynamics": {"system": "lorenz63"}, "initial": {"series": [1.0, 2.0]}}, ""),
]


@pytest.mark.parametrize(("body", "field"), BAD)
def test_bad_surrogate_config(
    client: TestClient, tenant: dict[str, str], body: dict[str, Any], field: str
) -> None:
    r = client.post("/v1/streams", json=body, headers=tenant)
    assert r.status_code == 422, r.text
    fields = [d["field"] for d in r.json()["detail"]]
    assert any(f.startswith(field) for f in fields), fields
    if field:
        assert field in fields, fields  # named exactly, not just a prefix


def test_clocked_models_are_refused(client: TestClient, tenant: dict[str, str]) -> None:
    """Trend and Fourier terms depend on absolute time, which a lag window does not carry."""
    y = var1(200, seed=5)[:, 1]
    train(client, tenant, "trendy", {"kind": "bayes_ar", "params": {"trend": True}}, y.tolist())
    body = {"dynamics": {"model": {"name": "trendy", "version": 1}}, "initial": {"series": [1.0]}}
    r = client.post("/v1/streams", json=body, headers=tenant)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "dynamics.model", r.text
    assert "absolute time" in r.json()["detail"][0]["msg"]


def test_observation_times_count_series_steps(client: TestClient, tenant: dict[str, str]) -> None:
    stream = open_stream(client, tenant, t0=100.0)
    url = f"/v1/streams/{stream['id']}/observations"
    bad = [{"seq": 1, "t": 101.0, "values": [0.1]}, {"seq": 2, "t": 101.5, "values": [0.2]}]
    r = client.post(url, json={"observations": bad}, headers=tenant)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "observations.1.t", r.text
    r = client.post(
        url, json={"observations": [{"seq": 1, "t": 101.0, "values": [0.1, 0.2]}]}, headers=tenant
    )
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "observations.0.values"
    ok = [{"seq": 1, "t": 101.0, "values": [0.1]}, {"seq": 2, "t": 104.0, "values": [0.2]}]
    assert client.post(url, json={"observations": ok}, headers=tenant).status_code == 202
    state = wait_assimilated(client, stream["id"], tenant, 2)  # a skipped step is forecast
    assert state["t"] == 104.0 and state["n_assimilated"] == 2


def test_ensemble_version_as_dynamics(client: TestClient, tenant: dict[str, str]) -> None:
    y = var1(120, seed=4)[:, 0]
    small = {"lags": 4, "hidden": 8, "members": 3, "epochs": 10, "patience": 5}
    train(client, tenant, "nets", {"kind": "ensemble", "params": small}, y.tolist())
    stream = open_stream(
        client,
        tenant,
        dynamics={"model": {"name": "nets", "version": 1}},
        observation={"noise_std": 0.5},
        filter={"method": "etkf", "ensemble_size": 6},
        initial={"series": y[-10:].tolist()},
    )
    assert stream["config"]["initial"]["series"] == [[v] for v in y[-10:].tolist()]
    url = f"/v1/streams/{stream['id']}"
    obs = [{"seq": k, "t": k, "values": [float(y[-1])]} for k in (1, 2, 3)]
    client.post(f"{url}/observations", json={"observations": obs}, headers=tenant)
    state = wait_assimilated(client, stream["id"], tenant, 3)
    assert state["n_assimilated"] == 3 and len(state["mean"]) == 4
    r = client.get(f"{url}/forecast", params={"horizon": 3}, headers=tenant)
    assert r.status_code == 200, r.text
    assert len(r.json()["result"]["series"][0]["mean"]) == 3  # univariate: numbers per step


def test_a_version_trained_with_drivers_is_refused_as_dynamics(
    client: TestClient, tenant: dict[str, str]
) -> None:
    y = var1(200, seed=6)
    series = {
        "id": "h",
        "values": y[:, 0].tolist(),
        "covariates": {"x": {"values": y[:, 1].tolist()}},
    }
    train(client, tenant, "driven", {"kind": "bayes_ar"}, series)
    body = {"dynamics": {"model": {"name": "driven", "version": 1}}, "initial": {"series": [1.0]}}
    r = client.post("/v1/streams", json=body, headers=tenant)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "dynamics.model", r.text
    assert "drivers" in r.json()["detail"][0]["msg"]
