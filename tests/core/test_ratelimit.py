"""Leased counting: a fast sender costs few cache calls, and every instance together keeps the limit."""

from __future__ import annotations

import asyncio
import random
import secrets
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest

from parley.core.ratelimit import RateLimiter
from tests.fixtures.backends import REDIS_URL, reachable, require


class Counting:
    """The limiter's strategy, counting the calls that go to the cache."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.hits = 0

    async def hit(self, *args: Any, **kwargs: Any) -> bool:
        self.hits += 1
        return bool(await self.inner.hit(*args, **kwargs))

    async def get_window_stats(self, *args: Any, **kwargs: Any) -> Any:
        return await self.inner.get_window_stats(*args, **kwargs)


def cache_calls(limiter: RateLimiter) -> int:
    return cast(Counting, limiter.strategy).hits


@pytest.fixture
async def instances() -> AsyncIterator[list[RateLimiter]]:
    """Two instances' limiters on one Redis (what two chat instances share)."""
    require(reachable("127.0.0.1", 6379), "Redis at 127.0.0.1:6379")
    limiters = [RateLimiter(REDIS_URL, strategy="sliding-window-counter") for _ in range(2)]
    for limiter in limiters:
        limiter.strategy = Counting(limiter.strategy)  # type: ignore[assignment]
    yield limiters
    for limiter in limiters:
        await limiter.close()


async def test_a_fast_sender_gets_exactly_the_limit_for_a_few_cache_calls(
    instances: list[RateLimiter],
) -> None:
    limiter, key = instances[0], secrets.token_hex(8)
    verdicts = [await limiter.hit_leased("message", key, 100, 60) for _ in range(101)]
    assert verdicts[:100] == [0] * 100
    assert 1 <= verdicts[100] <= 60
    assert cache_calls(limiter) < 40  # one per request before


async def test_two_instances_together_never_let_more_than_the_limit_through(
    instances: list[RateLimiter],
) -> None:
    key = secrets.token_hex(8)
    admitted = 0
    for _ in range(150):
        for limiter in instances:
            admitted += await limiter.hit_leased("message", key, 100, 60) == 0
    # Each instance may hold part of a lease it never hands out (a lease is at most 5 here).
    assert 100 - 2 * 4 <= admitted <= 100


async def test_one_senders_requests_at_once_on_one_instance_get_the_whole_limit(
    instances: list[RateLimiter],
) -> None:
    """Several tabs of one person: requests that renew the lease at the same time all count in the
    cache, so each must leave what it counted to the others (none may replace another's lease)."""
    limiter, key = instances[0], secrets.token_hex(8)

    async def tab() -> int:
        admitted = 0
        for _ in range(40):
            admitted += await limiter.hit_leased("message", key, 100, 60) == 0
            await asyncio.sleep(random.random() / 200)  # the tabs' requests interleave
        return admitted

    admitted = sum(await asyncio.gather(*(tab() for _ in range(4))))
    # Only the unused part of the last lease (at most 5 here) may go to waste.
    assert 100 - 4 <= admitted <= 100


async def test_small_limits_are_counted_one_by_one(instances: list[RateLimiter]) -> None:
    limiter, key = instances[0], secrets.token_hex(8)
    assert [await limiter.hit_leased("message", key, 3, 60) for _ in range(3)] == [0, 0, 0]
    assert await limiter.hit_leased("message", key, 3, 60) > 0
    assert cache_calls(limiter) == 4
