"""a stream records the run of cycles that overflowed up to its latest (failing_since, n_failing)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("streams", sa.Column("failing_since", sa.BigInteger(), nullable=True))
    op.add_column(
        "streams", sa.Column("n_failing", sa.Integer(), nullable=False, server_default="0")
    )


def downgrade() -> None:
    op.drop_column("streams", "n_failing")
    op.drop_column("streams", "failing_since")
