"""The bare loop: what the hardware does with Parley's durable work for a message, and no Parley.

Each of the run's senders has its own asyncpg connection and, as fast as it can, commits a
transaction that inserts a row shaped like a Parley message and updates its chat's latest
message (the two senders of a pair share a chat, as the bench's pairs do), then publishes the
message on Redis. Then the same with ten messages per transaction (one multi-row ``INSERT ...
RETURNING``, one update of the chat, ten publishes in one pipeline). The database runs with
its own ``fsync`` and ``synchronous_commit``; the loop changes neither and reports both.

The loop works in two scratch tables of its own (``parley_bench_<run>_chats`` and ``..._messages``),
created at the start and dropped at the end, whatever happens: Parley's tables are never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from parley.bench.clients import BenchError
from parley.bench.stats import (
    ONE_PER_TRANSACTION,
    TEN_PER_TRANSACTION,
    BaselineReport,
    BaselineVariant,
)

SCRATCH_PREFIX = "parley_bench_"
VARIANTS = {ONE_PER_TRANSACTION: 1, TEN_PER_TRANSACTION: 10}


def scratch_tables(run: str) -> tuple[str, str]:
    """The names of a run's two scratch tables: its chats and its messages."""
    return f"{SCRATCH_PREFIX}{run}_chats", f"{SCRATCH_PREFIX}{run}_messages"


def postgres_dsn(url: str) -> tuple[str, str]:
    """An asyncpg DSN for a Parley or plain PostgreSQL URL, and the URL to show (no password)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise BenchError(f"{url!r} is not a database URL") from exc
    if parsed.get_backend_name() != "postgresql":
        raise BenchError(
            f"the bare loop needs PostgreSQL, not {parsed.get_backend_name()} ({parsed.render_as_string()}): "
            "pass --baseline-db postgresql://…"
        )
    plain = parsed.set(drivername="postgresql")
    return plain.render_as_string(hide_password=False), plain.render_as_string(hide_password=True)


def system_targets(database: str | None, redis: str | None) -> tuple[str, str]:
    """The database and Redis to run the loop against: those given, else the system's own.

    The system's are its chat service's ``CHAT_DATABASE_URL`` (or ``DATABASE_URL``) and its
    ``REDIS_URL``, read the way the services read them (environment, then ``.env``).
    """
    if database and redis:
        return database, redis
    from parley.core.settings import SettingError, Settings

    try:
        settings = Settings()
    except (SettingError, ValueError) as exc:
        raise BenchError(f"cannot read the system's settings for the bare loop: {exc}") from exc
    database = database or settings.database_url("chat")
    redis = redis or settings.cache.redis_url
    if not database.startswith("postgresql"):
        raise BenchError(
            "the bare loop needs PostgreSQL, and the system's chat database here is "
            f"{database.split(':', 1)[0]} (CHAT_DATABASE_URL / DATABASE_URL): pass --baseline-db postgresql://…"
        )
    if not redis.startswith(("redis://", "rediss://", "unix://")):
        raise BenchError(
            "the bare loop publishes on Redis, and the system has none here (REDIS_URL): "
            "pass --baseline-redis redis://…"
        )
    return database, redis


async def run_baseline(
    database: str,
    redis_url: str,
    *,
    pairs: int,
    duration: float,
    warmup: float,
    on_phase: Callable[[str, float], None] | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> BaselineReport:
    """Both variants of the loop with ``2 × pairs`` senders; :class:`BenchError` if it cannot run."""
    dsn, shown = postgres_dsn(database)
    chats, messages = scratch_tables(secrets.token_hex(4))
    try:
        admin: asyncpg.Connection[Any] = await asyncpg.connect(dsn, timeout=10)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise BenchError(f"cannot connect to the bare loop's database {shown}: {exc!r}") from exc
    redis = Redis.from_url(redis_url)
    try:
        report = BaselineReport(
            database=shown,
            fsync=str(await admin.fetchval("SHOW fsync")),
            synchronous_commit=str(await admin.fetchval("SHOW synchronous_commit")),
            duration=duration,
            warmup=warmup,
        )
        try:
            await redis.ping()
        except (RedisError, OSError) as exc:
            raise BenchError(f"the bare loop's Redis does not answer: {exc!r}") from exc
        try:
            await _create(admin, chats, messages, pairs)
            for name, per_transaction in VARIANTS.items():
                if on_phase:
                    on_phase(f"bare loop, {per_transaction} msg/transaction", warmup + duration)
                loop = _Loop(dsn, redis, chats, messages, pairs, per_transaction)
                variant = await loop.run(duration, warmup, on_progress)
                variant.rows_stored = int(await admin.fetchval(f"SELECT count(*) FROM {messages}"))  # noqa: S608
                await admin.execute(f"TRUNCATE {messages}")
                report.variants[name] = variant
        except (OSError, asyncpg.PostgresError, RedisError, TimeoutError) as exc:
            raise BenchError(f"the bare loop failed: {exc!r}") from exc
        return report
    finally:
        try:
            await admin.execute(f"DROP TABLE IF EXISTS {messages}, {chats}")
        finally:
            await admin.close()
            await redis.aclose()


async def _create(admin: asyncpg.Connection[Any], chats: str, messages: str, pairs: int) -> None:
    """The scratch tables, shaped like Parley's ``chats`` and ``messages`` (same keys and indexes)."""
    await admin.execute(
        f"""
        CREATE TABLE {chats} (
            id varchar(24) PRIMARY KEY,
            updated_at timestamptz NOT NULL,
            last_activity_at timestamptz NOT NULL,
            latest_message_seq bigint,
            latest_message_text text,
            latest_message_sender varchar(32)
        );
        CREATE TABLE {messages} (
            seq bigserial PRIMARY KEY,
            id varchar(24) NOT NULL UNIQUE,
            chat_id varchar(24) NOT NULL REFERENCES {chats} (id) ON DELETE CASCADE,
            sender_id varchar(32) NOT NULL,
            message_type varchar(10) NOT NULL,
            text text NOT NULL,
            client_id varchar(100),
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            seen_at timestamptz,
            UNIQUE (sender_id, client_id)
        );
        CREATE INDEX {messages}_chat_seq ON {messages} (chat_id, seq);
        """
    )
    now = datetime.now(UTC)
    await admin.executemany(
        f"INSERT INTO {chats} (id, updated_at, last_activity_at) VALUES ($1, $2, $2)",  # noqa: S608
        [(_chat_id(i), now) for i in range(pairs)],
    )


