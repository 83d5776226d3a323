"""The worker moves long-lived objects out of the cycle collector's reach, and never garbage."""

from __future__ import annotations

import gc
import sys
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from workers import celery_app


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cycle collector frees it


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # leave the test process as it was


def test_a_task_that_imported_modules_freezes_them_but_collects_garbage_first(
    unfrozen: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    celery_app._freeze_long_lived()
    frozen = gc.get_freeze_count()
    assert frozen > 0

    celery_app._freeze_new_modules()  # nothing imported since: nothing to do
    assert gc.get_freeze_count() == frozen

    (tmp_path / "lazily_imported.py").write_text("TABLE = {i: [i] for i in range(1000)}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "lazily_imported", raising=False)
    __import__("lazily_imported")  # as training's first optimiser step loads torch's compiler
    garbage = Node()
    dead = weakref.ref(garbage)
    del garbage
    celery_app._freeze_new_modules()
    assert gc.get_freeze_count() >= frozen + 1000  # the module's table went out of reach
    assert dead() is None  # the cycle was collected, not frozen
