"""Enforcing blocks on the send path: a 1:1 chat whose two people blocked one another takes no messages.

The user service owns blocks (see :mod:`parley.chat.users`); asking it on every message would put
a round trip on the hot path, so:

* whether a chat is a 1:1 and who its two people are never changes: kept in the process
  (a group costs nothing from then on);
* the verdict for a pair of people is kept in the process, and in the shared cache under
  :func:`verdict_key` (what one instance asked the user service, the others need not ask again),
  each for :data:`VERDICT_TTL_SECONDS`. A send reads only the process's copy;
* when either of them blocks or unblocks the other, the user service deletes the shared key, then
  publishes the pair on :data:`CHANNEL`. Every instance follows that channel and forgets the pair
  as soon as it hears it (and forgets every pair after its subscription was lost), so a block
  takes effect at once on every instance: the notice is out before the block request is answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from typing import Any

import structlog
from redis.asyncio import Redis

from parley.chat import store
from parley.chat.errors import Blocked
from parley.chat.users import UserDirectory
from parley.core.auth import Identity
from parley.core.database import Database
from parley.core.notices import follow, subscribe

log = structlog.get_logger(__name__)

VERDICT_PREFIX = "parley:blocks:"
# Where the user service announces a changed pair, as ``<smaller id>:<larger id>``.
CHANNEL = "parley:blocks"
VERDICT_TTL_SECONDS = 60
MAX_REMEMBERED_CHATS = 100_000
MAX_REMEMBERED_PAIRS = 100_000


def verdict_key(a: str, b: str) -> str:
    """The cache key of whether ``a`` and ``b`` blocked one another (the same either way round).

    The user service deletes it on a block change: keep the two in step.
    """
    return f"{VERDICT_PREFIX}{pair(a, b)}"


def pair(a: str, b: str) -> str:
    """``a`` and ``b`` in one string, the same either way round (what :data:`CHANNEL` carries)."""
    first, second = sorted((a, b))
    return f"{first}:{second}"


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
        # pair -> (until when, by the monotonic clock; blocked?)
        self._verdicts: OrderedDict[str, tuple[float, bool]] = OrderedDict()
        # Bumped by every notice: a verdict looked up while one arrived is not kept (it may be old).
        self._changes = 0
        self._following: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Follow the user service's notices of changed blocks (until :meth:`close`)."""
        if self._following is not None:
            return
        pubsub = None
        try:
            pubsub = await subscribe(self.cache, CHANNEL)
        except Exception as exc:  # followed from the first moment the cache answers
            log.warning("chat.blocks.unsubscribed", error=type(exc).__name__)
        self._following = asyncio.create_task(
            follow(
                self.cache,
                CHANNEL,
                self._heard,
                pubsub=pubsub,
                resubscribed=self._forget_all,  # notices may have been missed meanwhile
                lost_event="chat.blocks.notices_lost",
            ),
            name="blocks-notices",
        )

    async def close(self) -> None:
        task, self._following = self._following, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _heard(self, data: Any) -> None:
        self._changes += 1
        self._verdicts.pop(str(data), None)

    async def _forget_all(self) -> None:
        self._changes += 1
        self._verdicts.clear()

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
        """Whether the caller and ``other_id`` blocked one another: from the process, else the
        shared cache, else the user service."""
        together = pair(me.id, other_id)
        now = time.monotonic()
        known = self._verdicts.get(together)
        if known is not None and known[0] > now:
            return known[1]
        changes = self._changes
        key = verdict_key(me.id, other_id)
        try:
            cached = await self.cache.get(key)
        except Exception as exc:  # the cache only saves calls
            log.warning("chat.blocks.cache_failed", error=type(exc).__name__)
            cached = None
        if cached is not None:
            verdict = bool(cached == "1")
        else:
            verdict = await self.users.blocked_between(other_id, me.token)
            if changes == self._changes:
                try:
                    await self.cache.set(key, "1" if verdict else "0", ex=self.ttl)
                except Exception as exc:
                    log.warning("chat.blocks.cache_failed", error=type(exc).__name__)
        if changes == self._changes:
            self._verdicts[together] = (now + self.ttl, verdict)
            self._verdicts.move_to_end(together)
            while len(self._verdicts) > MAX_REMEMBERED_PAIRS:
                self._verdicts.popitem(last=False)
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
