"""Enforcing blocks on the send path: a 1:1 chat whose two people blocked one another takes no messages.

The user service owns blocks (see :mod:`parley.chat.users`); asking it on every message would put
a round trip on the hot path, so:

* whether a chat is a 1:1 and who its two people are never changes: kept in the process
  (a group costs nothing from then on);
* the verdict for a pair of people is kept in the shared cache for :data:`VERDICT_TTL_SECONDS`
  under :func:`verdict_key`; the user service deletes that key when either of them blocks or
  unblocks the other, so a block takes effect at once on every instance.
"""

from __future__ import annotations

from collections import OrderedDict

import structlog
from redis.asyncio import Redis

from parley.chat import store
from parley.chat.errors import Blocked
from parley.chat.users import UserDirectory
from parley.core.auth import Identity
from parley.core.database import Database

log = structlog.get_logger(__name__)

VERDICT_PREFIX = "parley:blocks:"
VERDICT_TTL_SECONDS = 60
MAX_REMEMBERED_CHATS = 100_000


def verdict_key(a: str, b: str) -> str:
    """The cache key of whether ``a`` and ``b`` blocked one another (the same either way round).

    The user service deletes it on a block change: keep the two in step.
    """
    first, second = sorted((a, b))
    return f"{VERDICT_PREFIX}{first}:{second}"


class BlockGuard:
    """Refuses sends between people who blocked one another; one per process."""

    def __init__(
        self, db: Database, users: UserDirectory, cache: Redis, *, ttl: int = VERDICT_TTL_SECONDS
    ) -> None:
        self.db = db
        self.users = users
        self.cache = cache
        self.ttl = ttl
        # chat id -> its 1:1 key ("a:b"), or None for a group.
        self._kinds: OrderedDict[str, str | None] = OrderedDict()

    async def check_send(self, me: Identity, chat_id: str) -> None:
        """:class:`Blocked` when ``chat_id`` is a 1:1 chat of the caller with someone either blocked.

        Anything else (a group, no such chat, not a member) passes here: the writer decides those.
        """
        peer = await self._peer(chat_id, me.id)
        if peer is not None and await self.blocked(me, peer):
            raise Blocked()

    async def check_new_chat(self, me: Identity, other_id: str) -> None:
        """:class:`Blocked` when the caller and ``other_id`` blocked one another."""
        if await self.blocked(me, other_id):
            raise Blocked("You cannot start a chat with this person")

    async def blocked(self, me: Identity, other_id: str) -> bool:
        """Whether the caller and ``other_id`` blocked one another, through the shared cache."""
        key = verdict_key(me.id, other_id)
        try:
            cached = await self.cache.get(key)
        except Exception as exc:  # the cache only saves calls
            log.warning("chat.blocks.cache_failed", error=type(exc).__name__)
            cached = None
        if cached is not None:
            return bool(cached == "1")
        verdict = await self.users.blocked_between(other_id, me.token)
        try:
            await self.cache.set(key, "1" if verdict else "0", ex=self.ttl)
        except Exception as exc:
            log.warning("chat.blocks.cache_failed", error=type(exc).__name__)
        return verdict

    async def _peer(self, chat_id: str, me: str) -> str | None:
        if chat_id in self._kinds:
            self._kinds.move_to_end(chat_id)
            key = self._kinds[chat_id]
        else:
            # A session of its own, closed at once: the sender's request holds no connection
            # while it waits for the writer (which needs one to store the message).
            async with self.db.session() as session:
                found = await store.load_membership(session, chat_id, me)
                if found is None:
                    return None
                key = found[0].direct_key
            self._kinds[chat_id] = key
            while len(self._kinds) > MAX_REMEMBERED_CHATS:
                self._kinds.popitem(last=False)
        if key is None:
            return None
        first, _, second = key.partition(":")
        if me not in (first, second):
            return None
        return second if first == me else first
