"""Request limits counted with the ``limits`` library: per client IP (login) or per user (messages).

"20 a minute" means at most 20 in any 60 seconds: a moving window by default, or a sliding-window
counter, which keeps two counters per key instead of one timestamp per request (for limits of
hundreds, such as messages per user). Counts live in Redis when ``REDIS_URL`` is one (every
instance of a service shares them), in this process otherwise. Each hit is one call to the cache.
"""

from __future__ import annotations

import math
import time
from typing import Literal

from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter

KEY_PREFIX = "parley:ratelimit"

Strategy = Literal["moving-window", "sliding-window-counter"]


def storage_url(redis_url: str) -> str:
    """The ``limits`` storage URL for Parley's ``REDIS_URL``."""
    if redis_url.startswith("memory://"):
        return "async+memory://"
    if redis_url.startswith("unix://"):
        return "async+redis+unix://" + redis_url.removeprefix("unix://")
    return "async+" + redis_url


class RateLimiter:
    """Named limits, each counted per key (a client address, a user id)."""

    def __init__(self, redis_url: str, strategy: Strategy = "moving-window") -> None:
        url = storage_url(redis_url)
        self.storage: Storage
        if url.startswith("async+memory://"):
            self.storage = MemoryStorage(url)
        else:
            self.storage = RedisStorage(url, implementation="redispy", key_prefix=KEY_PREFIX)
        self.strategy: MovingWindowRateLimiter | SlidingWindowCounterRateLimiter
        if strategy == "moving-window":
            self.strategy = MovingWindowRateLimiter(self.storage)
        else:
            self.strategy = SlidingWindowCounterRateLimiter(self.storage)

    async def hit(self, name: str, key: str, per_minute: int) -> int:
        """Count one request; 0 if it is within ``per_minute``, else the seconds until one is allowed."""
        return await self.hit_within(name, key, per_minute, 60)

    async def hit_within(self, name: str, key: str, limit: int, seconds: int) -> int:
        """Count one request; 0 if it is within ``limit`` per ``seconds``, else the seconds to wait."""
        item = RateLimitItemPerSecond(limit, seconds)
        if await self.strategy.hit(item, name, key):
            return 0
        stats = await self.strategy.get_window_stats(item, name, key)
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def close(self) -> None:
        if isinstance(self.storage, RedisStorage):
            # The redis-py client the storage made for itself; ``limits`` offers no close.
            await self.storage.bridge.storage.aclose()  # type: ignore[attr-defined]
