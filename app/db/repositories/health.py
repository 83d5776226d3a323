"""Liveness of the database connection."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.db.session import get_sessionmaker


def ping(session: Session) -> None:
    session.execute(text("SELECT 1"))


def database_status(url: str, worker: bool = False) -> str:
    """Whether the database at `url` answers: "ok", or why it is unreachable. Opens the
    engine's first pooled connection (the API's, or the worker's with `worker`)."""
    try:
        with get_sessionmaker(url, worker)() as session:
            ping(session)
        return "ok"
    except Exception as exc:  # any failure means not ready; the reason is reported
        return f"unreachable: {type(exc).__name__}"
