"""index only the pending observations (ix_observations_pending becomes partial)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    op.drop_index("ix_observations_pending", table_name="observations")
    op.create_index(
        "ix_observations_pending",
        "observations",
        ["stream_id", "seq"],
        unique=False,
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )


def downgrade() -> None:
    op.drop_index("ix_observations_pending", table_name="observations")
    op.create_index(
        "ix_observations_pending", "observations", ["stream_id", "status", "seq"], unique=False
    )
