"""Per-client request limits (``/login``, ``/verify``): the shared limiter of :mod:`parley.core.ratelimit`."""

from __future__ import annotations

from parley.core.ratelimit import KEY_PREFIX, RateLimiter, storage_url

__all__ = ["KEY_PREFIX", "RateLimiter", "storage_url"]
