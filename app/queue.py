"""Celery configuration shared by producers and workers, and sending tasks by name.

The API process sends tasks by name through a broker-only Celery app, so it
never imports the worker code (or torch) to answer a request.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from celery import Celery

from app.config import Settings

log = logging.getLogger(__name__)

QUEUES = ("cpu", "gpu")


def celery_config(broker_url: str) -> dict[str, Any]:
    return {
        "broker_url": broker_url,
        "task_default_queue": "cpu",
        "task_create_missing_queues": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        # Results live in PostgreSQL; no result backend.
        "task_ignore_result": True,
        # A killed worker's task is redelivered, not lost (tasks are idempotent).
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_connection_retry_on_startup": True,
        # polling_interval matters only to the in-memory broker of the embedded mode.
        "broker_transport_options": {"visibility_timeout": 3600, "polling_interval": 0.05},
        "worker_hijack_root_logger": False,
    }


@lru_cache(maxsize=4)
def producer(broker_url: str) -> Celery:
    app = Celery("kalmanac-producer")
    app.conf.update(celery_config(broker_url))
    return app


@dataclass(frozen=True)
class TaskMessage:
    name: str
    args: tuple[Any, ...]
    queue: str


@dataclass
class Outbox:
    """Tasks to send once the surrounding transaction has committed (dropped on rollback)."""

    messages: list[TaskMessage] = field(default_factory=list)

    def add(self, name: str, *args: Any, queue: str) -> None:
        self.messages.append(TaskMessage(name, args, queue))

    def flush(self, settings: Settings) -> None:
        messages, self.messages = self.messages, []
        app = producer(settings.broker_url)
        for message in messages:
            try:
                app.send_task(message.name, args=message.args, queue=message.queue)
            except Exception:
                # The job row is committed and stays queued; the reaper re-sends it.
                log.exception("could not send %s%s to the broker", message.name, message.args)

    def clear(self) -> None:
        self.messages.clear()
