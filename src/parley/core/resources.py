"""Building a service's backends from settings, the same way in every service."""

from __future__ import annotations

from redis.asyncio import Redis

from parley.core.auth import Tokens
from parley.core.bus import MemoryBus, RabbitBus, create_bus
from parley.core.cache import create_cache
from parley.core.media.storage import MediaStorage, storage_from_url
from parley.core.revocations import RevocationList
from parley.core.settings import SettingError, Settings


def build_storage(settings: Settings) -> MediaStorage:
    """The media storage ``MEDIA_STORAGE`` names (nothing is opened until it is used).

    Raises :class:`SettingError` when the setting is invalid.
    """
    media = settings.media
    try:
        return storage_from_url(
            settings.media_url(),
            s3_endpoint_url=media.s3_endpoint_url,
            aws_access_key_id=media.aws_access_key_id,
            aws_secret_access_key=media.aws_secret_access_key,
            aws_region=media.aws_region,
        )
    except ValueError as exc:
        raise SettingError("MEDIA_STORAGE", f"is invalid: {exc}") from None


def build_cache(settings: Settings) -> Redis:
    return create_cache(settings.cache.redis_url)


# One revocation list per cache per process: services sharing a process (``parley up``) see a
# logout at once, and the process follows the cache once rather than once per service.
_revocation_lists: dict[str, RevocationList] = {}


def shared_revocations(redis_url: str) -> RevocationList:
    """The process's revocation list for the cache at ``redis_url`` (with a client of its own)."""
    found = _revocation_lists.get(redis_url)
    if found is None or found.closed:
        found = RevocationList(create_cache(redis_url), owns_cache=True)
        _revocation_lists[redis_url] = found
    return found


def build_tokens(settings: Settings, cache: Redis, *, issuer: bool = False) -> Tokens:
    """Token verification for every service; ``issuer`` (the user service) may also mint them.

    The caller starts them (``await tokens.start()``) and closes them with its other resources.
    """
    t = settings.tokens
    return Tokens(
        cache,
        # A verifying service with only public keys never needs the secret that mints tokens.
        secret=settings.token_secret(),
        private_key=t.jwt_private_key if issuer else None,
        public_keys=t.jwt_public_keys,
        ttl_seconds=t.jwt_ttl_seconds,
        revocations=shared_revocations(settings.cache.redis_url),
    )


async def build_bus(settings: Settings) -> MemoryBus | RabbitBus:
    bus = create_bus(settings.bus.url)
    await bus.connect()
    return bus