async def _tick(on_progress: Callable[[float], None], start: float, stop_at: float) -> None:
    while True:
        on_progress(min(time.perf_counter(), stop_at) - start)
        await asyncio.sleep(0.25)


def _chat_id(pair: int) -> str:
    return f"{pair:024x}"


class _Loop:
    """One variant: every sender commits and publishes as fast as it can."""

    def __init__(
        self, dsn: str, redis: Redis, chats: str, messages: str, pairs: int, per_transaction: int
    ) -> None:
        self.dsn = dsn
        self.redis = redis
        self.pairs = pairs
        self.per_transaction = per_transaction
        self.channel = f"{SCRATCH_PREFIX}{secrets.token_hex(4)}"
        self.insert = (
            f"INSERT INTO {messages} (id, chat_id, sender_id, message_type, text, client_id, created_at, "  # noqa: S608
            "updated_at) SELECT m.id, $1, $2, 'text', m.text, m.client_id, $3, $3 "
            "FROM unnest($4::varchar[], $5::text[], $6::varchar[]) AS m(id, text, client_id) RETURNING seq"
        )
        self.update = (
            f"UPDATE {chats} SET updated_at = $2, last_activity_at = $2, latest_message_seq = $3, "  # noqa: S608
            "latest_message_text = $4, latest_message_sender = $5 WHERE id = $1"
        )
        self.insert_one = (
            f"INSERT INTO {messages} (id, chat_id, sender_id, message_type, text, client_id, created_at, "  # noqa: S608
            "updated_at) VALUES ($1, $2, $3, 'text', $4, $5, $6, $6) RETURNING seq"
        )
        self.committed = 0
        self.in_window = 0
        self.latencies: list[float] = []

    async def run(
        self, duration: float, warmup: float, on_progress: Callable[[float], None] | None
    ) -> BaselineVariant:
        senders = 2 * self.pairs
        connections: list[asyncpg.Connection[Any]] = []
        ticker: asyncio.Task[None] | None = None
        try:
            for _ in range(senders):
                connections.append(await asyncpg.connect(self.dsn, timeout=10))
            start = time.perf_counter()
            measure_from = start + warmup
            stop_at = measure_from + duration
            if on_progress is not None:
                ticker = asyncio.create_task(_tick(on_progress, start, stop_at))
            await asyncio.gather(
                *(self._sender(i, conn, measure_from, stop_at) for i, conn in enumerate(connections))
            )
        finally:
            if ticker is not None:
                ticker.cancel()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(10):
                    await asyncio.gather(*(c.close() for c in connections), return_exceptions=True)
        return BaselineVariant(
            per_transaction=self.per_transaction,
            senders=senders,
            window=duration,
            committed_in_window=self.in_window,
            committed=self.committed,
            rows_stored=0,
            send_latencies=self.latencies,
        )

    async def _sender(
        self, index: int, conn: asyncpg.Connection[Any], measure_from: float, stop_at: float
    ) -> None:
        chat = _chat_id(index // 2)
        me = f"{index:024x}"
        sent = 0
        while True:
            started = time.perf_counter()
            if started >= stop_at:
                return
            client_ids = [f"{me}-{sent + k}" for k in range(self.per_transaction)]
            sent += self.per_transaction
            texts = [f"bench {client_id}" for client_id in client_ids]
            ids = [secrets.token_hex(12) for _ in client_ids]
            now = datetime.now(UTC)
            async with conn.transaction():
                if self.per_transaction == 1:
                    seqs = [
                        await conn.fetchval(self.insert_one, ids[0], chat, me, texts[0], client_ids[0], now)
                    ]
                else:
                    rows = await conn.fetch(self.insert, chat, me, now, ids, texts, client_ids)
                    seqs = [row[0] for row in rows]
                await conn.execute(self.update, chat, now, max(seqs), texts[-1], me)
            events = [
                json.dumps({"_id": i, "chatId": chat, "senderId": me, "text": t, "clientId": c, "seq": s})
                for i, t, c, s in zip(ids, texts, client_ids, seqs, strict=True)
            ]
            if len(events) == 1:
                await self.redis.publish(self.channel, events[0])
            else:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for event in events:
                        pipe.publish(self.channel, event)
                    await pipe.execute()
            done = time.perf_counter()
            self.committed += self.per_transaction
            if measure_from <= done <= stop_at:
                self.in_window += self.per_transaction
            if started >= measure_from:
                self.latencies.append(done - started)
