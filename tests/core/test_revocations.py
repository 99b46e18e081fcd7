"""Revocations kept in every process: pushed at once, resynced when a push is missed, no round trip per check."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import fakeredis
import pytest
from redis.asyncio import Redis

from parley.core.auth import Tokens
from parley.core.cache import create_cache
from parley.core.errors import ServiceUnavailable, Unauthorized
from parley.core.ids import new_id
from parley.core.revocations import REVOCATIONS_KEY, VERSION_KEY, Revocation, RevocationList
from tests.chat.helpers import eventually
from tests.fixtures.backends import REDIS_URL, reachable, require

SECRET = "revocation-test-secret-" + "x" * 32
USER = {"_id": new_id(), "name": "Alice", "email": "alice@example.com"}
NEVER = 3600.0  # a resync interval long enough not to happen during a test


@pytest.fixture(params=["embedded", "real"])
async def caches(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Redis, Redis]]:
    """Two clients of one cache, as two processes would have."""
    if request.param == "embedded":
        server = fakeredis.FakeServer()
        pair: tuple[Redis, Redis] = (
            fakeredis.FakeAsyncRedis(server=server, decode_responses=True),
            fakeredis.FakeAsyncRedis(server=server, decode_responses=True),
        )
    else:
        require(reachable("127.0.0.1", 6379), "Redis at 127.0.0.1:6379")
        pair = (create_cache(REDIS_URL), create_cache(REDIS_URL))
        await pair[0].delete(REVOCATIONS_KEY, VERSION_KEY)
    yield pair
    for client in pair:
        await client.aclose()


async def started(cache: Redis, *, resync_seconds: float = NEVER) -> Tokens:
    tokens = Tokens(cache, secret=SECRET, revocations=RevocationList(cache, resync_seconds=resync_seconds))
    await tokens.start()
    return tokens


async def refused(tokens: Tokens, token: str) -> bool:
    try:
        await tokens.verify(token)
    except Unauthorized:
        return True
    return False


async def test_a_verified_token_costs_no_cache_call(
    caches: tuple[Redis, Redis], monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = await started(caches[0])
    try:
        good = tokens.issue(USER)
        revoked = tokens.issue(USER)
        await tokens.revoke(await tokens.verify(revoked))
        calls: list[Any] = []
        real = caches[0].execute_command

        async def counting(*args: Any, **kwargs: Any) -> Any:
            calls.append(args)
            return await real(*args, **kwargs)

        monkeypatch.setattr(caches[0], "execute_command", counting)
        for _ in range(50):
            assert (await tokens.verify(good)).id == USER["_id"]
            with pytest.raises(Unauthorized, match="logged out"):
                await tokens.verify(revoked)
        assert calls == []
    finally:
        await tokens.close()


async def test_a_revocation_reaches_another_process_within_a_second(caches: tuple[Redis, Redis]) -> None:
    here, there = await started(caches[0]), await started(caches[1])
    try:
        token = here.issue(USER)
        assert (await there.verify(token)).id == USER["_id"]
        await here.revoke(await here.verify(token))
        assert await refused(here, token)  # the revoking process knows at once
        await eventually(lambda: refused(there, token), timeout=1)
    finally:
        await here.close()
        await there.close()


async def test_a_missed_push_is_caught_by_the_resync(caches: tuple[Redis, Redis]) -> None:
    there = await started(caches[1], resync_seconds=0.05)
    try:
        token = there.issue(USER)
        identity = await there.verify(token)
        # Written as a revocation is, but never announced (as if the subscription had dropped).
        async with caches[0].pipeline(transaction=True) as pipe:
            pipe.zadd(REVOCATIONS_KEY, {f"{identity.session} *": identity.exp + 1})
            pipe.incr(VERSION_KEY)
            await pipe.execute()
        await eventually(lambda: refused(there, token), timeout=1)
    finally:
        await there.close()


async def test_a_new_process_loads_the_revocations_at_start(caches: tuple[Redis, Redis]) -> None:
    here = await started(caches[0])
    try:
        token = here.issue(USER)
        await here.revoke(await here.verify(token))
    finally:
        await here.close()
    later = await started(caches[1])
    try:
        assert await refused(later, token)
    finally:
        await later.close()


async def test_a_session_revoked_below_a_generation_keeps_the_newer_tokens(
    caches: tuple[Redis, Redis],
) -> None:
    here, there = await started(caches[0]), await started(caches[1])
    try:
        session = new_id()
        old = here.issue(USER, session=session, generation=0)
        new = here.issue(USER, session=session, generation=1)
        until = int(time.time()) + 3600
        await here.revoke_sessions([Revocation(session, 1, until, USER["_id"])])
        await eventually(lambda: refused(there, old), timeout=1)
        assert (await there.verify(new)).generation == 1
        # A later revocation of the whole session wins over the earlier, narrower one.
        await here.revoke_sessions([Revocation(session, None, until, USER["_id"])])
        await eventually(lambda: refused(there, new), timeout=1)
        await here.revoke_sessions([Revocation(session, 1, until, USER["_id"])])
        assert await refused(here, new)
    finally:
        await here.close()
        await there.close()


async def test_an_unreachable_cache_answers_503_not_an_old_answer() -> None:
    tokens = Tokens(Redis(host="127.0.0.1", port=1, socket_connect_timeout=1), secret=SECRET)
    with pytest.raises(ServiceUnavailable):
        await tokens.verify(tokens.issue(USER))


def test_messages_that_are_not_revocations_are_ignored() -> None:
    for data in (
        None,
        "",
        "x",
        "[]",
        '{"sid": 1}',
        '{"sid": "s", "until": "soon"}',
        '{"sid": "s", "until": 1, "before": "x"}',
    ):
        assert Revocation.from_message(data) is None
    assert Revocation.from_member("no-bound", 1) is None
    assert Revocation.from_member("s x", 1) is None


async def test_expired_revocations_are_forgotten() -> None:
    cache = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer(), decode_responses=True)
    revocations = RevocationList(cache)
    now = int(time.time())
    revocations.apply([Revocation("old", None, now + 1), Revocation("live", None, now + 3600)])
    assert revocations.is_revoked("old", 0) and revocations.is_revoked("live", 0)
    revocations.apply([Revocation("gone", None, now - 1)])  # already over: never kept
    assert not revocations.is_revoked("gone", 0)
    revocations._bounds["old"] = (None, now - 1)  # as if time had passed
    await revocations.sync()
    assert set(revocations._bounds) == {"live"}
    await cache.aclose()


async def test_watchers_hear_each_revocation_once_however_it_was_learnt(caches: tuple[Redis, Redis]) -> None:
    """What must act on a revocation (the real-time layer's sockets) watches the process's list."""
    here, there = await started(caches[0]), await started(caches[1], resync_seconds=0.05)
    heard_here: list[Revocation] = []
    heard_there: list[Revocation] = []
    here.revocations.watch(heard_here.append)
    stop = there.revocations.watch(heard_there.append)
    try:
        pushed = await here.verify(here.issue(USER))
        await here.revoke(pushed)
        assert [r.session for r in heard_here] == [pushed.session]  # its own, at once
        await eventually(lambda: _async(heard_there == heard_here), timeout=1)  # published
        missed = await there.verify(there.issue(USER))
        async with caches[0].pipeline(transaction=True) as pipe:  # written but never announced
            pipe.zadd(REVOCATIONS_KEY, {f"{missed.session} *": missed.exp + 1})
            pipe.incr(VERSION_KEY)
            await pipe.execute()
        await eventually(lambda: _async(missed.session in {r.session for r in heard_there}), timeout=1)
        await here.revoke(pushed)  # nothing new: nobody is told again
        await there.revocations.sync()
        assert [r.session for r in heard_there] == [pushed.session, missed.session]
        stop()
        await here.revoke(await here.verify(here.issue(USER)))
        assert len(heard_here) == 2
        await there.revocations.sync()
        assert len(heard_there) == 2
    finally:
        await here.close()
        await there.close()


async def _async(value: bool) -> bool:
    return value
