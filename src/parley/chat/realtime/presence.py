"""Presence: who is online (on any instance), the online lists (``getOnlineUser``) and the sweep
that takes the users of a crashed instance offline. See :mod:`parley.chat.realtime.server` for the
cache keys and why announcements always carry the full list."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping

import structlog
from redis.asyncio import Redis

from parley.chat.realtime.connections import Batched, Connection, Emit, Keys, Spawn
from parley.chat.realtime.lookups import keep
from parley.chat.realtime.protocol import GET_ONLINE_USER, Directory, user_room

log = structlog.get_logger(__name__)

# How long an instance remembers who blocked a user, for the other instances' online lists.
BLOCKERS_TTL_SECONDS = 24 * 3600
# How long an instance trusts what it last heard of who blocked a user with a socket on it.
BLOCKERS_REFRESH_SECONDS = 10
# Users gone offline announced together, at most (their contacts' lists are sent once per batch).
ANNOUNCE_BATCH = 500


class Presence:
    """Online users and their online lists, kept in the cache; handed ``emit`` and ``spawn``."""

    def __init__(
        self,
        *,
        cache: Redis,
        keys: Keys,
        directory: Directory,
        presence_ttl: float,
        connections: Mapping[str, Connection],
        contacts_of: Callable[[str], Awaitable[list[str]]],
        emit: Emit,
        spawn: Spawn,
    ) -> None:
        self.cache = cache
        self.keys = keys
        self.directory = directory
        self.presence_ttl = presence_ttl
        # This instance's sockets, by sid (read only here).
        self.connections = connections
        self.contacts_of = contacts_of
        self.emit = emit
        self.spawn = spawn
        self._blockers: dict[str, tuple[float, set[str]]] = {}
        self._offline = Batched(self.announce_all, size=ANNOUNCE_BATCH, spawn=spawn, what="announce-offline")

    async def add(self, connection: Connection) -> bool:
        """Count the socket as online; whether it is the user's first socket anywhere."""
        now = time.time()
        expires = now + self.presence_ttl
        key = self.keys.presence(connection.user_id)
        async with self.cache.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.zadd(key, {self.keys.socket_member(connection.sid): expires})
            pipe.zcard(key)
            pipe.expire(key, self.keys.ttl())
            pipe.zadd(self.keys.index, {connection.user_id: expires}, gt=True)
            results = await pipe.execute()
        return int(results[2]) == 1

    async def remove(self, connections: list[Connection]) -> list[str]:
        """Stop counting the sockets, in one round trip (two if users went offline); the users for
        whom one of them was their last socket anywhere."""
        members: dict[str, list[str]] = {}
        for connection in connections:
            members.setdefault(connection.user_id, []).append(self.keys.socket_member(connection.sid))
        if not members:
            return []
        now = time.time()
        async with self.cache.pipeline(transaction=True) as pipe:
            for user_id, sockets in members.items():
                key = self.keys.presence(user_id)
                pipe.zrem(key, *sockets)
                pipe.zremrangebyscore(key, "-inf", now)
                pipe.zcard(key)
            results = await pipe.execute()
        counts = {user_id: results[3 * i : 3 * i + 3] for i, user_id in enumerate(members)}
        gone = [user_id for user_id, (_, _, left) in counts.items() if int(left) == 0]
        if gone:
            await self.cache.zrem(self.keys.index, *gone)
        # Only the instance whose ZREM removed a user's last socket announces the change.
        return [user_id for user_id in gone if int(counts[user_id][0]) > 0]

    async def online(self, user_ids: Iterable[str]) -> list[str]:
        """Those of ``user_ids`` with a live socket on any instance, in the order given."""
        ids = list(dict.fromkeys(user_ids))
        if not ids:
            return []
        now = time.time()
        async with self.cache.pipeline(transaction=False) as pipe:
            for user_id in ids:
                pipe.zcount(self.keys.presence(user_id), f"({now}", "+inf")
            counts = await pipe.execute()
        return [user_id for user_id, count in zip(ids, counts, strict=True) if int(count) > 0]

    async def is_online(self, user_id: str) -> bool:
        return bool(await self.online([user_id]))

    async def blockers_of(self, user_id: str, contacts: list[str], sid: str | None) -> set[str]:
        """Those of ``contacts`` who blocked ``user_id``: they are left out of the user's online list.

        Asked with the user's own token when one of their sockets is on this instance (at most every
        :data:`BLOCKERS_REFRESH_SECONDS`, and always for a new socket's first list), and kept in the
        cache for the other instances, which have no token of theirs; else from that cache.
        """
        now = time.monotonic()
        remembered = self._blockers.get(user_id)
        if sid is None and remembered is not None and remembered[0] > now:
            return remembered[1]
        connection = self.connections.get(sid) if sid is not None else None
        if connection is None:
            connection = next((c for c in self.connections.values() if c.user_id == user_id), None)
        key = self.keys.blockers(user_id)
        if connection is not None:
            try:
                _, blocked_by = await self.directory.blocks_of(connection.identity, contacts)
            except Exception as exc:
                log.warning("realtime.blocks.unavailable", error=type(exc).__name__)
                connection = None
        if connection is None:
            cached = await self.cache.get(key)
            return set(json.loads(cached)) if cached else set()
        await self.cache.set(key, json.dumps(sorted(blocked_by)), ex=BLOCKERS_TTL_SECONDS)
        keep(self._blockers, user_id, (now + BLOCKERS_REFRESH_SECONDS, blocked_by))
        return blocked_by

    async def send_online_list(self, user_id: str, *, sid: str | None = None) -> None:
        """Send the user (or only socket ``sid``, on this instance) their online contacts.

        Contacts who blocked the user are never in it.
        """
        contacts = await self.contacts_of(user_id)
        online = await self.online(contacts)
        if online:
            blockers = await self.blockers_of(user_id, contacts, sid)
            online = [u for u in online if u not in blockers]
        if sid is not None:
            await self.emit(GET_ONLINE_USER, online, to=sid, ignore_queue=True)
        else:
            await self.emit(GET_ONLINE_USER, online, room=user_room(user_id))

    async def announce(self, user_id: str) -> None:
        """``user_id`` came or went: every online contact gets their fresh full list."""
        await self.announce_all([user_id])

    async def announce_all(self, user_ids: list[str], batch: int = 32) -> None:
        """Users came or went: each online contact of any of them gets one fresh full list."""
        contacts: dict[str, None] = {}
        for start in range(0, len(user_ids), batch):
            chunk = user_ids[start : start + batch]
            for found in await asyncio.gather(*(self.contacts_of(u) for u in chunk)):
                contacts.update(dict.fromkeys(found))
        await self.refresh_lists(await self.online(contacts))

    def went_offline(self, user_ids: list[str]) -> None:
        """Announce, in the background, that these users went offline: one announcement at a time,
        for all who went meanwhile (a list carries everyone's state, so one per contact is enough)."""
        for user_id in user_ids:
            self._offline.add(user_id)

    async def refresh_lists(self, user_ids: list[str], batch: int = 32) -> None:
        for start in range(0, len(user_ids), batch):
            await asyncio.gather(*(self.send_online_list(u) for u in user_ids[start : start + batch]))

    async def sweep(self, now: float, limit: int = 500) -> None:
        """Users whose every socket expired (a crashed instance's) go offline; their contacts are told."""
        due = await self.cache.zrangebyscore(self.keys.index, "-inf", now, start=0, num=limit)
        for raw in due:
            user_id = str(raw)
            key = self.keys.presence(user_id)
            async with self.cache.pipeline(transaction=True) as pipe:
                pipe.zremrangebyscore(key, "-inf", now)
                pipe.zcard(key)
                _, left = await pipe.execute()
            # Only the instance whose ZREM removed the entry announces the change.
            if int(left) == 0 and await self.cache.zrem(self.keys.index, user_id):
                log.info("realtime.presence.expired", user_id=user_id)
                # With the others of this sweep (up to ``limit``), not one task each at once.
                self.went_offline([user_id])

    def prune(self) -> None:
        """Drop what expired of who blocked whom."""
        now = time.monotonic()
        self._blockers = {k: v for k, v in self._blockers.items() if v[0] > now}
