"""observation quality: per-observation noise, each analysis' z-scores and screening codes,
and each stream's sensor health

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VECTOR = sa.LargeBinary()  # packed little-endian float64, as app.db.base.Float64Vector
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("observations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("noise_std", VECTOR, nullable=True))
    with op.batch_alter_table("analyses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("z", VECTOR, nullable=True))
        batch_op.add_column(sa.Column("screening", VECTOR, nullable=True))
    with op.batch_alter_table("streams", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sensors", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("streams", schema=None) as batch_op:
        batch_op.drop_column("sensors")
    with op.batch_alter_table("analyses", schema=None) as batch_op:
        batch_op.drop_column("screening")
        batch_op.drop_column("z")
    with op.batch_alter_table("observations", schema=None) as batch_op:
        batch_op.drop_column("noise_std")
