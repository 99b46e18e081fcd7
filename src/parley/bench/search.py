"""Search latency on a large PostgreSQL chat database: seed it, then time ``GET /search``'s work.

``python -m parley.bench.search --database-url postgresql+asyncpg://postgres@127.0.0.1/parley_search``

1. creates the database if it is missing and applies the chat service's migrations;
2. seeds it (unless it already holds ``--messages`` messages) inside PostgreSQL, with
   ``generate_series``: ``--users`` people, ``--chats`` chats of 2–8 members, and ``--messages``
   messages of 4–16 words drawn from a vocabulary of common and made-up words, some accented
   (the search index is dropped for the load and built again after, as a bulk load should);
3. runs ``--queries`` searches, each as the service runs one (:meth:`ChatService.search` in a
   transaction of its own, candidates, ranking, documents), for a random member, one at a time,
   of five kinds: a common word, a rarer word, part of a word, a word with one wrong letter, two
   words; and prints p50/p95/p99 per kind and overall (milliseconds) as one JSON line and a table.

It runs in one process against the database alone (no HTTP, no user service): the figure is the
database and the service's own work. See docs/performance.md for what it measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from parley.chat import store
from parley.chat.documents import MediaLinks
from parley.chat.service import ChatService
from parley.chat.uow import unit_of_work
from parley.core.auth import Identity
from parley.core.database import Database, migrate

COMMON = [
    "hello",
    "meeting",
    "tomorrow",
    "lunch",
    "project",
    "review",
    "coffee",
    "thanks",
    "please",
    "morning",
    "evening",
    "weekend",
    "deadline",
    "report",
    "update",
    "question",
    "answer",
    "call",
    "later",
    "today",
    "ready",
    "travel",
    "ticket",
    "station",
    "office",
    "garden",
    "dinner",
    "movie",
    "music",
    "photo",
    "budget",
    "design",
    "release",
    "server",
    "client",
    "invoice",
    "holiday",
]
ACCENTED = ["café", "crème", "déjà", "naïve", "résumé", "façade", "entrée", "über", "señor", "garçon"]


def vocabulary(rng: random.Random, size: int) -> list[str]:
    """Common words, some accented ones, and made-up words of 4–10 letters (the long tail)."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    made_up = {"".join(rng.choice(letters) for _ in range(rng.randint(4, 10))) for _ in range(size)}
    return COMMON + ACCENTED + sorted(made_up)


class NullSink:
    async def emit(self, event: str, payload: dict[str, Any], *, to_users: list[str]) -> None:
        return None


async def create_database(url: str) -> None:
    parsed = make_url(url)
    conn = await asyncpg.connect(
        host=parsed.host,
        port=parsed.port or 5432,
        user=parsed.username,
        password=parsed.password,
        database="postgres",
    )
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", parsed.database):
            await conn.execute(f'CREATE DATABASE "{parsed.database}"')
    finally:
        await conn.close()


async def seed(db: Database, *, users: int, chats: int, messages: int, words: list[str]) -> None:
    async with db.engine.begin() as conn:
        have = int((await conn.execute(text("SELECT count(*) FROM messages"))).scalar_one())
        if have >= messages:
            print(f"already seeded: {have} messages")
            return
        index = (
            await conn.execute(text("SELECT pg_get_indexdef('ix_messages_text_search'::regclass)"))
        ).scalar_one()
        await conn.execute(text("TRUNCATE messages, chat_members, chats CASCADE"))
        await conn.execute(text("DROP INDEX ix_messages_text_search"))
        started = time.monotonic()
        await conn.execute(
            text(
                """
                INSERT INTO chats (id, is_group, name, direct_key, created_by, created_at, updated_at,
                                   last_activity_at, last_seq)
                SELECT lpad(to_hex(c), 24, '0'), c % 3 = 0,
                       CASE WHEN c % 3 = 0 THEN 'Group ' || c END,
                       CASE WHEN c % 3 <> 0 THEN 'direct:' || c END,
                       lpad(to_hex(1000000 + c % :users), 24, '0'), now(), now(), now(), 0
                FROM generate_series(1, :chats) AS c
                """
            ),
            {"chats": chats, "users": users},
        )
        # Chat c has 2 (1:1) or 3–8 (groups) members: users c, c+7, c+14 … (mod the number of users).
        await conn.execute(
            text(
                """
                INSERT INTO chat_members (chat_id, user_id, role, joined_at, last_read_seq)
                SELECT lpad(to_hex(c), 24, '0'), lpad(to_hex(1000000 + (c + 7 * k) % :users), 24, '0'),
                       CASE WHEN k = 0 THEN 'admin' ELSE 'member' END, now(), 0
                FROM generate_series(1, :chats) AS c,
                     generate_series(0, 7) AS k
                WHERE k < CASE WHEN c % 3 = 0 THEN 3 + c % 6 ELSE 2 END
                ON CONFLICT DO NOTHING
                """
            ),
            {"chats": chats, "users": users},
        )
        await _copy_messages(conn, chats=chats, users=users, messages=messages, words=words)
        await conn.execute(
            text(
                "UPDATE chats SET last_seq = s.m FROM (SELECT chat_id, max(chat_seq) AS m FROM messages "
                "GROUP BY chat_id) AS s WHERE s.chat_id = chats.id"
            )
        )
        loaded = time.monotonic()
        await conn.execute(text(index))
        print(
            f"seeded {messages} messages in {loaded - started:.0f} s, index built in {time.monotonic() - loaded:.0f} s"
        )
    async with db.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE"))


