"""Opaque keyset cursors over (created_at, id), newest first."""

from __future__ import annotations

import base64
from datetime import datetime

from app.services.errors import InputError


def encode_cursor(created_at: datetime, row_id: str) -> str:
    raw = f"{created_at.isoformat()}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, row_id = raw.split("|", 1)
        return datetime.fromisoformat(created), row_id
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError("cursor", "not a cursor returned by this API") from exc
