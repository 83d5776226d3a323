"""Per-tenant limits: the request rate (in Redis, or in-process) and the active-jobs quota."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from app.api import ratelimit
from app.api.schemas.forecasts import ForecastCreate
from app.config import Settings
from app.db.repositories import jobs as job_repo
from app.db.session import get_sessionmaker
from app.services.auth import authenticate
from app.services.errors import LimitExceeded
from tests.conftest import issue_key
from tests.jobs_support import submit_unsent, unsent_jobs

VALUES = [float((i * 7) % 11) for i in range(30)]
FORECAST = {"series": [{"id": "s", "values": VALUES}], "horizon": 2}


def bearer(settings: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_key(settings)}"}


def assert_limited(r: Any, field: str) -> int:
    """A 429 in the uniform error shape naming the limit; returns its Retry-After."""
    assert r.status_code == 429, r.text
    body = r.json()
    assert body["error"] in ("rate_limited", "too_many_active_jobs")
    [item] = body["detail"]
    assert item["field"] == field and item["loc"] == [field] and item["msg"]
    retry_after = r.headers["retry-after"]
    assert retry_after.isdigit() and int(retry_after) >= 1
    return int(retry_after)


# --- request rate ---------------------------------------------------------------------------


@pytest.fixture(params=["redis", "in-process"])
def store(request: pytest.FixtureRequest) -> str | None:
    """Both limiters must behave alike: Redis (shared by replicas) and in-process (dev)."""
    return request.getfixturevalue("redis_url") if request.param == "redis" else None


def limited_client(
    make_client: Callable[..., TestClient], store: str | None, rate: float, burst: int
) -> TestClient:
    return make_client(
        redis_url=store, rate_limit_per_s=rate, rate_limit_burst=burst, max_active_jobs=0
    )


def test_burst_then_429_with_retry_after(
    make_client: Callable[..., TestClient], settings: Settings, store: str | None
) -> None:
    c = limited_client(make_client, store, rate=0.5, burst=3)
    h = bearer(settings)
    for _ in range(3):
        assert c.get("/v1/jobs", headers=h).status_code == 200
    r = c.get("/v1/jobs", headers=h)
    # The next token is 2 s away at 0.5/s.
    assert assert_limited(r, "rate_limit_per_s") == 2
    assert r.json()["error"] == "rate_limited" and "0.5 requests per second" in r.text
    # Every /v1 route is counted, whatever its verb.
    assert_limited(c.post("/v1/forecasts", json=FORECAST, headers=h), "rate_limit_per_s")


def test_recovers_after_retry_after(
    make_client: Callable[..., TestClient], settings: Settings, store: str | None
) -> None:
    c = limited_client(make_client, store, rate=4, burst=2)
    h = bearer(settings)
    assert [c.get("/v1/streams", headers=h).status_code for _ in range(2)] == [200, 200]
    wait = assert_limited(c.get("/v1/streams", headers=h), "rate_limit_per_s")
    assert wait == 1
    time.sleep(wait)
    # 1 s at 4/s refills the burst (2), no more.
    assert [c.get("/v1/streams", headers=h).status_code for _ in range(3)] == [200, 200, 429]


def test_each_tenant_has_its_own_budget(
    make_client: Callable[..., TestClient], settings: Settings, store: str | None
) -> None:
    c = limited_client(make_client, store, rate=0.1, burst=2)
    a, b = bearer(settings), bearer(settings)
    assert [c.get("/v1/jobs", headers=a).status_code for _ in range(3)] == [200, 200, 429]
    assert [c.get("/v1/jobs", headers=b).status_code for _ in range(3)] == [200, 200, 429]


def test_health_probes_and_bad_keys_are_not_counted(
    make_client: Callable[..., TestClient], settings: Settings, store: str | None
) -> None:
    c = limited_client(make_client, store, rate=0.1, burst=1)
    for _ in range(3):
        assert c.get("/healthz").status_code == 200
        assert c.get("/v1/jobs", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert c.get("/v1/jobs", headers=bearer(settings)).status_code == 200


def test_redis_bucket_expires_once_full(redis_url: str, settings: Settings) -> None:
    limiter = ratelimit.RedisBuckets(redis_url, rate=10, burst=5)
    assert limiter.take("ttl-probe") == 0.0
    ttl_ms = redis.Redis.from_url(redis_url).pttl(ratelimit.KEY_PREFIX + "ttl-probe")
    assert 0 < ttl_ms <= 1500  # refilled in 0.5 s, plus a second's slack


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_fails_open_when_redis_is_unreachable(
    make_client: Callable[..., TestClient], settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    c = limited_client(make_client, f"redis://127.0.0.1:{closed_port()}/0", rate=0.1, burst=1)
    h = bearer(settings)
    with caplog.at_level(logging.WARNING, logger="app.api.ratelimit"):
        codes = [c.get("/v1/jobs", headers=h).status_code for _ in range(5)]
    assert codes == [200] * 5
    warnings = [r for r in caplog.records if r.name == "app.api.ratelimit"]
    # One warning, then Redis is left alone for a while instead of being asked per request.
    assert len(warnings) == 1 and "unreachable" in warnings[0].getMessage()


def test_zero_disables_the_rate_limit(
    make_client: Callable[..., TestClient], settings: Settings
) -> None:
    c = make_client(rate_limit_per_s=0, rate_limit_burst=1)
    assert c.app.state.rate_limiter is None  # type: ignore[attr-defined]
    h = bearer(settings)
    assert {c.get("/v1/jobs", headers=h).status_code for _ in range(5)} == {200}


def test_in_process_arithmetic() -> None:
    now = [0.0]
    buckets = ratelimit.LocalBuckets(rate=2, burst=3, clock=lambda: now[0])
    assert [buckets.take("t") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("t") == pytest.approx(0.5)
    now[0] = 0.25
    assert buckets.take("t") == pytest.approx(0.25)  # half a token back, not enough
    now[0] = 100.0
    assert [buckets.take("t") for _ in range(4)][-1] > 0  # refilled to the burst, no more


# --- active-jobs quota ----------------------------------------------------------------------


def test_quota_refuses_every_kind_of_job_beyond_it(
    make_client: Callable[..., TestClient], settings: Settings
) -> None:
    c = make_client(max_active_jobs=2, rate_limit_per_s=0)
    key = issue_key(settings)
    h = {"Authorization": f"Bearer {key}"}
    stream = c.post("/v1/streams", json={"dynamics": {"system": "lorenz63"}}, headers=h).json()
    ids = unsent_jobs(settings, key, 2)

    r = c.post("/v1/forecasts", json=FORECAST, headers=h)
    assert_limited(r, "max_active_jobs")
    assert r.json()["error"] == "too_many_active_jobs"
    assert "2 queued or running jobs; the limit is 2" in r.json()["detail"][0]["msg"]
    backtest = {**FORECAST, "series": [{"id": "s", "values": VALUES * 3}], "folds": 2}
    assert_limited(c.post("/v1/backtests", json=backtest, headers=h), "max_active_jobs")
    train = {"name": "m", "model": {"kind": "bayes_ar"}, "series": backtest["series"]}
    assert_limited(c.post("/v1/models", json=train, headers=h), "max_active_jobs")
    assert_limited(c.get(f"/v1/streams/{stream['id']}/forecast", headers=h), "max_active_jobs")
    # Bad input is still a 422 first, and nothing was recorded by the refusals.
    assert c.post("/v1/forecasts", json={**FORECAST, "horizon": 0}, headers=h).status_code == 422
    assert len(c.get("/v1/jobs", headers=h).json()["items"]) == 2

    # A finished (here: cancelled) job frees its place.
    assert c.post(f"/v1/jobs/{ids[0]}/cancel", headers=h).status_code == 200
    assert c.post("/v1/forecasts", json=FORECAST, headers=h).status_code == 202


def test_idempotent_replay_is_not_a_new_job(
    make_client: Callable[..., TestClient], settings: Settings
) -> None:
    c = make_client(max_active_jobs=1, rate_limit_per_s=0)
    key = issue_key(settings)
    request = ForecastCreate.model_validate(FORECAST).model_dump(mode="json")
    [job_id] = unsent_jobs(settings, key, 1, request, idempotency_key="k1")
    h = {"Authorization": f"Bearer {key}", "Idempotency-Key": "k1"}
    r = c.post("/v1/forecasts", json=FORECAST, headers=h)
    assert r.status_code == 202 and r.json()["id"] == job_id
    assert_limited(
        c.post("/v1/forecasts", json=FORECAST, headers={**h, "Idempotency-Key": "k2"}),
        "max_active_jobs",
    )


def test_quota_holds_under_concurrent_submissions(settings: Settings) -> None:
    """Eight submissions at once against a quota of three: exactly three get in."""
    key = issue_key(settings)
    factory = get_sessionmaker(settings.database_url)
    with factory() as session:
        tenant = authenticate(session, key, settings)
        assert tenant is not None
        tenant_id = tenant.id
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def submit(i: int) -> None:
        with factory() as session:
            barrier.wait()
            try:
                submit_unsent(session, tenant_id, {"n": i}, max_active_jobs=3)
                time.sleep(0.05)  # widen the window between the count and the commit
                session.commit()
                outcomes.append("ok")
            except LimitExceeded:
                session.rollback()
                outcomes.append("refused")

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["ok"] * 3 + ["refused"] * 5
    with factory() as session:
        assert job_repo.count_active(session, tenant_id) == 3