async def _copy_messages(conn: Any, *, chats: int, users: int, messages: int, words: list[str]) -> None:
    """The messages, generated here and sent with ``COPY`` a chunk at a time (the fast bulk path)."""
    raw = (await conn.get_raw_connection()).driver_connection
    rng = random.Random(7)  # noqa: S311 reproducible data
    now = datetime.now(UTC)
    columns = ["id", "chat_id", "sender_id", "message_type", "text", "created_at", "updated_at", "chat_seq"]
    chunk = 100_000
    for start in range(0, messages, chunk):
        rows = []
        for n in range(start, min(messages, start + chunk)):
            chat = 1 + n % chats
            # Skewed towards the first words of the vocabulary: the common ones.
            text_ = " ".join(words[int(rng.random() ** 2 * len(words))] for _ in range(4 + n % 13))
            at = now - timedelta(seconds=messages - n)
            rows.append(
                (
                    f"{1099511627776 + n:024x}",
                    f"{chat:024x}",
                    f"{1000000 + chat % users:024x}",
                    "text",
                    text_,
                    at,
                    at,
                    1 + n // chats,
                )
            )
        await raw.copy_records_to_table("messages", records=rows, columns=columns)


def typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(len(word))
    return word[:i] + ("x" if word[i] != "x" else "y") + word[i + 1 :]


async def measure(
    db: Database, *, users: int, queries: int, words: list[str], seed_value: int
) -> dict[str, Any]:
    rng = random.Random(seed_value)  # noqa: S311 reproducible queries, not secrets
    service_links = MediaLinks(b"bench", "http://localhost", 3600)
    long_words = [w for w in words[len(COMMON) + len(ACCENTED) :] if len(w) >= 6]
    kinds = {
        "common word": lambda: rng.choice(COMMON),
        "rare word": lambda: rng.choice(long_words),
        "part of a word": lambda: rng.choice(long_words)[1:5],
        "one typo": lambda: typo(rng.choice(long_words[:2000] + COMMON), rng),
        "two words": lambda: f"{rng.choice(COMMON)} {rng.choice(COMMON)}",
        "accents": lambda: rng.choice(["cafe", "creme", "deja vu", "naive", "resume"]),
    }
    timings: dict[str, list[float]] = {name: [] for name in kinds}
    results: dict[str, int] = dict.fromkeys(kinds, 0)
    for i in range(queries):
        name = list(kinds)[i % len(kinds)]
        query = kinds[name]()
        user = f"{1000000 + rng.randrange(users):024x}"
        me = Identity(id=user, name="bench", email="", jti="", exp=0, token="")
        started = time.perf_counter()
        async with unit_of_work(db, NullSink()) as uow:
            chats = ChatService(
                uow=uow,
                users=cast(Any, None),
                links=service_links,
                storage=cast(Any, None),
                writer=cast(Any, None),
            )
            page, _ = await chats.search(me, query, chat_id=None, limit=20, cursor=None)
        timings[name].append((time.perf_counter() - started) * 1000)
        results[name] += len(page.results)

    def pct(values: list[float], p: float) -> float:
        return round(statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1], 1)

    every = [t for values in timings.values() for t in values]
    report: dict[str, Any] = {
        "queries": len(every),
        "p50": pct(every, 50),
        "p95": pct(every, 95),
        "p99": pct(every, 99),
        "kinds": {
            name: {
                "p50": pct(values, 50),
                "p95": pct(values, 95),
                "p99": pct(values, 99),
                "mean_results": round(results[name] / len(values), 1),
            }
            for name, values in timings.items()
        },
    }
    return report


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m parley.bench.search", description=__doc__)
    parser.add_argument("--database-url", required=True, help="postgresql+asyncpg://… (created if missing)")
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--chats", type=int, default=5_000)
    parser.add_argument("--vocabulary", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=600)
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args(argv)

    words = vocabulary(random.Random(args.seed), args.vocabulary)  # noqa: S311 reproducible data
    await create_database(args.database_url)
    await migrate(args.database_url, "chat", store.MIGRATIONS_DIR)
    # A bulk load (a 100,000-row COPY, the index build) takes longer than a request may.
    loader = Database(args.database_url, statement_timeout=3600)
    try:
        await seed(loader, users=args.users, chats=args.chats, messages=args.messages, words=words)
    finally:
        await loader.close()
    db = Database(args.database_url)
    try:
        await measure(db, users=args.users, queries=30, words=words, seed_value=args.seed + 1)  # warm up
        report = await measure(db, users=args.users, queries=args.queries, words=words, seed_value=args.seed)
    finally:
        await db.close()
    print(json.dumps(report))
    print("| kind | p50 ms | p95 ms | p99 ms | results per query |")
    print("| --- | --- | --- | --- | --- |")
    for name, row in report["kinds"].items():
        print(f"| {name} | {row['p50']} | {row['p95']} | {row['p99']} | {row['mean_results']} |")
    print(f"| all ({report['queries']} queries) | {report['p50']} | {report['p95']} | {report['p99']} | |")


if __name__ == "__main__":
    asyncio.run(main())
