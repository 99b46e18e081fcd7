"""Search over messages, and muting chats.

PostgreSQL: ``pg_trgm`` and ``unaccent``, an immutable ``parley_fold(text)`` (lower case, accents
removed) and a GIN trigram index on ``parley_fold(messages.text)``; the index follows every insert,
edit and deletion by itself. SQLite: an FTS5 table ``messages_fts`` (trigram tokenizer) holding each
message's folded text under its ``seq``, kept by the chat store in the writer's batch transaction
(SQLite 3.40's trigram tokenizer cannot remove accents itself).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("chat_members", sa.Column("muted_until", Timestamp, nullable=True))
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
        # unaccent() is only STABLE (it reads its dictionary by name); named by schema here, the
        # wrapper is safe to declare IMMUTABLE and so to index.
        schema = bind.execute(
            sa.text(
                "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
                "WHERE e.extname = 'unaccent'"
            )
        ).scalar_one()
        quoted = '"' + str(schema).replace('"', '""') + '"'
        op.execute(
            f"""
            CREATE OR REPLACE FUNCTION parley_fold(value text) RETURNS text
            LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
            AS $$ SELECT lower({quoted}.unaccent('{quoted}.unaccent'::regdictionary, value)) $$
            """
        )
        trgm_schema = bind.execute(
            sa.text(
                "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
                "WHERE e.extname = 'pg_trgm'"
            )
        ).scalar_one()
        ops = '"' + str(trgm_schema).replace('"', '""') + '".gin_trgm_ops'
        op.execute(f"CREATE INDEX ix_messages_text_search ON messages USING gin (parley_fold(text) {ops})")
    else:
        op.execute("CREATE VIRTUAL TABLE messages_fts USING fts5(body, tokenize = 'trigram')")
        rows = bind.execute(
            sa.text(
                "SELECT seq, text FROM messages WHERE text != '' AND message_type != 'system' AND NOT deleted"
            )
        ).all()
        if rows:
            from parley.chat.search import fold

            bind.execute(
                sa.text("INSERT INTO messages_fts (rowid, body) VALUES (:seq, :body)"),
                [{"seq": seq, "body": fold(text)} for seq, text in rows],
            )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_messages_text_search")
        op.execute("DROP FUNCTION IF EXISTS parley_fold(text)")
    else:
        op.execute("DROP TABLE IF EXISTS messages_fts")
    with op.batch_alter_table("chat_members") as batch:
        batch.drop_column("muted_until")
