"""Avatars: uploaded through the user service, kept in the media storage, served by the user service.

An upload goes through the shared image pipeline (:func:`parley.core.media.images.process_avatar_upload`:
checked by content, within the process's decoding budget, cut to a centred square, re-encoded
without metadata) and is stored as two WebP files, ``<avatarId>_256.webp`` and ``<avatarId>_64.webp``.
The user row holds only ``avatar_id``, a fresh random id for every upload.

Serving: ``GET /api/v1/user/avatar/{userId}/{size}?v=<avatarId>`` for any signed-in caller
(bearer token or the session cookie, so an ``<img>`` works). The user's documents carry those
URLs; as ``v`` changes with every upload, an answer whose ``v`` is the current avatar is cached
for a year (``private, immutable``), and a new avatar is a new URL. A stale ``v`` (a profile cached
elsewhere for a moment) still gets the current picture, but uncached. Removing the avatar makes
the URLs answer 404 at once.

Replacing or removing an avatar deletes the old files once the change is committed (see
:func:`discard`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Final, Literal

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from parley.core.auth import Identity
from parley.core.media.images import AVATAR_SIZES, process_avatar_upload
from parley.core.media.storage import MediaStorage, StoredObject
from parley.core.ratelimit import RateLimiter
from parley.user import store
from parley.user.errors import AccountGone, AvatarNotFound, TooManyAvatars
from parley.user.service import backend_errors
from parley.user.store import User

log = structlog.get_logger(__name__)

AvatarSize = Literal["256", "64"]
SIZES: Final[tuple[AvatarSize, AvatarSize]] = ("256", "64")
URL_PREFIX: Final = "/api/v1/user/avatar"
# An answer for the current avatar never changes: the next avatar has another URL.
IMMUTABLE_CACHE: Final = "private, max-age=31536000, immutable"
REVALIDATE_CACHE: Final = "private, no-cache"

assert tuple(int(size) for size in SIZES) == AVATAR_SIZES  # one list of sizes


def new_avatar_id() -> str:
    """A fresh, unguessable avatar id (24 URL-safe characters)."""
    return secrets.token_urlsafe(18)


def avatar_key(avatar_id: str, size: AvatarSize) -> str:
    """The storage key of one size of an avatar (a media key: see ``is_media_key``)."""
    return f"{avatar_id}_{size}.webp"


def avatar_url(user_id: str, avatar_id: str, size: AvatarSize) -> str:
    return f"{URL_PREFIX}/{user_id}/{size}?v={avatar_id}"


@dataclass(frozen=True, slots=True)
class AvatarFile:
    """An avatar file to send, and whether its URL named the current avatar (then it may be cached)."""

    found: StoredObject
    current: bool


class Avatars:
    """Avatar uploads and files: the media storage, and the per-user upload limit."""

    def __init__(self, storage: MediaStorage, limiter: RateLimiter, *, per_hour: int) -> None:
        self.storage = storage
        self.limiter = limiter
        self.per_hour = per_hour

    async def upload(self, session: AsyncSession, identity: Identity, data: bytes) -> tuple[User, str | None]:
        """Make the caller's avatar from an uploaded picture; the user, and the avatar id it replaced.

        Every upload counts against the caller's hourly limit (:class:`TooManyAvatars`, 429),
        accepted or not. The new files are stored before the row changes; the caller deletes the
        replaced ones after the commit (:meth:`discard`).
        """
        with backend_errors():
            wait = await self.limiter.hit_within("avatar", identity.id, self.per_hour, 3600)
        if wait:
            raise TooManyAvatars(
                f"You changed your picture too often; try again in {wait} seconds", retry_after=wait
            )
        images = await process_avatar_upload(data)
        avatar_id = new_avatar_id()
        try:
            for size, image in zip(SIZES, images, strict=True):
                await self.storage.put(avatar_key(avatar_id, size), image.data, image.content_type)
            user = await _locked(session, identity)
            previous = await store.set_avatar(session, user, avatar_id)
        except BaseException:
            await self.discard(avatar_id)
            raise
        log.info("user.avatar.changed", user=identity.id)
        return user, previous

    async def remove(self, session: AsyncSession, identity: Identity) -> tuple[User, str | None]:
        """Take the caller's avatar away (nothing happens without one); the user and the removed id."""
        user = await _locked(session, identity)
        previous = await store.set_avatar(session, user, None)
        if previous is not None:
            log.info("user.avatar.removed", user=identity.id)
        return user, previous

    async def discard(self, avatar_id: str | None) -> None:
        """Delete an avatar's files; a failure is logged, never raised (the row no longer names them)."""
        if avatar_id is None:
            return
        for size in SIZES:
            try:
                await self.storage.delete(avatar_key(avatar_id, size))
            except Exception as exc:
                log.warning("user.avatar.delete_failed", error=type(exc).__name__)

    async def file(
        self, session: AsyncSession, user_id: str, size: AvatarSize, version: str | None
    ) -> AvatarFile:
        """One size of a user's current avatar; :class:`AvatarNotFound` when they have none."""
        user = await store.get_user(session, user_id)
        if user is None or user.avatar_id is None:
            raise AvatarNotFound()
        found = await self.storage.get(avatar_key(user.avatar_id, size))
        if found is None:
            raise AvatarNotFound()
        return AvatarFile(found=found, current=version == user.avatar_id)


async def _locked(session: AsyncSession, identity: Identity) -> User:
    # Locked: of two uploads at once, the second sees (and replaces) the first one's avatar, so
    # no file is left behind that no row names.
    user = await store.lock_user(session, identity.id)
    if user is None:
        raise AccountGone()
    return user
