"""Long-lived objects go out of the cycle collector's reach, and garbage never does."""

from __future__ import annotations

import gc
import sys
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import gc_freeze


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cycle collector frees it


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # leave the test process as it was


def test_new_modules_are_frozen_after_the_garbage_is_collected(
    unfrozen: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gc_freeze.freeze_long_lived()
    assert gc.get_freeze_count() > 0

    garbage = Node()  # unreachable before any thread can see a new module and freeze
    dead = weakref.ref(garbage)
    del garbage
    (tmp_path / "lazily_imported.py").write_text("TABLE = {i: [i] for i in range(1000)}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "lazily_imported", raising=False)
    table = __import__("lazily_imported").TABLE  # as a first training loads torch's compiler
    gc_freeze.freeze_new_modules()
    # Whichever thread froze them (the session's embedded worker freezes after its tasks too),
    # the module's objects are out of the collector's generations, and the cycle is gone.
    assert not any(o is table for o in gc.get_objects())
    assert dead() is None  # the cycle was collected, not frozen
