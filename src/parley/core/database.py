"""Async SQLAlchemy engine and sessions, and Alembic migrations per service.

SQLite (aiosqlite) is the embedded default and PostgreSQL (asyncpg) the production one; the
same code and migrations serve both. Each service keeps its own Alembic version table, so two
services may even share one database without stepping on each other.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Dialect, MetaData, event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so migrations can drop and alter them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def make_base() -> type[DeclarativeBase]:
    """A declarative base with its own metadata; each service calls this once for its tables."""

    class Base(DeclarativeBase):
        metadata = MetaData(naming_convention=NAMING_CONVENTION)

    return Base


DEFAULT_STATEMENT_TIMEOUT = 5.0


def prepare_sqlite_file(database: str | None) -> None:
    """Create a SQLite database file readable by its owner only (SQLite gives its -wal and -shm
    files the same permissions); its folder too, when it is new."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def engine_options(url: str, statement_timeout: float = DEFAULT_STATEMENT_TIMEOUT) -> dict[str, Any]:
    """Engine arguments that bound every wait: a statement, a lock, a pooled connection, a connect.

    A database that stops answering then fails a request within about ``statement_timeout``
    seconds (answered 503) instead of holding it.
    """
    if make_url(url).get_backend_name() == "sqlite":
        # The sqlite3 timeout is how long a writer waits for another's lock.
        return {"connect_args": {"timeout": statement_timeout}}
    return {
        "connect_args": {
            # The server cancels a statement running longer; the client gives up on a server that
            # does not answer at all (a frozen host) a moment later, and on connecting likewise.
            "server_settings": {"statement_timeout": str(int(statement_timeout * 1000))},
            "command_timeout": statement_timeout,
            "timeout": statement_timeout,
        },
        "pool_timeout": statement_timeout,
    }


class Database:
    """An engine and a session factory for one service's database."""

    def __init__(
        self, url: str, *, echo: bool = False, statement_timeout: float = DEFAULT_STATEMENT_TIMEOUT
    ) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self.statement_timeout = statement_timeout
        # hide_parameters: a database error's text would otherwise carry the statement's values
        # (message text, client ids) into the logs.
        kwargs: dict[str, Any] = {
            "echo": echo,
            "hide_parameters": True,
            **engine_options(url, statement_timeout),
        }
        if self.is_sqlite:
            prepare_sqlite_file(parsed.database)
        else:
            # No pre-ping: it costs a round trip on every checkout. After a database restart the
            # first statement on a dead connection fails (503) and SQLAlchemy then discards the
            # whole pool, so one request notices instead of every request paying.
            kwargs.update(pool_size=20, max_overflow=10, pool_recycle=1800)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            busy_ms = int(statement_timeout * 1000)
            event.listen(self.engine.sync_engine, "connect", lambda conn, _: _sqlite_pragmas(conn, busy_ms))
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A unit of work: commits when the block ends cleanly, rolls back on any error."""
        async with self.sessions() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()


def _sqlite_pragmas(dbapi_conn: Any, busy_ms: int) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets readers and one writer work at once; foreign keys are off by default in SQLite.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={busy_ms}")
    cur.close()


async def migrate(url: str, service: str, migrations_dir: Path, revision: str = "head") -> None:
    """Bring ``service``'s tables in the database at ``url`` up to ``revision``.

    Safe when several instances start at once: on PostgreSQL the upgrade runs under an advisory
    lock keyed by the service name, so one instance migrates and the others then find nothing to do.
    """
    engine = create_async_engine(url, poolclass=NullPool)
    if make_url(url).get_backend_name() == "sqlite":
        prepare_sqlite_file(make_url(url).database)
    try:
        async with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                key = int.from_bytes(
                    hashlib.sha256(f"parley:{service}".encode()).digest()[:8], "big", signed=True
                )
                await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
            try:
                await conn.run_sync(_upgrade, service, migrations_dir, revision)
                await conn.commit()
            finally:
                if conn.dialect.name == "postgresql":
                    await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    await conn.commit()
    finally:
        await engine.dispose()


def _upgrade(conn: Connection, service: str, migrations_dir: Path, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.attributes["connection"] = conn
    cfg.attributes["version_table"] = f"alembic_version_{service}"
    command.upgrade(cfg, revision)


def run_migrations_online() -> None:
    """The body of every service's ``migrations/env.py``: run on the connection handed in."""
    from alembic import context

    config = context.config
    conn = config.attributes["connection"]
    context.configure(
        connection=conn,
        target_metadata=None,
        version_table=config.attributes["version_table"],
        render_as_batch=conn.dialect.name == "sqlite",
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite stores it naive, in UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
