"""A per-chat message sequence number, handed out in commit order.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("chats", sa.Column("last_seq", Seq, nullable=False, server_default="0"))
    op.add_column("messages", sa.Column("chat_seq", Seq, nullable=True))
    # Existing messages are numbered in their stored order, chat by chat.
    op.execute(
        """
        UPDATE messages SET chat_seq = (
            SELECT COUNT(*) FROM messages AS earlier
            WHERE earlier.chat_id = messages.chat_id AND earlier.seq <= messages.seq
        )
        """
    )
    op.execute(
        """
        UPDATE chats SET last_seq = COALESCE(
            (SELECT MAX(chat_seq) FROM messages WHERE messages.chat_id = chats.id), 0
        )
        """
    )
    op.create_index("uq_messages_chat_id_chat_seq", "messages", ["chat_id", "chat_seq"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_messages_chat_id_chat_seq", table_name="messages")
    op.drop_column("messages", "chat_seq")
    op.drop_column("chats", "last_seq")
