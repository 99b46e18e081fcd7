"""Chats, members and messages.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "chats",
        sa.Column("id", sa.String(24), nullable=False),
        sa.Column("is_group", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(100), nullable=True),
        sa.Column("direct_key", sa.String(80), nullable=True),
        sa.Column("created_by", sa.String(32), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.Column("last_activity_at", Timestamp, nullable=False),
        sa.Column("latest_message_seq", Seq, nullable=True),
        sa.Column("latest_message_text", sa.Text(), nullable=True),
        sa.Column("latest_message_sender", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_chats"),
        sa.UniqueConstraint("direct_key", name="uq_chats_direct_key"),
    )
    op.create_table(
        "chat_members",
        sa.Column("chat_id", sa.String(24), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("joined_at", Timestamp, nullable=False),
        sa.Column("last_read_seq", Seq, nullable=False),
        sa.Column("last_read_at", Timestamp, nullable=True),
        sa.ForeignKeyConstraint(
            ["chat_id"], ["chats.id"], name="fk_chat_members_chat_id_chats", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("chat_id", "user_id", name="pk_chat_members"),
    )
    op.create_index("ix_chat_members_user_id_chat_id", "chat_members", ["user_id", "chat_id"])
    op.create_table(
        "messages",
        sa.Column("seq", Seq, nullable=False, autoincrement=True),
        sa.Column("id", sa.String(24), nullable=False),
        sa.Column("chat_id", sa.String(24), nullable=False),
        sa.Column("sender_id", sa.String(32), nullable=False),
        sa.Column("message_type", sa.String(10), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("image_key", sa.String(100), nullable=True),
        sa.Column("image_width", sa.Integer(), nullable=True),
        sa.Column("image_height", sa.Integer(), nullable=True),
        sa.Column("image_content_type", sa.String(50), nullable=True),
        sa.Column("client_id", sa.String(100), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.Column("seen_at", Timestamp, nullable=True),
        sa.ForeignKeyConstraint(
            ["chat_id"], ["chats.id"], name="fk_messages_chat_id_chats", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("seq", name="pk_messages"),
        sa.UniqueConstraint("id", name="uq_messages_id"),
        sa.UniqueConstraint("sender_id", "client_id", name="uq_messages_sender_id_client_id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_messages_chat_id_seq", "messages", ["chat_id", "seq"])


def downgrade() -> None:
    op.drop_index("ix_messages_chat_id_seq", table_name="messages")
    op.drop_table("messages")
    op.drop_index("ix_chat_members_user_id_chat_id", table_name="chat_members")
    op.drop_table("chat_members")
    op.drop_table("chats")
