"""observation values and analysis mean/spread as packed float64 bytes, not JSON

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27

Streams write and read these a thousand rows at a time; packed little-endian float64
(bytea) skips printing and parsing JSON numbers on that path. Existing rows are converted
in batches, in Python, so the same revision runs on PostgreSQL and SQLite.
"""

import struct
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VECTORS = {"observations": ("values",), "analyses": ("mean", "spread")}
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BATCH = 5_000


def _pack(values: list[float]) -> bytes:
    return struct.pack(f"<{len(values)}d", *values)


def _unpack(data: bytes) -> list[float]:
    return list(struct.unpack(f"<{len(data) // 8}d", data))


def _retype(
    table: str,
    columns: Sequence[str],
    old: Any,
    new: Any,
    convert: Callable[[Any], Any],
) -> None:
    """Replace each column by one of type `new` holding convert(value), keyed by id."""
    with op.batch_alter_table(table) as batch_op:
        for c in columns:
            batch_op.add_column(sa.Column(f"{c}_new", new, nullable=True))
    t = sa.table(
        table,
        sa.column("id", sa.BigInteger),
        *(sa.column(c, old) for c in columns),
        *(sa.column(f"{c}_new", new) for c in columns),
    )
    update = (
        t.update()
        .where(t.c.id == sa.bindparam("row_id"))
        .values({f"{c}_new": sa.bindparam(f"v_{c}") for c in columns})
    )
    bind = op.get_bind()
    last = -1
    while True:
        rows = bind.execute(
            sa.select(t.c.id, *(t.c[c] for c in columns))
            .where(t.c.id > last)
            .order_by(t.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        bind.execute(
            update,
            [
                {
                    "row_id": r[0],
                    **{f"v_{c}": convert(v) for c, v in zip(columns, r[1:], strict=True)},
                }
                for r in rows
            ],
        )
        last = rows[-1][0]
    with op.batch_alter_table(table) as batch_op:
        for c in columns:
            batch_op.drop_column(c)
            batch_op.alter_column(f"{c}_new", new_column_name=c, nullable=False)


def upgrade() -> None:
    for table, columns in VECTORS.items():
        _retype(table, columns, JSON, sa.LargeBinary(), _pack)


def downgrade() -> None:
    for table, columns in VECTORS.items():
        _retype(table, columns, sa.LargeBinary(), JSON, _unpack)
