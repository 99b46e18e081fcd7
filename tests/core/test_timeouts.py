"""A database or cache that stops answering gives 503 with Retry-After, never a hung request.

The shared PostgreSQL and Redis are never touched: each test reaches them through a relay of its
own that it freezes, or holds a lock with a connection of its own.
"""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
from fastapi import APIRouter, FastAPI
from sqlalchemy import text

from parley.core.app import create_service_app
from parley.core.cache import create_cache
from parley.core.database import Database
from tests.core.helpers import FreezableRelay
from tests.fixtures.backends import (
    PG_HOST,
    PG_PORT,
    PG_USER,
    REDIS_URL,
    create_databases,
    drop_databases,
    reachable,
    require,
)

# Longer than the promise (a 503 within 10 s): a request still open then is a hung request.
PATIENCE = 12


def app_with(work: Callable[[], Awaitable[Any]]) -> FastAPI:
    router = APIRouter(prefix="/api/v1")

    @router.post("/work")
    async def run() -> dict[str, str]:
        await work()
        return {"status": "done"}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield

    return create_service_app(service="demo", title="Demo", routers=[router], lifespan=lifespan)


async def call(app: FastAPI) -> httpx.Response:
    """The answer, or a failure when there is none within ``PATIENCE`` (a hung request)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        try:
            async with asyncio.timeout(PATIENCE):
                return await client.post("/api/v1/work")
        except TimeoutError:
            pytest.fail(f"no answer within {PATIENCE} s: the request hung")


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"]
    assert response.json()["code"] == "unavailable"


@pytest.fixture
async def pg_database() -> AsyncIterator[str]:
    require(reachable(PG_HOST, PG_PORT), f"PostgreSQL at {PG_HOST}:{PG_PORT}")
    name = f"parley_test_timeout_{secrets.token_hex(4)}"
    await create_databases([name])
    try:
        yield name
    finally:
        await drop_databases([name])


@pytest.fixture
async def relay_to_pg() -> AsyncIterator[tuple[FreezableRelay, int]]:
    relay = FreezableRelay(PG_HOST, PG_PORT)
    port = await relay.start()
    yield relay, port
    await relay.close()


async def test_a_frozen_postgresql_is_503(pg_database: str, relay_to_pg: tuple[FreezableRelay, int]) -> None:
    relay, port = relay_to_pg
    db = Database(f"postgresql+asyncpg://{PG_USER}@127.0.0.1:{port}/{pg_database}")

    async def select() -> None:
        async with db.session() as session:
            await session.execute(text("SELECT 1"))

    app = app_with(select)
    try:
        assert (await call(app)).status_code == 200  # a pooled connection, alive
        relay.freeze()
        assert_unavailable(await call(app))  # on the pooled connection
        assert_unavailable(await call(app))  # on a new one, whose connect never completes
    finally:
        relay.thawed.set()
        await db.close()


async def test_a_statement_stuck_behind_a_lock_is_cancelled_and_503(pg_database: str) -> None:
    url = f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{pg_database}"
    db = Database(url)
    async with db.session() as session:
        await session.execute(text("CREATE TABLE counter (n int)"))
        await session.execute(text("INSERT INTO counter VALUES (0)"))

    async def bump() -> None:
        async with db.session() as session:
            await session.execute(text("UPDATE counter SET n = n + 1"))

    holder = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=pg_database)
    try:
        async with holder.transaction():
            await holder.execute("LOCK TABLE counter IN ACCESS EXCLUSIVE MODE")
            assert_unavailable(await call(app_with(bump)))
        assert (await call(app_with(bump))).status_code == 200
    finally:
        await holder.close()
        await db.close()


async def test_a_locked_sqlite_database_is_503(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    async with db.session() as session:
        await session.execute(text("CREATE TABLE counter (n int)"))

    async def insert() -> None:
        async with db.session() as session:
            await session.execute(text("INSERT INTO counter VALUES (1)"))

    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        assert_unavailable(await call(app_with(insert)))
        holder.execute("COMMIT")
        assert (await call(app_with(insert))).status_code == 200
    finally:
        holder.close()
        await db.close()


async def test_a_frozen_redis_is_503() -> None:
    require(reachable("127.0.0.1", 6379), "Redis at 127.0.0.1:6379")
    target = urlsplit(REDIS_URL)
    relay = FreezableRelay(target.hostname or "127.0.0.1", target.port or 6379)
    port = await relay.start()
    cache = create_cache(f"redis://127.0.0.1:{port}{target.path}")

    async def read() -> None:
        await cache.get("parley-test-frozen")

    app = app_with(read)
    try:
        assert (await call(app)).status_code == 200
        relay.freeze()
        assert_unavailable(await call(app))
    finally:
        await cache.aclose()
        await relay.close()


def test_sqlite_files_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "data" / "user.db"
    Database(f"sqlite+aiosqlite:///{path}")
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o077 == 0
