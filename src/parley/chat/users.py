"""Other people's profiles and who blocked whom, from the user service.

The chat service owns no user data: it asks the user service, always with the caller's token.

* Profiles: ``POST /api/v1/user/batch`` ``{ids}`` → ``{users: [{_id, name, email?, createdAt,
  updatedAt, readReceipts}]}``, one call for many ids, kept in the cache for a short while.
  ``email`` is present only for the caller and the people who took part in a chat shared with the
  caller, so only profiles that carry it are cached; the chat service cuts the address again per
  caller before showing a profile (``ChatService._profiles``). A profile without one reads ``""``.
  ``readReceipts`` is the person's setting (see :func:`sends_read_receipts`); a change reaches
  the chat service within the cache's lifetime.
* Blocks: ``POST /api/v1/user/block-relations`` ``{ids}`` → ``{blocking: [...], blockedBy:
  [...]}``: those of the ids the caller blocked, and those who blocked the caller. Never cached:
  a block takes effect at once (see :meth:`UserDirectory.block_relations`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from redis.asyncio import Redis

from parley.chat.errors import UserNotFound, UserServiceUnavailable

log = structlog.get_logger(__name__)

CACHE_PREFIX = "parley:chat:profile:"
PROFILE_TTL_SECONDS = 45
BATCH_PATH = "/api/v1/user/batch"
BLOCKS_PATH = "/api/v1/user/block-relations"
BATCH_LIMIT = 500
UNKNOWN_NAME = "Unknown User"

Profile = dict[str, Any]


def unknown_profile(user_id: str) -> Profile:
    """What a profile the user service cannot tell us about looks like (as the seed app's)."""
    return {"_id": user_id, "name": UNKNOWN_NAME, "email": ""}


def sends_read_receipts(profile: Profile) -> bool:
    """Whether the person sends and sees read receipts; off unless their profile says on.

    A profile that does not say (an unknown user, the user service away) keeps the person private.
    """
    return profile.get("readReceipts") is True


@dataclass(frozen=True)
class BlockRelations:
    """How the caller stands with some people: whom the caller blocked, and who blocked the caller."""

    blocking: frozenset[str] = frozenset()
    blocked_by: frozenset[str] = frozenset()

    def between(self, other_id: str) -> bool:
        """Whether either of the caller and ``other_id`` blocked the other."""
        return other_id in self.blocking or other_id in self.blocked_by


class UserDirectory:
    """Looks people up in the user service, a batch at a time, through a short-lived cache."""

    def __init__(self, client: httpx.AsyncClient, cache: Redis, *, ttl: int = PROFILE_TTL_SECONDS) -> None:
        self.client = client
        self.cache = cache
        self.ttl = ttl

    async def lookup(self, ids: Iterable[str], token: str) -> dict[str, Profile]:
        """The profiles of those of ``ids`` that exist. Raises :class:`UserServiceUnavailable`."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return {}
        found = await self._cached(wanted)
        missing = [uid for uid in wanted if uid not in found]
        if missing:
            fetched = await self._fetch(missing, token)
            found.update(fetched)
            await self._remember(fetched)
        return found

    async def profiles(self, ids: Iterable[str], token: str) -> dict[str, Profile]:
        """A profile for each of ``ids``; "Unknown User" for anyone the user service cannot describe.

        Never fails: when the user service is down, everyone not in the cache is unknown.
        """
        wanted = list(dict.fromkeys(ids))
        try:
            found = await self.lookup(wanted, token)
        except UserServiceUnavailable:
            found = await self._cached(wanted)
        return {uid: found.get(uid) or unknown_profile(uid) for uid in wanted}

    async def receipts_of(self, ids: Iterable[str], token: str | None) -> dict[str, bool]:
        """Whether each of ``ids`` sends and sees read receipts (see :func:`sends_read_receipts`).

        From the cache; the rest asked with ``token`` (when there is none, or the user service is
        away, they count as off: private).
        """
        wanted = list(dict.fromkeys(ids))
        if token:
            found = await self.profiles(wanted, token)
        else:
            found = await self._cached(wanted)
        return {uid: sends_read_receipts(found.get(uid) or {}) for uid in wanted}

    async def require(self, ids: Iterable[str], token: str) -> dict[str, Profile]:
        """The profiles of ``ids``; :class:`UserNotFound` when any of them does not exist."""
        wanted = list(dict.fromkeys(ids))
        found = await self.lookup(wanted, token)
        unknown = [uid for uid in wanted if uid not in found]
        if unknown:
            raise UserNotFound(
                "User not found" if len(wanted) == 1 else f"Unknown users: {', '.join(unknown)}"
            )
        return found

    async def block_relations(self, ids: Iterable[str], token: str) -> BlockRelations:
        """Who blocked whom between the token's user and each of ``ids``.

        Meant for enforcing blocks: a blocked user may not start a 1:1 chat with the blocker or
        send in it (ask with the sender's token; refuse when :meth:`BlockRelations.between`), and
        gets no presence or typing of the blocker (ask with the blocker's token, the one whose
        socket emits, and leave out ``blocking``). Raises :class:`UserServiceUnavailable`.
        """
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return BlockRelations()
        blocking: set[str] = set()
        blocked_by: set[str] = set()

        def read(_: list[str], body: Any) -> None:
            blocking.update(str(uid) for uid in body["blocking"])
            blocked_by.update(str(uid) for uid in body["blockedBy"])

        await self._post_in_batches(BLOCKS_PATH, wanted, token, "chat.blocks.unavailable", read)
        return BlockRelations(frozenset(blocking), frozenset(blocked_by))

    async def blocked_between(self, other_id: str, token: str) -> bool:
        """Whether the token's user and ``other_id`` blocked one another (either way round).

        Raises :class:`UserServiceUnavailable`.
        """
        return (await self.block_relations([other_id], token)).between(other_id)

    async def _cached(self, ids: list[str]) -> dict[str, Profile]:
        try:
            values = await self.cache.mget([CACHE_PREFIX + uid for uid in ids])
        except Exception as exc:  # the cache only saves calls; without it, ask the user service
            log.warning("chat.profiles.cache_failed", error=type(exc).__name__)
            return {}
        found: dict[str, Profile] = {}
        for uid, raw in zip(ids, values, strict=True):
            if raw:
                try:
                    found[uid] = json.loads(raw)
                except ValueError:
                    continue
        return found

    async def _remember(self, profiles: dict[str, Profile]) -> None:
        # A profile without its address was cut for one caller: not to be shown to the next.
        profiles = {uid: profile for uid, profile in profiles.items() if profile.get("email")}
        if not profiles:
            return
        try:
            async with self.cache.pipeline(transaction=False) as pipe:
                for uid, profile in profiles.items():
                    pipe.set(CACHE_PREFIX + uid, json.dumps(profile), ex=self.ttl)
                await pipe.execute()
        except Exception as exc:
            log.warning("chat.profiles.cache_failed", error=type(exc).__name__)

    async def _fetch(self, ids: list[str], token: str) -> dict[str, Profile]:
        found: dict[str, Profile] = {}

        def read(chunk: list[str], body: Any) -> None:
            asked = set(chunk)
            for user in body["users"]:
                if isinstance(user, dict) and isinstance(user.get("_id"), str) and user["_id"] in asked:
                    found[user["_id"]] = user

        await self._post_in_batches(BATCH_PATH, ids, token, "chat.profiles.unavailable", read)
        for profile in found.values():
            profile.setdefault("email", "")
        return found

    async def _post_in_batches(
        self, path: str, ids: list[str], token: str, failure: str, read: Callable[[list[str], Any], None]
    ) -> None:
        """POST ``{ids}`` to the user service at most :data:`BATCH_LIMIT` at a time, as the caller;
        ``read(chunk, body)`` takes in each answer.

        Any failure (unreachable, an error status, an answer ``read`` cannot take) is logged as
        ``failure`` and raised as :class:`UserServiceUnavailable`.
        """
        for start in range(0, len(ids), BATCH_LIMIT):
            chunk = ids[start : start + BATCH_LIMIT]
            try:
                response = await self.client.post(
                    path, json={"ids": chunk}, headers={"Authorization": f"Bearer {token}"}
                )
                response.raise_for_status()
                read(chunk, response.json())
            except Exception as exc:
                log.warning(failure, error=f"{type(exc).__name__}: {exc}"[:200])
                raise UserServiceUnavailable() from exc
