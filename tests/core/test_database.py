"""The database layer against a real PostgreSQL: connections that die are replaced."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from parley.core.database import Database
from tests.fixtures.backends import (
    PG_HOST,
    PG_PORT,
    PG_USER,
    create_databases,
    drop_databases,
    reachable,
    require,
    terminate_connections,
)


@pytest.fixture
async def database() -> AsyncIterator[tuple[str, Database]]:
    require(reachable(PG_HOST, PG_PORT), f"PostgreSQL at {PG_HOST}:{PG_PORT}")
    name = f"parley_test_db_{secrets.token_hex(4)}"
    await create_databases([name])
    db = Database(f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}")
    try:
        yield name, db
    finally:
        await db.close()
        await drop_databases([name])


async def select_one(db: Database) -> int:
    async with db.session() as session:
        return int((await session.execute(text("SELECT 1"))).scalar_one())


async def test_after_the_server_drops_every_connection_one_statement_fails_then_all_work(
    database: tuple[str, Database],
) -> None:
    name, db = database
    # Fill the pool with several open connections, as a busy service has.
    async with db.session() as a, db.session() as b, db.session() as c:
        for session in (a, b, c):
            await session.execute(text("SELECT 1"))
    assert await terminate_connections(name) >= 3

    with pytest.raises((sa_exc.DBAPIError, ConnectionError)):
        await select_one(db)
    # The failure threw the whole stale pool away: every later statement gets a live connection.
    for _ in range(5):
        assert await select_one(db) == 1


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_a_database_error_does_not_carry_the_statements_values(
    kind: str, database: tuple[str, Database], tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Values are message text and client ids: an error's text ends up in the logs.
    db = database[1]
    if kind == "sqlite":
        db = Database(f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'x.db'}")
    try:
        with pytest.raises(sa_exc.DBAPIError) as raised:
            async with db.session() as session:
                await session.execute(
                    text("SELECT * FROM no_such_table WHERE x = :v"), {"v": "private words"}
                )
        assert "private words" not in str(raised.value)
    finally:
        if kind == "sqlite":
            await db.close()
