"""The stream API through HTTP against PostgreSQL, with the embedded worker."""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select

from app.config import Settings
from app.db.session import get_sessionmaker
from app.db.tables import Stream
from app.services import streams as stream_service
from tests.conftest import issue_key
from tests.streams_support import twin, wait_assimilated

L96 = {"system": "lorenz96", "params": {"n": 40, "F": 8.0}, "dt": 0.05}


def create(client: TestClient, headers: dict[str, str], **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "dynamics": L96,
        "observation": {"indices": None, "noise_std": 1.0},
        "filter": {"method": "etkf", "ensemble_size": 24, "inflation": "adaptive"},
        "seed": 3,
    }
    body.update(overrides)
    r = client.post("/v1/streams", json=body, headers=headers)
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"/v1/streams/{r.json()['id']}"
    return r.json()


def test_stream_tracks_the_truth(client: TestClient, headers: dict[str, str]) -> None:
    truth, obs = twin("lorenz96", L96["params"], 0.05, 300, noise=1.0)
    stream = create(client, headers)
    for i in range(0, 300, 100):
        r = client.post(
            f"/v1/streams/{stream['id']}/observations",
            json={"observations": obs[i : i + 100]},
            headers=headers,
        )
        assert r.status_code == 202, r.text
        assert r.json()["accepted"] == 100 and r.json()["duplicates"] == 0
    state = wait_assimilated(client, str(stream["id"]), headers, 300)
    assert state["last_seq"] == 300 and state["n_assimilated"] == 300
    assert state["t"] == pytest.approx(15.0)

    items, after = [], 0
    while True:
        page = client.get(
            f"/v1/streams/{stream['id']}/analyses",
            params={"after_seq": after, "limit": 128},
            headers=headers,
        ).json()
        items += page["items"]
        if page["next_cursor"] is None:
            break
        after = int(page["next_cursor"])
    assert [a["seq"] for a in items] == list(range(1, 301))
    means = np.array([a["mean"] for a in items])
    rmse = np.sqrt(((means - truth.numpy()) ** 2).mean(axis=1))
    # Sakov & Oke 2008 setting; after spin-up the analysis error is far below the obs noise.
    assert rmse[100:].mean() < 0.35, rmse[100:].mean()
    assert state["mean"] == items[-1]["mean"]
    assert all(a["innovation_rms"] > 0 for a in items)


