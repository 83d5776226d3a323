"""GET /metrics: request latency by route template, jobs and stream lag from the database."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from app.config import Settings
from app.db.repositories import streams as stream_repo
from app.db.session import get_sessionmaker

SERIES = [round(float(i % 7) + 0.1 * i, 3) for i in range(60)]
L63 = {"system": "lorenz63", "params": {}, "dt": 0.01}


def samples(client: TestClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    r = client.get("/metrics")  # no Authorization header: scrapers carry no tenant key
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str):
    matches = [v for (n, ls), v in found.items() if n == name and set(labels.items()) <= ls]
    assert matches, f"no sample {name}{labels}"
    return sum(matches)


def test_requests_are_labelled_by_route_template(
    client: TestClient, headers: dict[str, str]
) -> None:
    missing = uuid.uuid4().hex
    assert client.get(f"/v1/forecasts/{missing}", headers=headers).status_code == 404
    assert client.get(f"/no/such/{missing}").status_code == 404
    r = client.get("/metrics")
    assert missing not in r.text  # raw ids never become label values
    found = samples(client)
    count = "kalmanac_http_request_duration_seconds_count"
    assert value(found, count, route="/v1/forecasts/{forecast_id}", method="GET", status="4xx")
    assert value(found, count, route="<unmatched>", method="GET", status="4xx")


def test_jobs_and_queues_are_read_from_the_database(
    client: TestClient, headers: dict[str, str]
) -> None:
    body = {"series": [{"id": "s", "values": SERIES}], "horizon": 3, "seed": 0}
    r = client.post("/v1/forecasts?wait=20", json=body, headers=headers)
    assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text
    found = samples(client)
    assert value(found, "kalmanac_jobs_finished", kind="forecast", status="succeeded") >= 1
    bucket = "kalmanac_job_duration_seconds_bucket"
    assert value(found, bucket, kind="forecast", le="+Inf") >= 1
    assert ("kalmanac_queue_jobs", frozenset({("queue", "cpu")})) in found
    assert found["kalmanac_metrics_source_up", frozenset({("source", "database")})] == 1


def test_stream_lag_counts_pending_observations(
    client: TestClient, headers: dict[str, str], settings: Settings
) -> None:
    stream = {
        "dynamics": L63,
        "observation": {"indices": None, "noise_std": 1.0},
        "filter": {"method": "etkf", "ensemble_size": 8},
    }
    sid = client.post("/v1/streams", json=stream, headers=headers).json()["id"]
    # Written straight to the database with no cycle task sent, so they stay pending.
    rows = [{"seq": k, "t": 0.01 * k, "values": [0.0, 0.0, 0.0]} for k in (5, 6, 7)]
    with get_sessionmaker(settings.database_url).begin() as session:
        stream_repo.insert_observations(session, sid, rows)
    found = samples(client)
    labels = frozenset({("stream_id", sid)})
    assert found["kalmanac_stream_pending_observations", labels] == 3
    assert found["kalmanac_stream_oldest_pending_seconds", labels] >= 0


def test_metrics_is_not_in_the_api_schema(client: TestClient) -> None:
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]
