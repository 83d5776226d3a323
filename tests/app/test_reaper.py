"""The reaper re-sends work that went silent: lost messages, vanished workers."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from app.config import Settings
from app.db.base import utcnow
from app.db.repositories import jobs
from app.db.session import get_sessionmaker
from app.queue import Outbox
from app.services import reaper
from tests.jobs_support import unsent_jobs

REQUEST = {
    "series": [{"id": "s", "values": [float((i * 7) % 11) for i in range(40)]}],
    "horizon": 2,
    "levels": [80],
    "quantiles": [],
    "num_samples": 100,
    "return_samples": False,
    "seed": 0,
    "model": {"kind": "bayes_ar", "params": {}},
}


def make_job(
    settings: Settings, headers: dict[str, str], status: str, age_s: float, attempts: int = 1
) -> str:
    """A forecast job whose task was never sent, aged `age_s` seconds in `status` (running:
    after `attempts` attempts)."""
    key = headers["Authorization"].split()[1]
    return unsent_jobs(
        settings, key, request=REQUEST, status=status, age_s=age_s, attempts=attempts
    )[0]


def reap(settings: Settings) -> reaper.ReapReport:
    outbox = Outbox()
    with get_sessionmaker(settings.database_url).begin() as session:
        report = reaper.reap(session, outbox, settings, utcnow())
    outbox.flush(settings)
    return report


def wait_final(client: TestClient, job_id: str, headers: dict[str, str]) -> dict[str, object]:
    deadline = time.monotonic() + 30
    while (job := client.get(f"/v1/jobs/{job_id}", headers=headers).json())["status"] in (
        "queued",
        "running",
    ):
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
    return dict(job)


def test_lost_and_abandoned_jobs_are_resent(
    client: TestClient, headers: dict[str, str], settings: Settings
) -> None:
    lost = make_job(settings, headers, "queued", settings.resend_queued_after_s + 5)
    fresh = make_job(settings, headers, "queued", 1)
    vanished = make_job(settings, headers, "running", settings.requeue_running_after_s + 5)
    report = reap(settings)
    assert lost in report.resent and vanished in report.requeued
    assert fresh not in report.resent
    done = wait_final(client, lost, headers)
    assert done["status"] == "succeeded" and done["attempts"] == 1
    redone = wait_final(client, vanished, headers)
    assert redone["status"] == "succeeded" and redone["attempts"] == 2  # recorded


def test_a_job_that_never_finishes_is_abandoned(
    client: TestClient, headers: dict[str, str], settings: Settings
) -> None:
    job_id = make_job(settings, headers, "running", settings.requeue_running_after_s + 5)
    with get_sessionmaker(settings.database_url).begin() as session:
        j = jobs.get(session, job_id)
        assert j is not None
        j.attempts = settings.max_job_attempts
    assert job_id in reap(settings).abandoned
    job = client.get(f"/v1/jobs/{job_id}", headers=headers).json()
    assert job["status"] == "failed" and job["error"]["type"] == "abandoned"


def test_the_embedded_mode_resumes_the_last_runs_work_at_once(
    client: TestClient, headers: dict[str, str], settings: Settings
) -> None:
    """What an embedded run left queued or running (its in-memory broker died with it) is
    sent again on start, however recent: the reaper's delays would only leave it idle."""
    from workers.embedded import EmbeddedWorker

    queued = make_job(settings, headers, "queued", 1)
    running = make_job(settings, headers, "running", 1)
    report = reap(settings)  # too recent for the periodic reaper
    assert queued not in report.resent and running not in report.requeued
    EmbeddedWorker._resume_orphans()  # what EmbeddedWorker.start does once it is consuming
    for job_id in (queued, running):
        assert wait_final(client, job_id, headers)["status"] == "succeeded"
