"""The cache: Redis, or an in-process fakeredis server when ``REDIS_URL`` is ``memory://``.

Every service in one process shares the same in-process server, so what one writes (a revoked
token, a presence heartbeat) the others read, exactly as they would through a real Redis.
"""

from __future__ import annotations

import fakeredis
from redis.asyncio import BlockingConnectionPool, Redis

_servers: dict[str, fakeredis.FakeServer] = {}

# Connections one client opens to Redis at most (redis-py's default, too).
MAX_CONNECTIONS = 100


def create_cache(url: str, *, timeout: float = 5.0, max_connections: int = MAX_CONNECTIONS) -> Redis:
    """A client for ``url`` (``redis://…`` with its database number honoured, or ``memory://``).

    Every command gives up after ``timeout`` seconds (a frozen Redis is then a 503, not a hang).
    A burst of more commands at once than ``max_connections`` (thousands of sockets connecting
    after a restart, or going when an instance stops) waits for a connection, up to ``timeout``,
    where redis-py's default pool refused at once ("Too many connections").
    """
    if url.startswith("memory://"):
        server = _servers.setdefault(url, fakeredis.FakeServer())
        return fakeredis.FakeAsyncRedis(server=server, decode_responses=True)
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout,
        decode_responses=True,
        health_check_interval=30,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
    )
    return Redis.from_pool(pool)  # which it closes with itself


async def ping(cache: Redis) -> None:
    await cache.ping()


def reset_memory_servers() -> None:
    """Forget every in-process server (for tests that want a clean cache)."""
    _servers.clear()
