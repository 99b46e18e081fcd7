"""Building a service's backends from settings, the same way in every service."""

from __future__ import annotations

from redis.asyncio import Redis

from parley.core.auth import Tokens
from parley.core.bus import MemoryBus, RabbitBus, create_bus
from parley.core.cache import create_cache
from parley.core.settings import Settings


def build_cache(settings: Settings) -> Redis:
    return create_cache(settings.cache.redis_url)


def build_tokens(settings: Settings, cache: Redis, *, issuer: bool = False) -> Tokens:
    """Token verification for every service; ``issuer`` (the user service) may also mint them."""
    t = settings.tokens
    return Tokens(
        cache,
        # A verifying service with only public keys never needs the secret that mints tokens.
        secret=settings.token_secret(),
        private_key=t.jwt_private_key if issuer else None,
        public_keys=t.jwt_public_keys,
        ttl_seconds=t.jwt_ttl_seconds,
    )


async def build_bus(settings: Settings) -> MemoryBus | RabbitBus:
    bus = create_bus(settings.bus.url)
    await bus.connect()
    return bus
