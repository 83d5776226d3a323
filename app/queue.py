"""Celery configuration shared by producers and workers, and sending tasks by name.

The API process sends tasks by name through a broker-only Celery app, so it
never imports the worker code (or torch) to answer a request. Task names and queues are
defined here once and imported by both sides: a rename cannot silently drop messages.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Any

import redis
from celery import Celery

from app.config import Settings
from models.forecasting.registry import accelerated

log = logging.getLogger(__name__)


class Queue(StrEnum):
    CPU = "cpu"
    GPU = "gpu"  # neural models; their workers run on the CPU where no GPU is present


class Task(StrEnum):
    FORECAST = "forecast.run"
    BACKTEST = "backtest.run"
    TRAIN = "model.train"
    STREAM_FORECAST = "assimilation.forecast"
    CYCLE = "assimilation.cycle"
    REAP = "jobs.reap"


QUEUES = tuple(Queue)
# The task that runs a job of each kind (jobs.kind), for the first send and for re-sends.
TASK_OF_JOB = {
    "forecast": Task.FORECAST,
    "backtest": Task.BACKTEST,
    "train": Task.TRAIN,
    "stream_forecast": Task.STREAM_FORECAST,
}


def queue_for(kind: str) -> Queue:
    """The queue of a job fitting or training a model of `kind` (a forecaster kind, auto, or
    a neural observer)."""
    return Queue.GPU if kind == "observer" or accelerated(kind) else Queue.CPU


def celery_config(broker_url: str) -> dict[str, Any]:
    return {
        "broker_url": broker_url,
        "task_default_queue": Queue.CPU.value,
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


# A stream's cycle that has been sent and not yet started is "due": a post finding one due
# sends none, since that cycle reads every observation committed before it starts (it
# clears the mark first, then reads). The mark expires, so a cycle lost on its way (a worker
# gone with it) holds back later posts' cycles for at most this long; the reaper re-sends
# for observations left pending.
CYCLE_DUE_TTL_S = 5


@lru_cache(maxsize=4)
def _marks(broker_url: str) -> redis.Redis | None:
    """The broker's Redis, where cycles due are marked (None for another broker: every
    post then sends its cycle)."""
    if not broker_url.startswith(("redis://", "rediss://")):
        return None
    return redis.Redis.from_url(broker_url, socket_timeout=2, socket_connect_timeout=2)


def _due_key(stream_id: str) -> str:
    return f"kalmanac:cycle-due:{stream_id}"


def mark_cycle_due(broker_url: str, stream_id: str) -> bool:
    """Mark the stream's cycle due; False when it already was (then send none)."""
    marks = _marks(broker_url)
    if marks is None:
        return True
    try:
        return bool(marks.set(_due_key(stream_id), 1, nx=True, ex=CYCLE_DUE_TTL_S))
    except redis.RedisError:
        return True  # send it: a duplicate cycle is harmless


def clear_cycle_due(broker_url: str, stream_id: str) -> None:
    """Clear the stream's mark; a cycle does it before it reads the observations, so a post
    committed after that sends a cycle of its own."""
    marks = _marks(broker_url)
    if marks is None:
        return
    try:
        marks.delete(_due_key(stream_id))
    except redis.RedisError:
        log.warning("could not clear the due mark of stream %s", stream_id, exc_info=True)


@dataclass(frozen=True)
class TaskMessage:
    name: Task
    args: tuple[Any, ...]
    queue: Queue


@dataclass
class Outbox:
    """Tasks to send once the surrounding transaction has committed (dropped on rollback)."""

    messages: list[TaskMessage] = field(default_factory=list)

    def add(self, name: Task, *args: Any, queue: Queue) -> None:
        self.messages.append(TaskMessage(name, args, queue))

    def flush(self, settings: Settings) -> None:
        messages, self.messages = self.messages, []
        app = producer(settings.broker_url)
        for message in messages:
            if message.name is Task.CYCLE and not mark_cycle_due(
                settings.broker_url, *message.args
            ):
                continue
            try:
                app.send_task(message.name.value, args=message.args, queue=message.queue.value)
            except Exception:
                # The job row is committed and stays queued; the reaper re-sends it.
                log.exception("could not send %s%s to the broker", message.name, message.args)
                if message.name is Task.CYCLE:  # the next post tries again
                    clear_cycle_due(settings.broker_url, *message.args)

    def clear(self) -> None:
        self.messages.clear()
