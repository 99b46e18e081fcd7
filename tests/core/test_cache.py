"""The cache client against a real Redis: bursts wait for a connection instead of failing."""

from __future__ import annotations

import asyncio

from parley.core.cache import create_cache
from tests.fixtures.backends import REDIS_URL, reachable, require


async def test_a_burst_of_more_commands_than_connections_waits_for_one_instead_of_failing() -> None:
    host, port = REDIS_URL.split("//")[1].split("/")[0].split(":")
    require(reachable(host, int(port)), f"Redis at {host}:{port}")
    cache = create_cache(REDIS_URL, timeout=5, max_connections=4)
    try:
        # Each holds its connection for a moment (a blocking pop that finds nothing), as a burst
        # of pipelines does: 40 at once with 4 connections.
        results = await asyncio.gather(
            *(cache.blpop([f"parley:test:empty:{n}"], timeout=0.1) for n in range(40)),
            return_exceptions=True,
        )
        assert results == [None] * 40
    finally:
        await cache.aclose(close_connection_pool=True)
