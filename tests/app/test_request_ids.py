"""Request ids: echoed (or made) in X-Request-ID, and stamped on every log line of the request."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient

from app.logs import JsonFormatter


def test_a_sane_incoming_id_is_kept_and_logged(
    client: TestClient, headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="kalmanac.access"):
        r = client.get("/v1/jobs", headers={**headers, "X-Request-ID": "abc-123.x"})
    assert r.status_code == 200
    assert r.headers["x-request-id"] == "abc-123.x"
    (access,) = [rec for rec in caplog.records if getattr(rec, "request_id", "") == "abc-123.x"]
    line = json.loads(JsonFormatter().format(access))
    assert line["request_id"] == "abc-123.x"
    assert line["route"] == "/v1/jobs" and line["method"] == "GET" and line["status"] == 200
    assert line["duration_ms"] >= 0 and line["tenant_id"]


@pytest.mark.parametrize("incoming", [None, "has spaces", "x" * 129, "new\\nline"])
def test_other_ids_are_replaced(client: TestClient, incoming: str | None) -> None:
    sent = {} if incoming is None else {"X-Request-ID": incoming}
    rid = client.get("/healthz", headers=sent).headers["x-request-id"]
    assert rid != incoming and len(rid) == 32


def test_errors_carry_the_id_too(client: TestClient) -> None:
    r = client.get("/v1/jobs", headers={"X-Request-ID": "req-401"})
    assert r.status_code == 401 and r.headers["x-request-id"] == "req-401"


def test_log_lines_inside_a_task_carry_the_job_id(caplog: pytest.LogCaptureFixture) -> None:
    from workers import tasks

    def runner(_factory: object, job_id: str, _worker: str) -> str:
        logging.getLogger("test").warning("working on %s", job_id)
        return "succeeded"

    class Task:
        class request:  # noqa: N801 - shaped like Celery's task.request
            hostname = "w1"
            retries = 0

    with caplog.at_level(logging.WARNING, logger="test"):
        assert tasks._run_job(Task(), "job-1", runner) == "succeeded"
    assert [getattr(r, "job_id", None) for r in caplog.records] == ["job-1"]