def test_forecast_from_latest_analysis(client: TestClient, headers: dict[str, str]) -> None:
    _, obs = twin("lorenz96", L96["params"], 0.05, 20, noise=1.0)
    stream = create(client, headers)
    client.post(
        f"/v1/streams/{stream['id']}/observations", json={"observations": obs}, headers=headers
    )
    wait_assimilated(client, str(stream["id"]), headers, 20)
    r = client.get(
        f"/v1/streams/{stream['id']}/forecast",
        params={"horizon": 10, "levels": [50, 90], "quantiles": [0.25]},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    job = r.json()
    assert job["kind"] == "stream_forecast" and job["status"] == "succeeded"
    (s,) = job["result"]["series"]
    assert np.shape(s["mean"]) == (10, 40)
    assert set(s["intervals"]) == {"50", "90"} and set(s["quantiles"]) == {"0.25"}
    assert s["times"][0] == pytest.approx(1.05) and s["times"][-1] == pytest.approx(1.5)
    assert np.allclose(s["aleatoric_std"], 0.0)
    epi = np.array(s["epistemic_std"])
    assert (epi > 0).all() and epi[-1].mean() > epi[0].mean()  # chaos spreads the ensemble
    # The job is part of the history and readable as a forecast.
    assert client.get(r.headers["location"], headers=headers).json()["id"] == job["id"]


def test_duplicates_and_shuffled_posts(client: TestClient, headers: dict[str, str]) -> None:
    _, obs = twin("lorenz63", {}, 0.05, 40, noise=2.0)
    stream = create(
        client,
        headers,
        dynamics={"system": "lorenz63", "dt": 0.01},
        observation={"indices": None, "noise_std": 2.0},
        filter={"method": "enkf", "ensemble_size": 20, "inflation": 1.05},
    )
    url = f"/v1/streams/{stream['id']}/observations"
    rng = np.random.default_rng(0)
    order = rng.permutation(40)
    for chunk in np.array_split(order, 5):
        batch = [obs[i] for i in chunk]
        assert client.post(url, json={"observations": batch}, headers=headers).status_code == 202
    again = client.post(url, json={"observations": obs[:10] + obs[:10]}, headers=headers).json()
    assert again["accepted"] == 0 and again["duplicates"] == 20
    state = wait_assimilated(client, str(stream["id"]), headers, 40)
    assert state["n_assimilated"] == 40 and state["n_skipped"] == 0
    seqs = [
        a["seq"]
        for a in client.get(
            f"/v1/streams/{stream['id']}/analyses?limit=100", headers=headers
        ).json()["items"]
    ]
    assert seqs == list(range(1, 41))


def test_post_answer_counts_what_awaits_assimilation(
    client: TestClient, headers: dict[str, str]
) -> None:
    _, obs = twin("lorenz63", {}, 0.05, 5, noise=1.0)
    stream = create(client, headers, dynamics={"system": "lorenz63", "dt": 0.01}, gap_timeout_s=600)
    url = f"/v1/streams/{stream['id']}/observations"
    first = client.post(url, json={"observations": obs[1:3]}, headers=headers).json()
    assert (first["accepted"], first["duplicates"], first["pending"]) == (2, 0, 2)  # seq 1 awaited
    again = client.post(url, json={"observations": obs[2:5]}, headers=headers).json()
    assert (again["accepted"], again["duplicates"], again["pending"]) == (2, 1, 4)


def test_gap_is_skipped_after_timeout(client: TestClient, headers: dict[str, str]) -> None:
    _, obs = twin("lorenz63", {}, 0.05, 6, noise=1.0)
    stream = create(client, headers, dynamics={"system": "lorenz63", "dt": 0.01}, gap_timeout_s=0.5)
    url = f"/v1/streams/{stream['id']}/observations"
    client.post(url, json={"observations": [obs[0], obs[1], obs[3], obs[4]]}, headers=headers)
    time.sleep(0.3)
    state = client.get(f"/v1/streams/{stream['id']}", headers=headers).json()
    assert state["last_seq"] == 2 and state["pending"] == 2  # seq 3 is awaited
    state = wait_assimilated(client, str(stream["id"]), headers, 5)
    assert state["last_seq"] == 5 and state["n_skipped"] == 1
    assert state["gaps"] == [{"first_seq": 3, "last_seq": 3}]
    # Too late now: kept on record, reported as rejected in the answer, never accepted.
    late = client.post(url, json={"observations": [obs[2]]}, headers=headers).json()
    assert late["accepted"] == 0 and late["duplicates"] == 0
    assert late["rejected"][0]["seq"] == 3 and "skipped as a gap" in late["rejected"][0]["reason"]
    stale = {**obs[5], "t": 0.01}  # seq 6, but before the stream's time
    answer = client.post(url, json={"observations": [stale]}, headers=headers).json()
    assert answer["accepted"] == 0 and "before the stream's time" in answer["rejected"][0]["reason"]
    time.sleep(0.3)
    state = client.get(f"/v1/streams/{stream['id']}", headers=headers).json()
    assert state["n_assimilated"] == 4 and state["pending"] == 0 and state["n_skipped"] == 2
    kept = client.get(f"{url}?cursor=2", headers=headers).json()["items"]
    assert {o["seq"]: o["status"] for o in kept} == {
        3: "skipped",
        4: "assimilated",
        5: "assimilated",
        6: "skipped",
    }


def test_events_feed(client: TestClient, headers: dict[str, str]) -> None:
    _, obs = twin("lorenz63", {}, 0.05, 5, noise=1.0)
    stream = create(client, headers, dynamics={"system": "lorenz63", "dt": 0.01})
    client.post(
        f"/v1/streams/{stream['id']}/observations", json={"observations": obs}, headers=headers
    )
    wait_assimilated(client, str(stream["id"]), headers, 5)
    client.delete(f"/v1/streams/{stream['id']}", headers=headers)
    with client.stream(
        "GET", f"/v1/streams/{stream['id']}/events", headers={**headers, "Last-Event-ID": "2"}
    ) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        text = "".join(r.iter_text())
    events = [e for e in text.split("\n\n") if e.startswith("id:")]
    assert [json.loads(e.split("data: ", 1)[1])["seq"] for e in events] == [3, 4, 5]
    assert "event: closed" in text


def test_close_keeps_history(client: TestClient, headers: dict[str, str]) -> None:
    stream = create(client, headers, dynamics={"system": "lorenz63"})
    r = client.delete(f"/v1/streams/{stream['id']}", headers=headers)
    assert r.status_code == 200 and r.json()["status"] == "closed" and r.json()["closed_at"]
    assert client.get(f"/v1/streams/{stream['id']}", headers=headers).status_code == 200
    post = client.post(
        f"/v1/streams/{stream['id']}/observations",
        json={"observations": [{"seq": 1, "t": 0.1, "values": [1.0, 2.0, 3.0]}]},
        headers=headers,
    )
    assert post.status_code == 409
    listed = client.get("/v1/streams", headers=headers).json()["items"]
    assert [s["id"] for s in listed] == [stream["id"]]


BAD = [
    ({"dynamics": {"system": "pendulum"}}, "dynamics"),
    ({"dynamics": {"system": "lorenz96", "params": {"n": 2}}}, "dynamics.params.n"),
    ({"dynamics": {"system": "ks", "params": {"n": 33}}}, "dynamics.params.n"),
    ({"dynamics": L96, "observation": {"indices": [0, 40]}}, ""),
    ({"dynamics": L96, "filter": {"method": "letkf"}}, "filter"),
    ({"dynamics": L96, "filter": {"inflation": 0.9}}, "filter.inflation"),
    ({"dynamics": L96, "filter": {"inflation": "auto"}}, "filter.inflation"),
    ({"dynamics": L96, "filter": {"method": "enkf", "inflation": "enkf_n"}}, "filter"),
    ({"dynamics": L96, "filter": {"ensemble_size": 1}}, "filter.ensemble_size"),
    ({"dynamics": L96, "initial": {"mean": [1.0, 2.0]}}, ""),
    ({"dynamics": L96, "colour": "red"}, "colour"),
]


@pytest.mark.parametrize(("body", "field"), BAD)
def test_bad_stream_config(
    client: TestClient, headers: dict[str, str], body: dict[str, object], field: str
) -> None:
    r = client.post("/v1/streams", json=body, headers=headers)
    assert r.status_code == 422, r.text
    fields = [d["field"] for d in r.json()["detail"]]
    assert any(f.startswith(field) for f in fields), fields


def test_bad_observations(client: TestClient, headers: dict[str, str]) -> None:
    stream = create(client, headers, dynamics={"system": "lorenz63"})
    url = f"/v1/streams/{stream['id']}/observations"
    cases = [
        ({"observations": [{"seq": 1, "t": 0.1, "values": [1.0]}]}, "observations.0.values"),
        ({"observations": [{"seq": 0, "t": 0.1, "values": [1.0, 2, 3]}]}, "observations.0.seq"),
        (
            {
                "observations": [
                    {"seq": 1, "t": 0.2, "values": [1.0, 2, 3]},
                    {"seq": 2, "t": 0.1, "values": [1.0, 2, 3]},
                ]
            },
            "observations",
        ),
        ({"observations": []}, "observations"),
        (
            {"observations": [{"seq": 1, "t": 0.1, "values": [1.0, 10**400, 3]}]},
            "observations.0.values.1",
        ),
        (
            {"observations": [{"seq": 1, "t": 0.1, "values": [1.0, True, 3]}]},
            "observations.0.values.1",
        ),
    ]
    for body, field in cases:
        r = client.post(url, json=body, headers=headers)
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["field"] == field, r.json()


def test_other_tenant_sees_nothing(
    client: TestClient, headers: dict[str, str], settings: object
) -> None:
    stream = create(client, headers, dynamics={"system": "lorenz63"})
    other = {"Authorization": f"Bearer {issue_key(settings)}"}  # type: ignore[arg-type]
    sid = stream["id"]
    obs = {"observations": [{"seq": 1, "t": 0.1, "values": [1.0, 2.0, 3.0]}]}
    assert client.get(f"/v1/streams/{sid}", headers=other).status_code == 404
    assert (
        client.post(f"/v1/streams/{sid}/observations", json=obs, headers=other).status_code == 404
    )
    assert client.get(f"/v1/streams/{sid}/analyses", headers=other).status_code == 404
    assert client.get(f"/v1/streams/{sid}/forecast", headers=other).status_code == 404
    assert client.get(f"/v1/streams/{sid}/events", headers=other).status_code == 404
    assert client.delete(f"/v1/streams/{sid}", headers=other).status_code == 404
    assert client.get("/v1/streams", headers=other).json()["items"] == []


def test_overflowing_observations_are_skipped_not_stuck(
    client: TestClient, headers: dict[str, str]
) -> None:
    """Values far off the model's scale overflow the forecast: those observations are recorded
    as skipped, the stream keeps its last finite state and goes on (no endless retries)."""
    stream = create(client, headers, filter={"method": "etkf", "ensemble_size": 8})
    sid = stream["id"]
    huge = [{"seq": k, "t": 0.05 * k, "values": [1e300] * 40} for k in (1, 2, 3)]
    r = client.post(f"/v1/streams/{sid}/observations", json={"observations": huge}, headers=headers)
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = client.get(f"/v1/streams/{sid}", headers=headers).json()
        if state["last_seq"] == 3 and state["pending"] == 0:
            break
        time.sleep(0.05)
    assert state["last_seq"] == 3 and state["pending"] == 0, state
    assert state["n_assimilated"] < 3  # at least the overflowing forecasts were skipped
    assert all(np.isfinite(state["mean"])) and all(np.isfinite(state["spread"]))


def diverged(client: TestClient, headers: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """A stream whose ensemble readings far off the model's scale threw out of its range:
    its id and state once it has handled them all (seq 4, a calm reading, included)."""
    sid = str(create(client, headers, filter={"method": "etkf", "ensemble_size": 8})["id"])
    wild = [{"seq": k, "t": 0.05 * k, "values": [1e300] * 40} for k in (1, 2, 3)]
    calm = [{"seq": 4, "t": 0.2, "values": [1.0] * 40}]
    r = client.post(
        f"/v1/streams/{sid}/observations", json={"observations": wild + calm}, headers=headers
    )
    assert r.status_code == 202, r.text
    return sid, wait_assimilated(client, sid, headers, 4)


def test_a_failing_stream_says_so_on_its_event_feed(
    client: TestClient, headers: dict[str, str]
) -> None:
    sid, _ = diverged(client, headers)
    client.delete(f"/v1/streams/{sid}", headers=headers)
    with client.stream("GET", f"/v1/streams/{sid}/events", headers=headers) as feed:
        text = "".join(feed.iter_text())
    told = [b for b in text.split("\n\n") if b.startswith("event: health")]
    assert len(told) == 1 and json.loads(told[0].split("data: ", 1)[1])["status"] == "failing"


def test_the_event_feed_is_json_whatever_the_numbers(
    client: TestClient, headers: dict[str, str]
) -> None:
    """An analysis of readings far off the model's scale has an infinite innovation RMS: the
    feed writes it as null, as the analyses route does, not as Infinity (not JSON, which a
    browser's parser refuses, ending the feed)."""
    body = {"dynamics": {"system": "lorenz63", "dt": 0.01}, "qc": None}
    sid = client.post("/v1/streams", json=body, headers=headers).json()["id"]
    wild = [{"seq": 1, "t": 0.05, "values": [1e300] * 3}]
    client.post(f"/v1/streams/{sid}/observations", json={"observations": wild}, headers=headers)
    wait_assimilated(client, sid, headers, 1)
    listed = client.get(f"/v1/streams/{sid}/analyses", headers=headers).json()["items"]
    client.delete(f"/v1/streams/{sid}", headers=headers)
    with client.stream("GET", f"/v1/streams/{sid}/events", headers=headers) as feed:
        text = "".join(feed.iter_text())
    blocks = [b.split("data: ", 1)[1] for b in text.split("\n\n") if "data: " in b]

    def not_json(constant: str) -> None:
        pytest.fail(f"{constant} in the feed: {text}")

    events = [json.loads(b, parse_constant=not_json) for b in blocks]
    assert events[0]["innovation_rms"] is None and events[0] == listed[0]


def test_a_diverged_stream_says_so_and_a_reset_redraws_it(
    client: TestClient, headers: dict[str, str], settings: Settings
) -> None:
    """An ensemble thrown off the model's range overflows at every cycle after: the stream
    says it is failing (since which seq, how many in a row, what to do) instead of only
    counting skips; a reset redraws the ensemble at the stream's time and the stream goes on."""
    sid, state = diverged(client, headers)
    health = state["health"]
    assert health["status"] == "failing", state
    since = health["failing_since_seq"]
    assert since in (1, 2) and health["consecutive_failures"] == 4 - since + 1
    assert f"/v1/streams/{sid}/reset" in health["detail"]
    assert state["n_skipped"] >= 3  # seq 4, a calm reading, could not be used either

    url = f"/v1/streams/{sid}/reset"
    r = client.post(url, json={"initial": {"mean": [1.0] * 39}}, headers=headers)
    assert r.status_code == 422 and "initial.mean" in r.text, r.text
    other = {"Authorization": f"Bearer {issue_key(settings)}"}
    assert client.post(url, json={}, headers=other).status_code == 404

    r = client.post(url, json={"initial": {"mean": [1.0] * 40, "std": 0.5}}, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["health"]["status"] == "ok" and r.json()["mean"] == [1.0] * 40
    assert r.json()["config"]["initial"]["std"] == 0.5 and r.json()["last_seq"] == 4
    calm = [{"seq": 5, "t": 0.25, "values": [1.0] * 40}]
    r = client.post(f"/v1/streams/{sid}/observations", json={"observations": calm}, headers=headers)
    state = wait_assimilated(client, sid, headers, 5)
    assert state["health"] == {
        "status": "ok", "failing_since_seq": None, "consecutive_failures": 0, "detail": None
    }  # fmt: skip
    analyses = client.get(f"/v1/streams/{sid}/analyses", headers=headers).json()["items"]
    assert analyses[-1]["seq"] == 5 and np.all(np.abs(analyses[-1]["mean"]) < 50)

    assert client.delete(f"/v1/streams/{sid}", headers=headers).status_code == 200
    assert client.post(url, headers=headers).status_code == 409


def test_a_post_reads_only_the_streams_header(
    client: TestClient, headers: dict[str, str], settings: Settings
) -> None:
    """Taking in a post does not load the columns that grow with the state (the ensemble,
    its mean and spread, the sensors' health); read later, they are still there."""
    sid = str(create(client, headers)["id"])
    obs = {"observations": [{"seq": 1, "t": 0.05, "values": [1.0] * 40}]}
    assert client.post(f"/v1/streams/{sid}/observations", json=obs, headers=headers).is_success
    wait_assimilated(client, sid, headers, 1)
    with get_sessionmaker(settings.database_url)() as session:
        tenant_id = session.scalars(select(Stream.tenant_id).where(Stream.id == sid)).one()
        header = stream_service.get(session, tenant_id, sid, header_only=True)
        assert {"ensemble", "mean", "spread", "sensors"} <= inspect(header).unloaded
        assert header.last_seq == 1 and header.obs_dim == 40
        assert header.ensemble is not None and len(header.sensors or []) == 40  # loaded on read
