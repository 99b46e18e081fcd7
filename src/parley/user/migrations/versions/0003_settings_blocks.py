"""Settings (email notifications, read receipts) on each user, and who blocked whom.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    # A server default fills existing rows: everyone starts with both settings on.
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("email_notifications", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch.add_column(sa.Column("read_receipts", sa.Boolean(), server_default=sa.true(), nullable=False))
    op.create_table(
        "blocks",
        sa.Column("blocker_id", sa.String(24), nullable=False),
        sa.Column("blocked_id", sa.String(24), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("blocker_id", "blocked_id", name="pk_blocks"),
    )
    op.create_index("ix_blocks_blocked_id", "blocks", ["blocked_id"])


def downgrade() -> None:
    op.drop_index("ix_blocks_blocked_id", table_name="blocks")
    op.drop_table("blocks")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("read_receipts")
        batch.drop_column("email_notifications")
