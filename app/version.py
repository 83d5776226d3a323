"""The code version recorded with every result."""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version

from app.config import get_settings


@lru_cache
def code_version() -> str:
    stamped = get_settings().code_version
    if stamped:
        return stamped
    try:
        return version("kalmanac")
    except PackageNotFoundError:
        return "0+unknown"
