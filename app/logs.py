"""Structured JSON logs on stderr."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from app import context

_RESERVED = set(vars(logging.makeLogRecord({})))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _RESERVED})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def _stamp_ids(factory: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    """Wrap the record factory so every record carries the ids of the work in hand.

    Stamped when the record is made (in the emitting thread and context), so every
    handler sees them, whatever thread or queue later formats the record.
    """

    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        for name, value in context.current().items():
            setattr(record, name, value)
        return record

    make.stamps_ids = True  # type: ignore[attr-defined]  # a marker on the factory function
    return make


def configure_logging(level: str = "INFO") -> None:
    factory = logging.getLogRecordFactory()
    if not getattr(factory, "stamps_ids", False):
        logging.setLogRecordFactory(_stamp_ids(factory))
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
