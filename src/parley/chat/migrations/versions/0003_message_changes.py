"""Messages that can change: edits, deletions, replies, reactions and system messages.

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
    op.add_column("messages", sa.Column("edited_at", Timestamp, nullable=True))
    op.add_column("messages", sa.Column("deleted", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("messages", sa.Column("reply_to", sa.String(24), nullable=True))
    op.add_column("messages", sa.Column("system", sa.Text(), nullable=True))
    op.create_table(
        "message_reactions",
        sa.Column("message_id", sa.String(24), nullable=False),
        sa.Column("emoji", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name="fk_message_reactions_message_id_messages",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id", "emoji", "user_id", name="pk_message_reactions"),
    )


def downgrade() -> None:
    op.drop_table("message_reactions")
    op.drop_column("messages", "system")
    op.drop_column("messages", "reply_to")
    op.drop_column("messages", "deleted")
    op.drop_column("messages", "edited_at")
