"""Real sensor readings through a stream: missing readings, a reading's own noise, an outlier
rejected by the background check, a stuck sensor marked failed, and an observation with
nothing usable kept with its reason."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from tests.streams_support import twin, wait_assimilated

L96 = {"system": "lorenz96", "params": {"n": 40, "F": 8.0}, "dt": 0.05}
EVEN = list(range(0, 40, 2))  # 20 sensors, on every other point


def test_faulty_readings_are_screened_recorded_and_tracked(
    client: TestClient, headers: dict[str, str]
) -> None:
    body = {
        "dynamics": L96,
        "observation": {"indices": EVEN, "noise_std": 1.0},
        "filter": {"method": "etkf", "ensemble_size": 24, "inflation": 1.02},
        "seed": 1,
    }
    stream = client.post("/v1/streams", json=body, headers=headers).json()
    assert stream["config"]["qc"] == {"gate": 4.0}  # on by default
    _, full = twin("lorenz96", L96["params"], 0.05, 120, noise=1.0)
    obs = [{**o, "values": [o["values"][i] for i in EVEN]} for o in full]
    obs[9]["values"][4] = None  # sensor 4 did not report
    obs[9]["noise_std"] = 0.5
    obs[19]["values"][5] = obs[19]["values"][5] + 12.0  # an outlier
    obs[29]["values"] = [None] * len(EVEN)  # nothing reported at all
    for o in obs[59:]:
        o["values"][3] = 2.5  # sensor 3 stuck from seq 60
    sid = stream["id"]
    r = client.post(f"/v1/streams/{sid}/observations", json={"observations": obs}, headers=headers)
    assert r.status_code == 202 and r.json()["accepted"] == 120, r.text
    state = wait_assimilated(client, sid, headers, 120)
    assert state["n_assimilated"] == 119

    analyses = {
        a["seq"]: a
        for a in client.get(
            f"/v1/streams/{sid}/analyses", params={"limit": 200}, headers=headers
        ).json()["items"]
    }
    assert analyses[10]["screening"][4] == "missing" and analyses[10]["z"][4] is None
    assert analyses[20]["screening"][5] == "rejected" and 5 in analyses[20]["rejected"]
    assert abs(analyses[20]["z"][5]) > 4
    assert 30 not in analyses
    assert analyses[120]["screening"][3] == "failed"

    observed = client.get(
        f"/v1/streams/{sid}/observations", params={"limit": 200}, headers=headers
    ).json()["items"]
    assert observed[9]["values"][4] is None and observed[9]["noise_std"] == [0.5] * 20
    assert observed[29]["status"] == "skipped" and "missing" in observed[29]["reason"]

    sensors = {s["index"]: s for s in state["sensors"]}
    assert len(sensors) == 20 and sensors[3]["status"] == "failed"
    assert all(s["status"] == "ok" for i, s in sensors.items() if i != 3)

    client.delete(f"/v1/streams/{sid}", headers=headers)
    with client.stream("GET", f"/v1/streams/{sid}/events", headers=headers) as feed:
        text = "".join(feed.iter_text())
    events = [
        json.loads(block.split("data: ", 1)[1])
        for block in text.split("\n\n")
        if block.startswith("event: sensor")
    ]
    assert {"index": 3, "status": "failed"}.items() <= events[-1].items()


def test_a_lone_sensors_spike_is_rejected_and_kept_on_record(
    client: TestClient, headers: dict[str, str]
) -> None:
    """One sensor (Lorenz-63's x): no other reading to judge a spike by, so its own recent
    readings do; the spike's observation is skipped with its reason, the others are used."""
    body = {
        "dynamics": {"system": "lorenz63", "dt": 0.01},
        "observation": {"indices": [0], "noise_std": 1.0},
        "filter": {"method": "etkf", "ensemble_size": 20, "inflation": "adaptive"},
        "initial": {"std": 5.0},
        "seed": 2,
    }
    sid = client.post("/v1/streams", json=body, headers=headers).json()["id"]
    truth, full = twin("lorenz63", {}, 0.05, 120, noise=1.0)
    obs = [{**o, "values": o["values"][:1]} for o in full]
    obs[79]["values"][0] += 30.0  # a spike at seq 80, after the stream has converged
    r = client.post(f"/v1/streams/{sid}/observations", json={"observations": obs}, headers=headers)
    assert r.status_code == 202, r.text
    state = wait_assimilated(client, sid, headers, 120)
    observed = client.get(
        f"/v1/streams/{sid}/observations", params={"limit": 200}, headers=headers
    ).json()["items"]
    skipped = {o["seq"]: o["reason"] for o in observed if o["status"] == "skipped"}
    assert "rejected: 0" in skipped[80]
    assert len(skipped) <= 3, skipped  # the start far off is not starved of readings
    analyses = client.get(
        f"/v1/streams/{sid}/analyses", params={"cursor": 100, "limit": 20}, headers=headers
    ).json()["items"]
    error = [abs(a["mean"][0] - float(truth[a["seq"] - 1][0])) for a in analyses]
    assert max(error) < 3.0, error  # tracking x after the spike
    assert state["sensors"][0]["status"] == "ok"
