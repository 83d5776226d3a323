"""A Celery worker thread inside the API process, for the embedded development mode.

Same tasks and code paths as a separate `celery worker`; only the broker URL
(memory://) differs.
"""

from __future__ import annotations

import logging
import threading

from celery.worker import WorkController

from app.queue import QUEUES

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

    def start(self, timeout: float = 30.0) -> None:
        self._thread.start()
        if not self._worker.ready.wait(timeout):
            raise RuntimeError("embedded Celery worker did not start")
        log.info("embedded Celery worker consuming %s", ",".join(QUEUES))

    def stop(self, timeout: float = 10.0) -> None:
        self._worker.stop(in_sighandler=False)
        self._thread.join(timeout)
