"""Neural observers through HTTP: train a version on simulations, filter a stream with it."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from tests.app.test_models_api import ar2, train, wait_job
from tests.streams_support import twin, wait_assimilated

L96 = {"system": "lorenz96", "params": {"n": 12, "F": 8.0}, "dt": 0.05}
OBS = {"indices": None, "noise_std": 1.0}
TINY = {"members": 2, "hidden": 8, "bred": 4, "trajectories": 4, "window": 4, "iterations": 20}


def train_observer(
    client: TestClient, headers: dict[str, str], name: str, **overrides: Any
) -> dict[str, Any]:
    params = {"dynamics": L96, "observation": OBS, **TINY, **overrides}
    body = {"name": name, "model": {"kind": "observer", "params": params}}
    r = client.post("/v1/models", json=body, headers=headers)
    assert r.status_code == 202, r.text
    job = wait_job(client, r.json()["id"], headers)
    assert job["status"] == "succeeded", job
    return job


def observer_stream(name: str, **overrides: Any) -> dict[str, Any]:
    return {
        "dynamics": L96,
        "observation": OBS,
        "filter": {"method": "observer", "model": {"name": name, "alias": "live"}},
        "seed": 1,
        **overrides,
    }


def test_observer_version_filters_a_stream(client: TestClient, headers: dict[str, str]) -> None:
    job = train_observer(client, headers, "l96-obs")
    assert job["queue"] == "gpu"
    version = client.get("/v1/models/l96-obs/versions/1", headers=headers).json()
    assert version["kind"] == "observer" and version["artifact_bytes"] > 0
    assert np.isfinite(version["metrics"]["twin_rmse"]) and version["metrics"]["twin_spread"] > 0
    trained_on = "cuda" if torch.cuda.is_available() else "cpu"  # the gpu queue's device
    assert version["metrics"]["device"] == job["device"] == trained_on
    assert (
        client.put(
            "/v1/models/l96-obs/aliases/live", json={"version": 1}, headers=headers
        ).status_code
        == 200
    )

    r = client.post("/v1/streams", json=observer_stream("l96-obs"), headers=headers)
    assert r.status_code == 201, r.text
    stream = r.json()
    flt = stream["config"]["filter"]
    assert flt["model"]["version"] == 1 and flt["ensemble_size"] == TINY["members"]  # pinned
    assert flt["model"]["interval"] == L96["dt"]  # trained for (the default: dynamics.dt)

    _, obs = twin("lorenz96", L96["params"], 0.05, 60, noise=1.0)
    r = client.post(
        f"/v1/streams/{stream['id']}/observations", json={"observations": obs}, headers=headers
    )
    assert r.status_code == 202, r.text
    state = wait_assimilated(client, stream["id"], headers, 60)
    assert state["n_assimilated"] == 60
    assert all(np.isfinite(state["mean"])) and all(s > 0 for s in state["spread"])
    page = client.get(f"/v1/streams/{stream['id']}/analyses", headers=headers).json()
    assert page["items"][0]["inflation"] is None and page["items"][0]["innovation_rms"] > 0


def test_a_single_observer_stream(client: TestClient, headers: dict[str, str]) -> None:
    """One member (the fastest): the spread is its predicted analysis error, and a forecast
    starts from draws of it, so its intervals have width, all of it aleatoric."""
    train_observer(client, headers, "l96-one", members=1)
    client.put("/v1/models/l96-one/aliases/live", json={"version": 1}, headers=headers)
    r = client.post("/v1/streams", json=observer_stream("l96-one"), headers=headers)
    assert r.status_code == 201, r.text
    stream = r.json()
    assert stream["config"]["filter"]["ensemble_size"] == 1
    _, obs = twin("lorenz96", L96["params"], 0.05, 20, noise=1.0)
    client.post(
        f"/v1/streams/{stream['id']}/observations", json={"observations": obs}, headers=headers
    )
    state = wait_assimilated(client, stream["id"], headers, 20)
    assert all(np.isfinite(state["mean"])) and all(s > 0 for s in state["spread"])
    r = client.get(f"/v1/streams/{stream['id']}/forecast", params={"horizon": 5}, headers=headers)
    assert r.status_code == 200, r.text
    (s,) = r.json()["result"]["series"]
    assert np.allclose(s["epistemic_std"], 0.0) and (np.array(s["aleatoric_std"]) > 0).all()
    lo, hi = np.array(s["intervals"]["80"]["lower"]), np.array(s["intervals"]["80"]["upper"])
    assert (hi > lo).all()


def test_a_recurrent_observers_memory_outlives_a_batch(
    client: TestClient, headers: dict[str, str]
) -> None:
    """The memory a recurrent observer (the defaults' `memory`, and its bred vectors)
    carries between analyses is stored with the stream's members: the same observations
    posted in one part, in two, or first one at a time, drained apart, give the same
    analyses. A part's observations in a row (one with its own noise among them) run in one
    compiled call, one alone in a run of its own."""
    train_observer(client, headers, "l96-recurrent", memory=3, bred=4)
    client.put("/v1/models/l96-recurrent/aliases/live", json={"version": 1}, headers=headers)
    _, obs = twin("lorenz96", L96["params"], 0.05, 30, noise=1.0)
    obs[10]["noise_std"] = 2.0
    obs[20]["values"][3] = None
    means = []
    for parts in ([obs], [obs[:15], obs[15:]], [[o] for o in obs[:5]] + [obs[5:]]):
        r = client.post("/v1/streams", json=observer_stream("l96-recurrent"), headers=headers)
        assert r.status_code == 201, r.text
        sid, done = r.json()["id"], 0
        for part in parts:
            r = client.post(
                f"/v1/streams/{sid}/observations", json={"observations": part}, headers=headers
            )
            assert r.status_code == 202, r.text
            done += len(part)
            wait_assimilated(client, sid, headers, done)
        page = client.get(f"/v1/streams/{sid}/analyses?limit=100", headers=headers).json()
        means.append(np.array([a["mean"] for a in page["items"]]))
    assert means[0].shape == (30, 12)
    np.testing.assert_allclose(means[1], means[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(means[2], means[0], rtol=0, atol=1e-12)


def test_an_observer_of_a_system_without_a_grid(
    client: TestClient, headers: dict[str, str]
) -> None:
    """Lorenz-63: the gain is the Kalman gain of a learned covariance of the whole state;
    a briefly trained version tracks a fresh truth through a stream, within the noise."""
    l63, obs_spec = {"system": "lorenz63", "dt": 0.05}, {"indices": None, "noise_std": 2.0}
    train_observer(
        client, headers, "l63-obs", dynamics=l63, observation=obs_spec, members=1, iterations=60
    )
    client.put("/v1/models/l63-obs/aliases/live", json={"version": 1}, headers=headers)
    body = observer_stream("l63-obs", dynamics=l63, observation=obs_spec)
    r = client.post("/v1/streams", json=body, headers=headers)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    truth, obs = twin("lorenz63", {}, 0.05, 200, noise=2.0)
    client.post(f"/v1/streams/{sid}/observations", json={"observations": obs}, headers=headers)
    wait_assimilated(client, sid, headers, 200)
    page = client.get(f"/v1/streams/{sid}/analyses", params={"limit": 200}, headers=headers).json()
    means = {a["seq"]: a["mean"] for a in page["items"]}
    late = [k for k in range(101, 201) if k in means]
    assert len(late) > 90  # a few readings may fail the background check
    err = np.array([means[k] for k in late]) - truth[[k - 1 for k in late]].numpy()
    assert np.sqrt(np.mean(err**2)) < 2.0


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"dynamics": {**L96, "params": {"n": 16, "F": 8.0}}}, "dynamics"),
        ({"observation": {"indices": [0, 2], "noise_std": 1.0}}, "observation"),
    ],
)
def test_stream_must_match_the_observers_training(
    client: TestClient, headers: dict[str, str], overrides: dict[str, Any], field: str
) -> None:
    train_observer(client, headers, "l96-match")
    client.put("/v1/models/l96-match/aliases/live", json={"version": 1}, headers=headers)
    r = client.post("/v1/streams", json=observer_stream("l96-match", **overrides), headers=headers)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["field"] == field


def test_observer_reference_errors(client: TestClient, headers: dict[str, str]) -> None:
    r = client.post("/v1/streams", json=observer_stream("nobody"), headers=headers)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "filter.model", r.text
    train(client, headers, "a-forecaster", {"kind": "bayes_ar"}, ar2(200, 0))
    body = observer_stream("a-forecaster")
    body["filter"]["model"] = {"name": "a-forecaster", "version": 1}
    r = client.post("/v1/streams", json=body, headers=headers)
    assert r.status_code == 422 and "not an observer" in r.text
    body["filter"] = {"method": "observer"}
    r = client.post("/v1/streams", json=body, headers=headers)
    assert r.status_code == 422 and "observer" in r.text


def test_observer_takes_no_series(client: TestClient, headers: dict[str, str]) -> None:
    body = {
        "name": "x",
        "model": {"kind": "observer", "params": {"dynamics": L96}},
        "series": [{"id": "s", "values": [1.0, 2.0, 3.0]}],
    }
    r = client.post("/v1/models", json=body, headers=headers)
    assert r.status_code == 422 and "simulations" in r.text
    body = {"name": "x", "model": {"kind": "bayes_ar"}}
    r = client.post("/v1/models", json=body, headers=headers)
    assert r.status_code == 422 and "series" in r.text


def test_the_observer_settings_have_one_definition() -> None:
    """Every setting the worker and the bench take (`ObserverConfig`) can be given through the
    API, defaulting to the same value, and the bench trains with those defaults (its
    Kuramoto-Sivashinsky setup with fewer iterations and no bred vectors, as
    `bench/observer.py` says why)."""
    from app.api.schemas.observers import ObserverParams
    from bench.observer import setups
    from models.observer_config import ObserverConfig

    api = ObserverParams.model_fields
    for name, setting in ObserverConfig.__dataclass_fields__.items():
        assert name in api, f"the bench's setting {name!r} cannot be given through the API"
        assert api[name].default == setting.default, name
    default = ObserverConfig()
    for setup in setups(quick=False):
        ks = {"bred": default.bred} if setup.name == "KS quarter" else {}
        restored = dataclasses.replace(setup.observer, iterations=default.iterations, **ks)
        assert restored == default, setup.name
    assert setups(quick=False)[0].observer == default
