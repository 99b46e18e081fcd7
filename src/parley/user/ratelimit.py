"""Per-client request limits (``/login``, ``/verify``), counted with the ``limits`` library.

A moving window, so "20 a minute" means at most 20 in any 60 seconds. Counts live in Redis when
``REDIS_URL`` is one (every instance of the service shares them), in this process otherwise.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

KEY_PREFIX = "parley:ratelimit"


def storage_url(redis_url: str) -> str:
    """The ``limits`` storage URL for Parley's ``REDIS_URL``."""
    if redis_url.startswith("memory://"):
        return "async+memory://"
    if redis_url.startswith("unix://"):
        return "async+redis+unix://" + redis_url.removeprefix("unix://")
    return "async+" + redis_url


class RateLimiter:
    """Named per-minute limits, each counted per client key (an IP address)."""

    def __init__(self, redis_url: str) -> None:
        url = storage_url(redis_url)
        self.storage: Storage
        if url.startswith("async+memory://"):
            self.storage = MemoryStorage(url)
        else:
            self.storage = RedisStorage(url, implementation="redispy", key_prefix=KEY_PREFIX)
        self.strategy = MovingWindowRateLimiter(self.storage)

    async def hit(self, name: str, key: str, per_minute: int) -> int:
        """Count one request; 0 if it is within the limit, else the seconds until one is allowed."""
        item = RateLimitItemPerMinute(per_minute)
        if await self.strategy.hit(item, name, key):
            return 0
        stats = await self.strategy.get_window_stats(item, name, key)
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def close(self) -> None:
        if isinstance(self.storage, RedisStorage):
            # The redis-py client the storage made for itself; ``limits`` offers no close.
            await self.storage.bridge.storage.aclose()  # type: ignore[attr-defined]
