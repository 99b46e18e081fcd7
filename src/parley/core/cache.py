"""The cache: Redis, or an in-process fakeredis server when ``REDIS_URL`` is ``memory://``.

Every service in one process shares the same in-process server, so what one writes (a revoked
token, a presence heartbeat) the others read, exactly as they would through a real Redis.
"""

from __future__ import annotations

import fakeredis
from redis.asyncio import Redis

_servers: dict[str, fakeredis.FakeServer] = {}


def create_cache(url: str, *, timeout: float = 5.0) -> Redis:
    """A client for ``url`` (``redis://…`` with its database number honoured, or ``memory://``).

    Every command gives up after ``timeout`` seconds (a frozen Redis is then a 503, not a hang).
    """
    if url.startswith("memory://"):
        server = _servers.setdefault(url, fakeredis.FakeServer())
        return fakeredis.FakeAsyncRedis(server=server, decode_responses=True)
    return Redis.from_url(
        url,
        decode_responses=True,
        health_check_interval=30,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
    )


async def ping(cache: Redis) -> None:
    await cache.ping()


def reset_memory_servers() -> None:
    """Forget every in-process server (for tests that want a clean cache)."""
    _servers.clear()
