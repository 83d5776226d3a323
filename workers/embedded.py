"""A Celery worker inside the API process, for the embedded development mode.

Same tasks and code paths as a separate `celery worker`; only the broker URL (memory://)
differs, and the lanes: one worker per queue (a few threads on `cpu`), so that a stream's
cycles and quick forecasts run while a model trains. Jobs commit in short transactions of
their own, and a stream's cycle holds its row lock (or SQLite's write lock) for one batch,
so lanes never assimilate an observation twice.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from celery.worker import WorkController

from app.config import get_settings
from app.db.base import utcnow
from app.db.session import get_sessionmaker
from app.queue import QUEUES, Outbox, Queue, Task, producer
from app.services import reaper

log = logging.getLogger(__name__)


def lanes() -> int:
    """Jobs the embedded worker runs at once on `cpu`: the setting, or 2 to 4 by the CPUs."""
    return get_settings().embedded_lanes or min(4, max(2, os.cpu_count() or 1))


class _ReadyWorkController(WorkController):
    def __init__(self, *args: object, **kwargs: object) -> None:
        self.ready = threading.Event()
        super().__init__(*args, **kwargs)

    def on_consumer_ready(self, consumer: object) -> None:
        self.ready.set()


class _Lane:
    """One in-process Celery worker consuming one queue in a thread."""

    def __init__(self, queue: Queue, concurrency: int) -> None:
        from workers.celery_app import celery_app

        self.queue = queue
        self.worker = _ReadyWorkController(
            app=celery_app,
            hostname=f"embedded-{queue.value}@localhost",
            # One job at a time runs in the lane's own (daemon) thread, so that stopping the
            # server never waits for a training; the pool's threads would be joined at exit.
            pool="solo" if concurrency == 1 else "threads",
            concurrency=concurrency,
            queues=[queue.value],
            without_heartbeat=True,
            without_mingle=True,
            without_gossip=True,
        )
        self.thread = threading.Thread(
            target=self.worker.start, name=f"celery-{queue.value}", daemon=True
        )

    def start(self, timeout: float) -> None:
        self.thread.start()
        if not self.worker.ready.wait(timeout):
            raise RuntimeError(f"embedded Celery worker for {self.queue.value} did not start")


class EmbeddedWorker:
    """A lane per queue, as the production topology has a worker per queue: training on
    `gpu` never holds up stream cycles and forecasts on `cpu`, which run `lanes()` at once."""

    def __init__(self) -> None:
        self._sizes = {Queue(q): lanes() if q == Queue.CPU else 1 for q in QUEUES}
        self._lanes: list[_Lane] = []
        # Celery beat would fork a process, which cannot reach an in-memory broker; a timer
        # thread sends the reaper's task on the same schedule instead.
        self._stopping = threading.Event()
        self._timer = threading.Thread(target=self._schedule_reaper, name="reaper", daemon=True)

    def _schedule_reaper(self) -> None:
        settings = get_settings()
        while not self._stopping.wait(settings.reap_interval_s):
            producer(settings.broker_url).send_task(Task.REAP.value, queue=Queue.CPU.value)

    def start(self, timeout: float = 30.0) -> None:
        # One after the other: a worker selects its queues on the shared Celery app when it
        # is built, and its consumer reads that selection when it starts.
        for queue, size in self._sizes.items():
            lane = _Lane(queue, size)
            lane.start(timeout)
            self._lanes.append(lane)
        self._timer.start()
        log.info("embedded Celery workers: %s", self._sizes)
        self._resume_orphans()

    @staticmethod
    def _resume_orphans() -> None:
        """Jobs and stream cycles left unfinished by the last run resume now, not after the
        reaper's delays (5 min queued, 15 min running)."""
        settings = get_settings()
        outbox = Outbox()
        with get_sessionmaker(settings.database_url).begin() as session:
            report = reaper.resume_orphans(session, outbox, settings, utcnow())
        outbox.flush(settings)
        counts = {k: len(v) for k, v in vars(report).items() if v}
        if counts:
            log.warning("embedded worker resumed the last run's unfinished work: %s", counts)

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        for lane in self._lanes:
            lane.worker.stop(in_sighandler=False)
        deadline = time.monotonic() + timeout  # one wait for all the lanes together
        for lane in self._lanes:
            lane.thread.join(max(0.0, deadline - time.monotonic()))
