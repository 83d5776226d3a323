"""Job history, paging, filters, cancellation, and tenant isolation."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.config import Settings
from tests.conftest import issue_key
from tests.jobs_support import unsent_jobs

VALUES = [float((i * 7) % 11) for i in range(30)]


def submit(client: TestClient, headers: dict[str, str], **extra: object) -> dict[str, object]:
    r = client.post(
        "/v1/forecasts?wait=20",
        json={"series": [{"id": "s", "values": VALUES}], "horizon": 2, **extra},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_history_newest_first_with_cursor(client: TestClient, headers: dict[str, str]) -> None:
    ids = [submit(client, headers, seed=i)["id"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/jobs", params=params, headers=headers).json()
        assert len(page["items"]) <= 2
        seen += [j["id"] for j in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]


def test_filters(client: TestClient, headers: dict[str, str]) -> None:
    job = submit(client, headers)
    get = lambda **p: client.get("/v1/jobs", params=p, headers=headers).json()["items"]  # noqa: E731
    assert [j["id"] for j in get(status="succeeded", kind="forecast")] == [job["id"]]
    assert get(status="failed") == []
    assert get(kind="backtest") == []
    assert [j["id"] for j in get(created_after="2000-01-01T00:00:00Z")] == [job["id"]]
    assert get(created_before="2000-01-01T00:00:00Z") == []
    r = client.get("/v1/jobs", params={"status": "lost"}, headers=headers)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "status"
    r = client.get("/v1/jobs", params={"cursor": "garbage!"}, headers=headers)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "cursor"


def test_cancel(client: TestClient, headers: dict[str, str], settings: Settings) -> None:
    done = submit(client, headers)
    r = client.post(f"/v1/jobs/{done['id']}/cancel", headers=headers)
    assert r.status_code == 409
    # A job that no worker has picked up yet: created straight in the database.
    key = headers["Authorization"].split()[1]
    job_id = unsent_jobs(settings, key, request={"x": 1})[0]
    r = client.post(f"/v1/jobs/{job_id}/cancel", headers=headers)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert r.json()["finished_at"]
    again = client.post(f"/v1/jobs/{job_id}/cancel", headers=headers)
    assert again.status_code == 200 and again.json()["status"] == "cancelled"


def test_other_tenant_gets_404(
    client: TestClient, headers: dict[str, str], settings: object
) -> None:
    job = submit(client, headers)
    other = {"Authorization": f"Bearer {issue_key(settings)}"}  # type: ignore[arg-type]
    assert client.get(f"/v1/forecasts/{job['id']}", headers=other).status_code == 404
    assert client.get(f"/v1/jobs/{job['id']}", headers=other).status_code == 404
    assert client.post(f"/v1/jobs/{job['id']}/cancel", headers=other).status_code == 404
    assert client.get("/v1/jobs", headers=other).json()["items"] == []
    # The owner still sees it.
    assert client.get(f"/v1/forecasts/{job['id']}", headers=headers).status_code == 200


def test_auth_required(client: TestClient, settings: object) -> None:
    for method, url in [
        ("get", "/v1/jobs"),
        ("post", "/v1/forecasts"),
        ("get", "/v1/forecasts/x"),
        ("get", "/v1/jobs/x"),
        ("post", "/v1/jobs/x/cancel"),
    ]:
        r = getattr(client, method)(url)
        assert r.status_code == 401, (url, r.text)
        assert r.headers["www-authenticate"] == "Bearer"
    bad = {"Authorization": "Bearer kal_nothere_xxxxxxxx"}
    assert client.get("/v1/jobs", headers=bad).status_code == 401
    assert client.get("/v1/jobs", headers={"Authorization": "Basic abc"}).status_code == 401
    key = issue_key(settings)  # type: ignore[arg-type]
    assert client.get("/v1/jobs", headers={"Authorization": f"Bearer {key}x"}).status_code == 401
    assert client.get("/v1/jobs", headers={"Authorization": f"Bearer {key}"}).status_code == 200


def test_revoked_key(client: TestClient, settings: object) -> None:
    from app.db.session import get_sessionmaker
    from app.services.auth import revoke_key

    key = issue_key(settings)  # type: ignore[arg-type]
    h = {"Authorization": f"Bearer {key}"}
    assert client.get("/v1/jobs", headers=h).status_code == 200
    with get_sessionmaker(settings.database_url).begin() as session:  # type: ignore[attr-defined]
        assert revoke_key(session, key)
    assert client.get("/v1/jobs", headers=h).status_code == 401


def test_a_running_job_says_how_long_it_has_left(
    client: TestClient, headers: dict[str, str]
) -> None:
    from datetime import timedelta

    from app.api.schemas.jobs import eta
    from app.db.base import utcnow
    from app.db.tables import Job, JobStatus

    now = utcnow()
    started = now - timedelta(seconds=30)
    running = Job(status=JobStatus.RUNNING, progress=0.25, started_at=started)
    assert eta(running, now) == 90.0  # a quarter done in 30 s: 90 s to go at that pace
    assert eta(Job(status=JobStatus.RUNNING, progress=0.0, started_at=started), now) is None
    assert eta(Job(status=JobStatus.SUCCEEDED, progress=1.0, started_at=started), now) is None
    done = submit(client, headers)
    assert "eta_s" in done and done["eta_s"] is None  # every record has it; null unless running
