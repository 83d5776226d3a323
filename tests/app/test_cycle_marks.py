"""A stream's cycle is sent once while it is due: posts coalesce their wake-ups in Redis."""

from __future__ import annotations

import uuid
from unittest import mock

import pytest
import redis

from app.config import Settings
from app.queue import (
    CYCLE_DUE_TTL_S,
    Outbox,
    Queue,
    Task,
    _due_key,
    clear_cycle_due,
    mark_cycle_due,
)


def test_a_due_cycle_is_marked_once_until_it_starts(redis_url: str) -> None:
    sid = str(uuid.uuid4())
    assert mark_cycle_due(redis_url, sid)
    assert not mark_cycle_due(redis_url, sid)  # already due: no second send
    ttl = redis.Redis.from_url(redis_url).ttl(_due_key(sid))
    assert 0 < ttl <= CYCLE_DUE_TTL_S  # a lost cycle holds later ones back only this long
    clear_cycle_due(redis_url, sid)  # the cycle started: it reads what was committed so far
    assert mark_cycle_due(redis_url, sid)


def test_another_broker_sends_every_cycle() -> None:
    sid = str(uuid.uuid4())
    assert mark_cycle_due("memory://", sid) and mark_cycle_due("memory://", sid)
    clear_cycle_due("memory://", sid)  # nothing to clear


def sent_by_flush(redis_url: str, names: list[tuple[Task, str]]) -> list[tuple[str, tuple]]:
    outbox = Outbox()
    for name, arg in names:
        outbox.add(name, arg, queue=Queue.CPU)
    with mock.patch("app.queue.producer") as producer:
        outbox.flush(Settings(broker_url=redis_url))
    return [(c.args[0], c.kwargs["args"]) for c in producer.return_value.send_task.mock_calls]


def test_flush_sends_a_streams_cycle_only_when_none_is_due(redis_url: str) -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    first = sent_by_flush(redis_url, [(Task.CYCLE, a), (Task.CYCLE, b), (Task.FORECAST, "j")])
    assert first == [(Task.CYCLE.value, (a,)), (Task.CYCLE.value, (b,)), ("forecast.run", ("j",))]
    assert sent_by_flush(redis_url, [(Task.CYCLE, a), (Task.FORECAST, "j")]) == [
        ("forecast.run", ("j",))  # a's cycle is still due; jobs are always sent
    ]
    clear_cycle_due(redis_url, a)
    assert sent_by_flush(redis_url, [(Task.CYCLE, a)]) == [(Task.CYCLE.value, (a,))]


def test_a_failed_send_leaves_no_mark(redis_url: str) -> None:
    sid = str(uuid.uuid4())
    outbox = Outbox()
    outbox.add(Task.CYCLE, sid, queue=Queue.CPU)
    with mock.patch("app.queue.producer") as producer:
        producer.return_value.send_task.side_effect = ConnectionError("broker down")
        outbox.flush(Settings(broker_url=redis_url))
    assert mark_cycle_due(redis_url, sid)  # the next post sends one


def test_a_cycle_clears_its_mark_before_it_reads(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A post that finds the mark sends nothing, so the cycle it counted on must read its
    observations: the worker clears the mark first, then reads."""
    from app.services.stream_runs import CycleOutcome
    from tests.workers.test_retries import fake_task
    from workers import tasks

    sid = str(uuid.uuid4())
    assert mark_cycle_due(redis_url, sid)
    seen: list[bool] = []

    def cycle(_factory: object, stream_id: str) -> CycleOutcome:
        seen.append(mark_cycle_due(redis_url, stream_id))  # what a post would find now
        return CycleOutcome()

    monkeypatch.setattr(tasks, "get_settings", lambda: Settings(broker_url=redis_url))
    monkeypatch.setattr(tasks, "_factory", lambda: None)
    monkeypatch.setattr(tasks.stream_runs, "cycle", cycle)
    tasks._cycle(fake_task(), sid)
    assert seen == [True]  # cleared before the read: that post would have sent its own
