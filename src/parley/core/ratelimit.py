"""Request limits counted with the ``limits`` library: per client IP (login) or per user (messages).

"20 a minute" means at most 20 in any 60 seconds: a moving window by default, or a sliding-window
counter, which keeps two counters per key instead of one timestamp per request (for limits of
hundreds, such as messages per user). Counts live in Redis when ``REDIS_URL`` is one (every
instance of a service shares them), in this process otherwise. Each hit is one call to the cache,
except with :meth:`RateLimiter.hit_leased`, which counts a fast sender's requests in the cache a few
at a time (a lease) and hands the rest out in process.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter

KEY_PREFIX = "parley:ratelimit"

Strategy = Literal["moving-window", "sliding-window-counter"]

# A lease is at most this many requests, and at most 1/LEASE_FRACTION of the limit (none below that).
MAX_LEASE = 16
LEASE_FRACTION = 20
# Unused requests of a lease are given up after this long (they stay counted: the cost of leasing).
LEASE_SECONDS = 2.0
# Keys with a lease held in process at once; the oldest are forgotten beyond it.
MAX_LEASES = 100_000


@dataclass
class _Lease:
    expires: float  # monotonic
    left: int
    size: int


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
        self._leases: OrderedDict[tuple[str, str], _Lease] = OrderedDict()
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

    async def hit_leased(self, name: str, key: str, limit: int, seconds: int) -> int:
        """As :meth:`hit_within`, but a fast sender costs one cache call per lease, not per request.

        The first request of a key counts one; while a key's lease is used up within
        :data:`LEASE_SECONDS`, the next counts twice as many at once in the cache (up to
        :data:`MAX_LEASE` and a :data:`LEASE_FRACTION`th of the limit) and the requests after it
        take from that in process. The cache stays the one count for every instance, so nothing
        is let through that was not counted there first. What a lease costs: requests counted up to
        LEASE_SECONDS before they happen (a window may let through up to a lease more than the
        limit per instance, as the sliding-window counter's own estimate does), and unused ones
        counted for nothing, which makes the limit a little stricter for someone who stops at once.
        When a lease does not fit under the limit any more, requests are counted one by one again.
        """
        ident = (name, key)
        now = time.monotonic()
        lease = self._leases.get(ident)
        if lease is not None and lease.expires > now and lease.left > 0:
            lease.left -= 1
            return 0
        size = 1
        if lease is not None and lease.expires > now:  # used up in time: a busy sender
            size = min(lease.size * 2, MAX_LEASE, limit // LEASE_FRACTION)
        size = max(1, size)
        item = RateLimitItemPerSecond(limit, seconds)
        allowed = await self.strategy.hit(item, name, key, cost=size)
        if not allowed and size > 1:
            size = 1
            allowed = await self.strategy.hit(item, name, key)
        if not allowed:
            current = self._leases.get(ident)
            if current is None or current.left <= 0 or current.expires <= time.monotonic():
                self._leases.pop(ident, None)  # (not a lease renewed meanwhile, still in use)
            stats = await self.strategy.get_window_stats(item, name, key)
            return max(1, math.ceil(stats.reset_time - time.time()))
        now = time.monotonic()
        current = self._leases.get(ident)
        if current is not None and current is not lease and current.expires > now:
            # Another request of this key renewed the lease while this one waited for the cache:
            # both counted there, so the requests this one counted join that lease (replacing it
            # would count its unused requests for nothing: a person's several tabs at once got far
            # less than the limit).
            current.left += size - 1
            current.size = max(current.size, size)
        else:
            self._leases[ident] = _Lease(now + LEASE_SECONDS, size - 1, size)
        self._leases.move_to_end(ident)
        while len(self._leases) > MAX_LEASES:
            self._leases.popitem(last=False)
        return 0

    async def close(self) -> None:
        if isinstance(self.storage, RedisStorage):
            # The redis-py client the storage made for itself; ``limits`` offers no close.
            await self.storage.bridge.storage.aclose()  # type: ignore[attr-defined]
