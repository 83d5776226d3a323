"""Decoded model-version artifacts, kept per process: versions never change once stored, so
a stream's every batch need not re-read and re-decode the same bytes."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
CACHE_SIZE = 16

_cache: OrderedDict[str, Any] = OrderedDict()
_lock = threading.Lock()  # the embedded worker shares the process with the API


def cached(version_id: str, load: Callable[[], T]) -> T:
    """The decoded artifact of a version, from `load()` on first use (least recent evicted)."""
    with _lock:
        if version_id in _cache:
            _cache.move_to_end(version_id)
            return _cache[version_id]  # type: ignore[no-any-return]  # one cache for every artifact type
    value = load()
    with _lock:
        _cache[version_id] = value
        if len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return value
