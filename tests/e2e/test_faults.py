"""Faults against real processes: a worker killed mid-job, the broker restarted mid-stream,
PostgreSQL cut off, the API killed mid-traffic, a job orphaned by a vanished worker, and a
poison job. Each checks that nothing accepted is lost and nothing is done twice.

One stack serves the module: a private redis-server (restarted by the broker test; the
shared Redis is never touched), a TCP proxy between every process and PostgreSQL (cut by
the database test), `celery beat` scheduling the reaper, and the reaper's timeouts cut to
seconds so that re-sending silent work happens within a test.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.config import Settings
from app.db.session import get_sessionmaker
from bench.stack import Databases, Stack, stack_env
from tests.app.test_reaper import make_job
from tests.conftest import issue_key
from tests.e2e.redis_server import RedisServer
from tests.e2e.tcp_proxy import TcpProxy
from tests.streams_support import twin, wait_assimilated

pytestmark = pytest.mark.e2e

# Seconds, not minutes: the reaper runs every second and re-sends work silent for a few.
# A running job's heartbeat (its progress) comes every 0.5 s; on two busy cores a gap of
# 3 s was seen, so 6 s keeps a live job from being taken for a vanished one.
FAST_REAPER = {
    "KALMANAC_REAP_INTERVAL_S": "1",
    "KALMANAC_RESEND_QUEUED_AFTER_S": "3",
    "KALMANAC_REQUEUE_RUNNING_AFTER_S": "6",
    "KALMANAC_MAX_JOB_ATTEMPTS": "3",
    "KALMANAC_TASK_MAX_RETRIES": "2",
}
SERIES = [float(((i * 37) % 17) - 8) / 3 for i in range(300)]
STREAM = {
    "dynamics": {"system": "lorenz96", "params": {"n": 10, "F": 8.0}, "dt": 0.05},
    "observation": {"indices": None, "noise_std": 1.0},
    "filter": {"method": "etkf", "ensemble_size": 8, "inflation": 1.02},
    "seed": 3,
    "gap_timeout_s": 120.0,
}


@dataclass
class Faulty:
    stack: Stack
    redis: RedisServer
    pg: TcpProxy
    settings: Settings  # as the processes see it, but with the direct database URL
    http: httpx.Client

    def sql(self, query: str, **params: Any) -> list[Any]:
        with get_sessionmaker(self.settings.database_url).begin() as session:
            result = session.execute(text(query), params)
            return list(result) if result.returns_rows else []


@pytest.fixture(scope="module")
def faulty(databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Faulty]:
    logs = tmp_path_factory.mktemp("faults")
    with contextlib.ExitStack() as cleanup:  # undone in reverse, whatever failed
        redis = RedisServer(logs)
        cleanup.callback(redis.stop)
        redis.start()
        env = stack_env(databases, redis.url)
        direct = make_url(env["KALMANAC_DATABASE_URL"])
        pg = cleanup.enter_context(TcpProxy(direct.host or "127.0.0.1", direct.port or 5432))
        via_proxy = direct.set(host="127.0.0.1", port=pg.port)
        env |= FAST_REAPER | {"KALMANAC_DATABASE_URL": via_proxy.render_as_string(False)}
        settings = Settings(**{**_settings_of(env), "database_url": direct.render_as_string(False)})
        stack = Stack(env, logs)
        cleanup.callback(_stop, stack)
        stack.start_worker("worker1")
        stack.start_beat()
        stack.start_api()
        auth = {"Authorization": f"Bearer {issue_key(settings, 'faults')}"}
        http = cleanup.enter_context(httpx.Client(base_url=stack.base, headers=auth, timeout=30))
        yield Faulty(stack, redis, pg, settings, http)


def _stop(stack: Stack) -> None:
    stack.stop_all()
    for name in stack.procs:
        print(f"--- {name} ---\n{stack.log(name)}")


def _settings_of(env: dict[str, str]) -> dict[str, str]:
    """The settings the processes read from `env`, as keyword arguments."""
    prefix = "KALMANAC_"
    return {k.removeprefix(prefix).lower(): v for k, v in env.items() if k.startswith(prefix)}


def wait_job(http: httpx.Client, job_id: str, until: Any, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = dict(http.get(f"/v1/jobs/{job_id}").json())
        if until(job):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.1)


def final(job: dict[str, Any]) -> bool:
    return job["status"] in ("succeeded", "failed", "cancelled")


def open_stream(http: httpx.Client, name: str) -> str:
    r = http.post("/v1/streams", json={"name": name, **STREAM})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


@dataclass
class Client:
    """Posts observations in order, batch by batch, as a well-behaved client does: a batch
    that got no 2xx (connection refused, reset, 5xx) is sent again (seq is idempotent)."""

    http: httpx.Client
    stream_id: str
    batches: list[list[dict[str, Any]]]
    accepted: list[int] = field(default_factory=list)  # seqs of every batch answered 2xx
    failures: int = 0
    sent: threading.Event = field(default_factory=threading.Event)  # first 2xx seen

    def run(self) -> None:
        for batch in self.batches:
            deadline = time.monotonic() + 60
            while True:
                try:
                    r = self.http.post(
                        f"/v1/streams/{self.stream_id}/observations",
                        json={"observations": batch},
                        timeout=10,
                    )
                    if r.is_success:
                        break
                    assert r.status_code >= 500, r.text  # a 4xx would be our bug
                except httpx.TransportError:
                    pass
                self.failures += 1
                assert time.monotonic() < deadline, "the service did not come back"
                time.sleep(0.1)
            self.accepted += [o["seq"] for o in batch]
            self.sent.set()
            time.sleep(0.05)


def check_exactly_once(f: Faulty, stream_id: str, seqs: list[int]) -> None:
    """Every accepted seq is stored and assimilated once: one analysis row per seq."""
    state = wait_assimilated(f.http, stream_id, {}, len(seqs), timeout=60)
    assert state["n_assimilated"] == len(seqs) and state["n_skipped"] == 0, state
    rows = f.sql(
        "SELECT seq, status FROM observations WHERE stream_id = :s ORDER BY seq", s=stream_id
    )
    assert [(r.seq, r.status) for r in rows] == [(s, "assimilated") for s in sorted(seqs)]
    analyses = f.sql("SELECT seq FROM analyses WHERE stream_id = :s ORDER BY seq", s=stream_id)
    assert [r.seq for r in analyses] == sorted(seqs)


def stream_through_fault(f: Faulty, name: str, fault: Any, n_obs: int = 60) -> Client:
    """Streams n_obs observations in batches of 5 from a thread; `fault()` runs once the
    first batches are in. Returns the client after every batch got a 2xx."""
    stream_id = open_stream(f.http, name)
    _, obs = twin("lorenz96", {"n": 10, "F": 8.0}, 0.05, n_obs, noise=1.0, seed=7)
    client = Client(f.http, stream_id, [obs[i : i + 5] for i in range(0, n_obs, 5)])
    errors: list[BaseException] = []

    def run() -> None:
        try:
            client.run()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    poster = threading.Thread(target=run)
    poster.start()
    try:
        assert client.sent.wait(30), "no batch was accepted before the fault"
        fault()
    finally:
        poster.join(90)
    assert not errors, errors
    assert sorted(client.accepted) == [o["seq"] for o in obs]
    check_exactly_once(f, stream_id, client.accepted)
    return client


def test_worker_killed_mid_training_completes_once_on_another(faulty: Faulty) -> None:
    stack, http = faulty.stack, faulty.http
    stack.start_worker("worker2")
    long = {"lags": 16, "hidden": 64, "members": 8, "epochs": 3000, "patience": 5000}
    r = http.post(
        "/v1/models",
        json={
            "name": "killed",
            "model": {"kind": "ensemble", "params": long},
            "series": [{"id": "t", "values": SERIES}],
        },
    )
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    # Progress (a heartbeat) says which worker holds it, and that the fit is under way.
    job = wait_job(http, job_id, lambda j: j["status"] == "running" and j["progress"] > 0)
    victim = job["worker"].split("@")[0]
    stack.procs[victim].send_signal(signal.SIGKILL)
    stack.procs[victim].wait(10)

    job = wait_job(http, job_id, final, timeout=90)
    assert job["status"] == "succeeded", job
    assert not job["worker"].startswith(f"{victim}@"), job
    assert job["attempts"] >= 2, job  # the killed attempt is counted
    rows = faulty.sql("SELECT job_id, version FROM model_versions WHERE name = 'killed'")
    assert [(r.job_id, r.version) for r in rows] == [(job_id, 1)]


def test_broker_restart_mid_stream_loses_no_observation(faulty: Faulty) -> None:
    def restart_broker() -> None:
        # The broker is down for a while and comes back empty (no persistence): every
        # queued cycle message is gone; the reaper re-sends cycles for stale pending rows.
        faulty.redis.kill()
        time.sleep(1.5)
        faulty.redis.start()

    stream_through_fault(faulty, "broker-restart", restart_broker)
    # Posts were accepted while the broker was down: their cycles were never sent.
    assert "could not send assimilation.cycle" in faulty.stack.log("api", tail=10**7)


def test_database_cut_answers_503_and_recovers(faulty: Faulty) -> None:
    http = faulty.http
    stream_id = open_stream(http, "db-cut")
    forecast = {"series": [{"id": "s", "values": SERIES[:80]}], "horizon": 4}
    obs = {"observations": [{"seq": 1, "t": 0.05, "values": [0.0] * 10}]}
    faulty.pg.cut()
    try:
        ready = http.get("/readyz")
        assert ready.status_code == 503, ready.text
        assert ready.json()["checks"]["database"].startswith("unreachable"), ready.text
        for r in (
            http.post("/v1/forecasts", json=forecast),
            http.post(f"/v1/streams/{stream_id}/observations", json=obs),
            http.get("/v1/jobs"),
            http.get(f"/v1/streams/{stream_id}"),
        ):
            assert r.status_code == 503, (r.request.url, r.text)
            assert r.json()["error"] == "database_unavailable", r.text
            assert r.headers["Retry-After"]
    finally:
        faulty.pg.restore()
    # No restart: the pools drop their dead connections and reconnect by themselves.
    assert http.get("/readyz").status_code == 200
    r = http.post("/v1/forecasts?wait=30", json=forecast)
    assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text
    r = http.post(f"/v1/streams/{stream_id}/observations", json=obs)
    assert r.status_code == 202 and r.json()["accepted"] == 1, r.text
    assert wait_assimilated(http, stream_id, {}, 1)["n_assimilated"] == 1


def test_api_killed_mid_traffic_loses_nothing_accepted(faulty: Faulty) -> None:
    stack = faulty.stack
    port = int(stack.base.rsplit(":", 1)[1])

    def restart_api() -> None:
        stack.procs["api"].send_signal(signal.SIGKILL)
        stack.procs["api"].wait(10)
        time.sleep(0.5)  # the client sees connection refused meanwhile
        stack.start_api(port)

    client = stream_through_fault(faulty, "api-restart", restart_api)
    assert client.failures > 0  # the outage was seen by the client


def test_job_orphaned_by_vanished_worker_is_requeued_and_completes(faulty: Faulty) -> None:
    settings, http = faulty.settings, faulty.http
    headers = {"Authorization": http.headers["Authorization"]}
    # Claimed long ago by a worker that is gone: running, silent, one attempt made.
    orphan = make_job(settings, headers, "running", age_s=60)
    # Another that has used up its attempts is given up on, with the reason recorded. Made
    # so in one commit: the stack's reaper may run between two, and would requeue it first.
    spent = make_job(settings, headers, "running", age_s=60, attempts=settings.max_job_attempts)

    job = wait_job(http, orphan, final, timeout=30)
    assert job["status"] == "succeeded" and job["attempts"] == 2, job
    assert job["worker"] is not None
    rows = faulty.sql("SELECT count(*) AS n FROM forecast_results WHERE job_id = :j", j=orphan)
    assert rows[0].n == 1
    job = wait_job(http, spent, final, timeout=30)
    assert job["status"] == "failed" and job["error"]["type"] == "abandoned", job
    assert job["attempts"] == settings.max_job_attempts


def test_poison_job_fails_with_its_error_and_blocks_nothing(faulty: Faulty) -> None:
    http = faulty.http
    # Valid input (finite numbers) whose scale overflows float64 inside the model.
    huge = [v * 1e300 for v in SERIES[:100]]
    r = http.post("/v1/forecasts", json={"series": [{"id": "huge", "values": huge}], "horizon": 3})
    assert r.status_code == 202, r.text
    poison = r.json()["id"]
    ok = {"series": [{"id": "ok", "values": SERIES}], "horizon": 3}
    r = http.post("/v1/forecasts?wait=30", json=ok)
    assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text

    # Failed at once with the model's reason: not retried as if the database had hiccuped,
    # not left running for the reaper to re-run and finally abandon without a reason.
    job = wait_job(http, poison, final, timeout=30)
    assert job["status"] == "failed" and job["attempts"] == 1, job
    assert job["error"]["type"] == "model_error" and "not finite" in job["error"]["message"]
