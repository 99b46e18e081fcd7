"""The bare loop (``parley bench --baseline``) against a real PostgreSQL and Redis."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from parley.bench import baseline
from parley.bench.baseline import SCRATCH_PREFIX, postgres_dsn, run_baseline, system_targets
from parley.bench.clients import BenchError
from parley.bench.stats import ONE_PER_TRANSACTION, TEN_PER_TRANSACTION
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
from tests.fixtures.topology import run_async

PARLEY = [sys.executable, "-m", "parley.cli"]


def fresh_database_name() -> str:
    return f"parley_test_bench_{secrets.token_hex(4)}"


@pytest.fixture
async def database() -> AsyncIterator[str]:
    """A fresh PostgreSQL database holding a Parley-named table the loop must leave alone."""
    require(reachable(PG_HOST, PG_PORT), f"PostgreSQL at {PG_HOST}:{PG_PORT}")
    require(reachable("127.0.0.1", 6379), "Redis at 127.0.0.1:6379")
    name = fresh_database_name()
    await create_databases([name])
    try:
        conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=name)
        try:
            await conn.execute("CREATE TABLE messages (seq bigserial PRIMARY KEY, text text)")
            await conn.execute("INSERT INTO messages (text) VALUES ('keep me')")
        finally:
            await conn.close()
        yield f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        await drop_databases([name])


async def tables_in(url: str) -> dict[str, int]:
    """Every table of the public schema with its row count."""
    conn = await asyncpg.connect(postgres_dsn(url)[0])
    try:
        names = [
            r[0] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]
        return {name: int(await conn.fetchval(f'SELECT count(*) FROM "{name}"')) for name in names}  # noqa: S608
    finally:
        await conn.close()


async def test_the_bare_loop_stores_what_it_counts_and_drops_its_tables(database: str) -> None:
    phases: list[str] = []
    report = await run_baseline(
        database, REDIS_URL, pairs=2, duration=0.5, warmup=0.2, on_phase=lambda name, _: phases.append(name)
    )
    assert phases == ["bare loop, 1 msg/transaction", "bare loop, 10 msg/transaction"]
    assert report.fsync in ("on", "off")
    assert report.synchronous_commit
    assert "@" in report.database and PG_HOST in report.database
    for name, per_transaction in ((ONE_PER_TRANSACTION, 1), (TEN_PER_TRANSACTION, 10)):
        variant = report.variants[name]
        assert variant.senders == 4
        assert variant.committed > 0
        assert variant.committed % per_transaction == 0
        assert variant.rows_stored == variant.committed  # every counted message is a row
        assert 0 < variant.committed_in_window <= variant.committed
        assert variant.per_s > 0
        assert len(variant.send_latencies) > 0
    data = report.as_json()
    assert data[TEN_PER_TRANSACTION]["messages_per_transaction"] == 10
    assert data[ONE_PER_TRANSACTION]["send_ms"]["p99"] is not None
    json.dumps(data)
    # Only the table that was there before is left, untouched.
    assert await tables_in(database) == {"messages": 1}


async def test_a_failing_loop_still_drops_its_tables(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, int]] = []

    async def fail(self: Any, *_: Any) -> Any:
        seen.append(await tables_in(database))
        raise asyncpg.PostgresError("the loop broke")

    monkeypatch.setattr(baseline._Loop, "run", fail)
    with pytest.raises(BenchError, match="the bare loop failed"):
        await run_baseline(database, REDIS_URL, pairs=1, duration=0.2, warmup=0)
    assert len(seen) == 1
    assert len([t for t in seen[0] if t.startswith(SCRATCH_PREFIX)]) == 2  # they did exist
    assert await tables_in(database) == {"messages": 1}


async def test_an_unreachable_database_is_said_plainly() -> None:
    url = f"postgresql://{PG_USER}:secret-pw@127.0.0.1:1/nothing"
    with pytest.raises(BenchError, match="cannot connect to the bare loop's database") as caught:
        await run_baseline(url, REDIS_URL, pairs=1, duration=0.2, warmup=0)
    assert "secret-pw" not in str(caught.value)


def test_the_database_url_becomes_an_asyncpg_dsn_and_hides_its_password() -> None:
    dsn, shown = postgres_dsn("postgresql+asyncpg://bench:pw@db:5432/parley_chat")
    assert dsn == "postgresql://bench:pw@db:5432/parley_chat"
    assert shown == "postgresql://bench:***@db:5432/parley_chat"
    with pytest.raises(BenchError, match="needs PostgreSQL"):
        postgres_dsn("sqlite+aiosqlite:///chat.db")
    with pytest.raises(BenchError, match="not a database URL"):
        postgres_dsn("nonsense")


def test_the_loop_runs_against_the_systems_own_database_and_redis(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("CHAT_DATABASE_URL", "postgresql+asyncpg://postgres@db/parley_chat")
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/2")
    assert system_targets(None, None) == (
        "postgresql+asyncpg://postgres@db/parley_chat",
        "redis://cache:6379/2",
    )
    assert system_targets("postgresql://x@y/z", None) == ("postgresql://x@y/z", "redis://cache:6379/2")


def test_an_embedded_system_needs_a_database_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BenchError, match="--baseline-db"):
        system_targets(None, "redis://cache:6379/2")
    with pytest.raises(BenchError, match="--baseline-redis"):
        system_targets("postgresql://x@y/z", None)


@pytest.fixture
def database_for_a_process() -> Iterator[str]:
    require(reachable(PG_HOST, PG_PORT), f"PostgreSQL at {PG_HOST}:{PG_PORT}")
    require(reachable("127.0.0.1", 6379), "Redis at 127.0.0.1:6379")
    name = fresh_database_name()
    run_async(create_databases([name]))
    try:
        yield f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        run_async(drop_databases([name]))


@pytest.mark.slow
def test_a_run_with_the_bare_loop_reports_the_ratio_from_the_same_run(
    start_parley: Callable[[dict[str, str]], tuple[str, int]],
    database_for_a_process: str,
    tmp_path: Path,
) -> None:
    url, pid = start_parley({})
    loop = ["--baseline", "--baseline-db", database_for_a_process, "--baseline-redis", REDIS_URL]
    args = [*loop, "--baseline-duration", "0.5", "--pid", str(pid), "--json-only"]
    result = subprocess.run(  # noqa: S603
        [*PARLEY, "bench", "--url", url, "--pairs", "1", "--duration", "1", "--warmup", "0.2", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["delivered"] == report["sent"] > 0
    bare = report["baseline"][ONE_PER_TRANSACTION]
    assert bare["rows_stored"] == bare["committed"] > 0
    assert report["baseline"][TEN_PER_TRANSACTION]["rows_stored"] > 0
    assert report["baseline_ratio"] == pytest.approx(report["delivered_per_s"] / bare["msg_per_s"], abs=0.001)
    assert run_async(tables_in(database_for_a_process)) == {}


@pytest.mark.slow
def test_the_bare_loop_alone_needs_no_parley(database_for_a_process: str, tmp_path: Path) -> None:
    args = ["--baseline-only", "--baseline-db", database_for_a_process, "--baseline-redis", REDIS_URL]
    result = subprocess.run(  # noqa: S603
        [*PARLEY, "bench", *args, "--pairs", "1", "--duration", "0.3", "--warmup", "0", "--json-only"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    loop = json.loads(lines[0])["baseline"]
    assert loop[ONE_PER_TRANSACTION]["committed"] == loop[ONE_PER_TRANSACTION]["rows_stored"] > 0
    assert run_async(tables_in(database_for_a_process)) == {}
