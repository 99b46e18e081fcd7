"""Search: the folded text stored once (PostgreSQL), the trigram vocabulary (SQLite).

PostgreSQL: ``messages.text_folded``, a stored generated column ``parley_fold(text)``, and the GIN
trigram index ``ix_messages_text_search`` on it instead of on the expression. A search's rechecks
and its ranking read the folded text instead of running ``unaccent`` again for every candidate
row; an insert or an edit folds the text once, as the expression index did. Adding the column
rewrites the table once.

SQLite: ``messages_fts_vocab``, an ``fts5vocab`` view of ``messages_fts``'s trigrams, read in
order to find the variants of a five-letter query word whose middle letter may be wrong (no
trigram of "hexlo" is in "hello"; see ``parley.chat.search.fts_query``).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _trigram_ops() -> str:
    schema = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
                "WHERE e.extname = 'pg_trgm'"
            )
        )
        .scalar_one()
    )
    return '"' + str(schema).replace('"', '""') + '".gin_trgm_ops'


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE messages ADD COLUMN text_folded text GENERATED ALWAYS AS (parley_fold(text)) STORED"
        )
        op.execute("DROP INDEX IF EXISTS ix_messages_text_search")
        op.execute(
            f"CREATE INDEX ix_messages_text_search ON messages USING gin (text_folded {_trigram_ops()})"
        )
    else:
        op.execute("CREATE VIRTUAL TABLE messages_fts_vocab USING fts5vocab(messages_fts, row)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_messages_text_search")
        op.execute("ALTER TABLE messages DROP COLUMN text_folded")
        op.execute(
            f"CREATE INDEX ix_messages_text_search ON messages USING gin (parley_fold(text) {_trigram_ops()})"
        )
    else:
        op.execute("DROP TABLE IF EXISTS messages_fts_vocab")
