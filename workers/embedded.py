"""A Celery worker thread inside the API process, for the embedded development mode.

Same tasks and code paths as a separate `celery worker`; only the broker URL
(memory://) differs.
"""

from __future__ import annotations

import logging
import threading

from celery.worker import WorkController

from app.config import get_settings
from app.db.base import utcnow
from app.db.session import get_sessionmaker
from app.queue import QUEUES, Outbox, Queue, Task, producer
from app.services import reaper

log = logging.getLogger(__name__)


class _ReadyWorkController(WorkController):
    def __init__(self, *args: object, **kwargs: object) -> None:
        self.ready = threading.Event()
        super().__init__(*args, **kwargs)

    def on_consumer_ready(self, consumer: object) -> None:
        self.ready.set()


class EmbeddedWorker:
    def __init__(self) -> None:
        from workers.celery_app import celery_app

        self._worker = _ReadyWorkController(
            app=celery_app,
            hostname="embedded@localhost",
            pool="solo",
            concurrency=1,
            queues=list(QUEUES),
            without_heartbeat=True,
            without_mingle=True,
            without_gossip=True,
        )
        self._thread = threading.Thread(
            target=self._worker.start, name="celery-embedded", daemon=True
        )
        # Celery beat would fork a process, which cannot reach an in-memory broker; a timer
        # thread sends the reaper's task on the same schedule instead.
        self._stopping = threading.Event()
        self._timer = threading.Thread(target=self._schedule_reaper, name="reaper", daemon=True)

    def _schedule_reaper(self) -> None:
        settings = get_settings()
        while not self._stopping.wait(settings.reap_interval_s):
            producer(settings.broker_url).send_task(Task.REAP.value, queue=Queue.CPU.value)

    def start(self, timeout: float = 30.0) -> None:
        self._thread.start()
        if not self._worker.ready.wait(timeout):
            raise RuntimeError("embedded Celery worker did not start")
        self._timer.start()
        log.info("embedded Celery worker consuming %s", ",".join(QUEUES))
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
        self._worker.stop(in_sighandler=False)
        self._thread.join(timeout)
