"""The chat service's migrations build exactly the tables its models describe, on both backends."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from parley.chat import store
from parley.core.database import migrate
from tests.fixtures.stack import Stack


def differences(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    diffs = compare_metadata(context, store.Base.metadata)
    # Alembic's own version table is not one of the models, nor is the search index: SQLite's FTS5
    # table (and its shadow tables), PostgreSQL's index on an expression (see migration 0004).
    return [
        d
        for d in diffs
        if not (d[0] == "remove_table" and d[1].name.startswith(("alembic_version", "messages_fts")))
        and not (d[0] == "remove_index" and d[1].name == "ix_messages_text_search")
    ]


async def test_migrations_match_the_models(stack: Stack) -> None:
    url = stack.settings.database_url("chat")
    await migrate(url, "chat", store.MIGRATIONS_DIR)  # again: nothing left to do
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(differences) == []
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    finally:
        await engine.dispose()
    assert {"chats", "chat_members", "messages", "alembic_version_chat"} <= tables
