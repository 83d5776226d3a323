"""The request's unit of work: what a handler does not commit is rolled back, its tasks
dropped, and its connection goes back to the pool."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import select

from app.api.deps import UnitOfWork, get_uow
from app.config import Settings
from app.db.repositories import tenants
from app.db.session import get_sessionmaker
from app.db.tables import Tenant
from app.queue import Queue, Task


def run_handler(settings: Settings, handler_fails: bool) -> UnitOfWork:
    """Drives get_uow as FastAPI does: a handler writes a tenant and queues a task, then
    commits, or raises before it does."""

    async def request() -> UnitOfWork:
        deps = get_uow(settings)
        uow = await anext(deps)
        tenants.get_or_create(uow.session, f"uow-{uuid.uuid4().hex[:8]}")
        uow.outbox.add(Task.CYCLE, "no-such-stream", queue=Queue.CPU)
        if not handler_fails:
            uow.outbox.clear()  # nothing to send here: only the commit is under test
            uow.commit()
            await deps.aclose()
            return uow
        with pytest.raises(RuntimeError):
            await deps.athrow(RuntimeError("the handler failed"))
        return uow

    return asyncio.run(request())


def names(settings: Settings) -> set[str]:
    with get_sessionmaker(settings.database_url)() as session:
        return set(session.scalars(select(Tenant.name).where(Tenant.name.like("uow-%"))))


def test_a_failed_handler_leaves_nothing(settings: Settings) -> None:
    before = names(settings)
    uow = run_handler(settings, handler_fails=True)
    assert not uow.session.in_transaction()
    assert uow.outbox.messages == []
    assert names(settings) == before
    engine = get_sessionmaker(settings.database_url).kw["bind"]
    assert engine.pool.checkedout() == 0


def test_a_committed_handler_keeps_its_work(settings: Settings) -> None:
    before = names(settings)
    run_handler(settings, handler_fails=False)
    assert len(names(settings) - before) == 1
