"""Revoked sessions, kept in every verifying process so a token check costs no cache round trip.

A token belongs to a session (its ``sid`` claim) and carries the session's generation (``gen``):
a rename issues generation n+1 and refuses the ones before it; a logout refuses all of them. A
:class:`Revocation` says exactly that for one session, until the moment its last token expires.

Where they live:

- the cache holds every unexpired revocation in one sorted set (scored by when it stops mattering)
  and a version counter that each new one bumps; a new one is also published on a channel;
- every process keeps them in a dict (:class:`RevocationList`): it loads them at start, applies what
  is published at once, and checks the version every ``resync_seconds`` so a missed message (a
  dropped subscription) is caught within that time. Verifying a token only reads the dict; what
  else must act on a revocation (the real-time layer closes the session's sockets) watches the
  list (:meth:`RevocationList.watch`) rather than following the channel itself;
- the user service's database is the source of truth (its sessions table): it writes the unexpired
  revocations back into the cache at start, so they outlive a cache that lives in memory.

Revocations only ever tighten: a sync merges what the cache has into what the process knows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from parley.core.notices import follow, subscribe

log = structlog.get_logger(__name__)

REVOCATIONS_KEY = "parley:revocations:sessions"
VERSION_KEY = "parley:revocations:version"
# Where a new revocation is announced, as JSON ``{"sid", "before", "until", "sub"}``.
CHANNEL = "parley:revocations"
ALL = "*"
RESYNC_SECONDS = 1.0
# A list that has not heard from the cache for this long checks with it before trusting itself.
STALE_SECONDS = 5.0


@dataclass(frozen=True)
class Revocation:
    """Tokens of ``session`` are refused: all of them, or those of a generation below ``before``."""

    session: str
    before: int | None  # None: every generation
    until: int  # Unix time after which no token of the session is valid anyway
    user_id: str = ""

    def covers(self, session: str, generation: int) -> bool:
        return session == self.session and (self.before is None or generation < self.before)

    @property
    def member(self) -> str:
        return f"{self.session} {ALL if self.before is None else self.before}"

    @classmethod
    def from_member(cls, member: str, until: float) -> Revocation | None:
        session, _, before = member.partition(" ")
        if not session or not before:
            return None
        if before == ALL:
            return cls(session, None, int(until))
        if not before.isdigit():
            return None
        return cls(session, int(before), int(until))

    def message(self) -> str:
        return json.dumps(
            {"sid": self.session, "before": self.before, "until": self.until, "sub": self.user_id}
        )

    @classmethod
    def from_message(cls, data: Any) -> Revocation | None:
        """The revocation a published message announces; None for anything else."""
        try:
            body = json.loads(data)
        except (TypeError, ValueError):
            return None
        if not isinstance(body, dict):
            return None
        session, before, until = body.get("sid"), body.get("before"), body.get("until")
        if not isinstance(session, str) or not isinstance(until, int):
            return None
        if before is not None and not isinstance(before, int):
            return None
        return cls(session, before, until, str(body.get("sub") or ""))


def _stricter(a: int | None, b: int | None) -> int | None:
    """Of two bounds on a session's generations, the one that refuses more."""
    if a is None or b is None:
        return None
    return max(a, b)


