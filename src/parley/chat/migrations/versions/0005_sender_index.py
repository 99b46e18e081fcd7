"""Who took part in which chat: an index on ``messages (chat_id, sender_id)``.

Someone's email address is shown only to people who share a chat in which they took part (see
``parley.chat.store.address_contacts_of``); this index answers "has X sent anything in chat C"
with one probe per chat.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_messages_chat_id_sender_id", "messages", ["chat_id", "sender_id"])


def downgrade() -> None:
    op.drop_index("ix_messages_chat_id_sender_id", table_name="messages")
