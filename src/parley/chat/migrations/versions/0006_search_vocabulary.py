"""Search on SQLite: the trigram vocabulary of ``messages_fts``.

``messages_fts_vocab``, an ``fts5vocab`` view of ``messages_fts``'s trigrams, read in order to find
the variants of a five-letter query word whose middle letter may be wrong (no trigram of "hexlo" is
in "hello"; see ``parley.chat.search.fts_query``). PostgreSQL needs nothing: its trigram word
similarity already finds such a word.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE messages_fts_vocab USING fts5vocab(messages_fts, row)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS messages_fts_vocab")