class RevocationList:
    """The revocations one process knows; shared by every verifier of the process on one cache.

    ``start``/``close`` are counted: the first start loads and subscribes, the last close stops.
    """

    def __init__(
        self,
        cache: Redis,
        *,
        resync_seconds: float = RESYNC_SECONDS,
        stale_seconds: float = STALE_SECONDS,
        owns_cache: bool = False,
    ) -> None:
        self.cache = cache
        self.owns_cache = owns_cache
        self.closed = False
        self.resync_seconds = resync_seconds
        self.stale_seconds = stale_seconds
        self._bounds: dict[str, tuple[int | None, int]] = {}  # session -> (before, until)
        self._version: str | None = None
        self._synced_at = float("-inf")
        self._users = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._watchers: list[Callable[[Revocation], None]] = []

    # ---------------------------------------------------------------- reading

    def is_revoked(self, session: str, generation: int) -> bool:
        """Whether a token of ``session`` and ``generation`` is refused, from what this process knows."""
        bound = self._bounds.get(session)
        if bound is None:
            return False
        before, until = bound
        if until < time.time():
            # Its tokens have all expired: nothing left to refuse.
            self._bounds.pop(session, None)
            return False
        return before is None or generation < before

    @property
    def fresh(self) -> bool:
        return time.monotonic() - self._synced_at < self.stale_seconds

    async def ensure_fresh(self) -> None:
        """Sync now unless a sync succeeded recently (it normally has: the background loop runs)."""
        if not self.fresh:
            await self.sync()

    def watch(self, watcher: Callable[[Revocation], None]) -> Callable[[], None]:
        """Call ``watcher`` with each revocation that refuses more than this process knew (however it
        learnt it: its own, published, or a resync); returns what stops it. It must not block."""
        self._watchers.append(watcher)
        return lambda: self._watchers.remove(watcher) if watcher in self._watchers else None

    def apply(self, revocations: Iterable[Revocation]) -> None:
        """Learn ``revocations`` (each only tightens what is known of its session)."""
        now = time.time()
        learnt: list[Revocation] = []
        for revocation in revocations:
            if revocation.until < now:
                continue
            known = self._bounds.get(revocation.session)
            if known is None:
                bound = (revocation.before, revocation.until)
            else:
                bound = (_stricter(known[0], revocation.before), max(known[1], revocation.until))
            if known is None or bound[0] != known[0]:
                learnt.append(revocation)
            self._bounds[revocation.session] = bound
        for revocation in learnt:
            for watcher in list(self._watchers):
                try:
                    watcher(revocation)
                except Exception as exc:
                    log.error("auth.revocations.watcher_failed", error=f"{type(exc).__name__}: {exc}")

    def prune(self) -> None:
        """Forget revocations whose sessions' tokens have all expired."""
        now = time.time()
        for session in [s for s, (_, until) in self._bounds.items() if until < now]:
            del self._bounds[session]

    # ---------------------------------------------------------------- writing

    async def add(self, revocations: Iterable[Revocation]) -> None:
        """Record ``revocations`` in the cache, announce them, and know them here at once."""
        items = list(revocations)
        if not items:
            return
        now = time.time()
        async with self.cache.pipeline(transaction=True) as pipe:
            pipe.zadd(REVOCATIONS_KEY, {r.member: r.until for r in items}, gt=True)
            pipe.zremrangebyscore(REVOCATIONS_KEY, "-inf", now)
            pipe.incr(VERSION_KEY)
            for revocation in items:
                pipe.publish(CHANNEL, revocation.message())
            await pipe.execute()
        self.apply(items)

    # ---------------------------------------------------------------- syncing

    async def sync(self) -> None:
        """Merge in what the cache holds, when its version says something changed."""
        self.prune()
        raw = await self.cache.get(VERSION_KEY)
        version = None if raw is None else str(raw)
        if version is None or version != self._version:
            now = time.time()
            members: Any = await self.cache.zrangebyscore(REVOCATIONS_KEY, now, "+inf", withscores=True)
            found = (Revocation.from_member(str(member), float(score)) for member, score in members)
            self.apply(r for r in found if r is not None)
            self._version = version
        self._synced_at = time.monotonic()

    async def start(self) -> None:
        self._users += 1
        if self._users > 1:
            return
        pubsub: PubSub | None = None
        try:
            # Subscribed before loading: nothing revoked in between is missed.
            pubsub = await subscribe(self.cache, CHANNEL)
            await self.sync()
        except Exception as exc:
            # Verification syncs on its own until the cache answers (see ensure_fresh).
            log.warning("auth.revocations.unsynced", error=type(exc).__name__)
        self._tasks = [
            asyncio.create_task(self._resync_loop(), name="revocations-resync"),
            asyncio.create_task(
                follow(
                    self.cache,
                    CHANNEL,
                    self._heard,
                    pubsub=pubsub,
                    resubscribed=self.sync,  # what was published while unsubscribed
                    lost_event="auth.revocations.listen_lost",  # the resync loop covers the gap
                ),
                name="revocations-listen",
            ),
        ]

    async def close(self) -> None:
        self._users = max(0, self._users - 1)
        if self._users:
            return
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.owns_cache:
            self.closed = True
            await self.cache.aclose()

    async def _resync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.resync_seconds)
            try:
                await self.sync()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("auth.revocations.resync_failed", error=type(exc).__name__)

    def _heard(self, data: Any) -> None:
        revocation = Revocation.from_message(data)
        if revocation is not None:
            self.apply([revocation])
