"""What an instance asks the chat service and keeps for a while: :class:`Lookups`."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TypeVar

from parley.chat.realtime.protocol import Directory

# Entries each of the instance's lookup caches (members, memberships, contacts, blockers) holds at
# most; beyond it the oldest go. Each entry also expires (its TTL) and membership changes heard from
# any instance forget a chat's entries at once (see :meth:`Lookups.forget_chat`).
MAX_CACHED = 50_000

_K = TypeVar("_K")
_V = TypeVar("_V")


def keep(cache: dict[_K, _V], key: _K, value: _V, limit: int = MAX_CACHED) -> None:
    """Remember ``key`` as the newest entry of ``cache``, forgetting the oldest beyond ``limit``."""
    cache.pop(key, None)
    cache[key] = value
    while len(cache) > limit:
        del cache[next(iter(cache))]


class Lookups:
    """Chat members, memberships and contacts from the :class:`Directory`, cached in process."""

    def __init__(self, directory: Directory, *, membership_ttl: float, contacts_ttl: float) -> None:
        self.directory = directory
        self.membership_ttl = membership_ttl
        self.contacts_ttl = contacts_ttl
        self._members: dict[str, tuple[float, list[str]]] = {}
        self._membership: dict[tuple[str, str], tuple[float, bool]] = {}
        self._contacts: dict[str, tuple[float, list[str]]] = {}

    async def is_member(self, chat_id: str, user_id: str, *, fresh: bool = False) -> bool:
        now = time.monotonic()
        cached = self._membership.get((chat_id, user_id))
        if cached is not None and cached[0] > now and not fresh:
            return cached[1]
        member = await self.directory.is_member(chat_id, user_id)
        # A "no" is kept briefly: the user may be added to the chat any moment.
        ttl = self.membership_ttl if member else min(1.0, self.membership_ttl)
        keep(self._membership, (chat_id, user_id), (now + ttl, member))
        return member

    async def members_of(self, chat_id: str) -> list[str]:
        now = time.monotonic()
        cached = self._members.get(chat_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        members = await self.directory.chat_members(chat_id)
        keep(self._members, chat_id, (now + self.membership_ttl, members))
        return members

    async def contacts_of(self, user_id: str) -> list[str]:
        now = time.monotonic()
        cached = self._contacts.get(user_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        contacts = [c for c in await self.directory.contacts(user_id) if c != user_id]
        keep(self._contacts, user_id, (now + self.contacts_ttl, contacts))
        return contacts

    def forget_chat(self, chat_id: str, users: Iterable[str]) -> None:
        """A chat's members changed: forget its members and memberships, and the users' contacts."""
        self._members.pop(chat_id, None)
        for key in [k for k in self._membership if k[0] == chat_id]:
            del self._membership[key]
        for user in users:
            self._contacts.pop(user, None)

    def chat_created(self, chat_id: str | None, members: list[str]) -> None:
        """A chat was created: forget what is cached about it and its members' contacts."""
        if chat_id is not None:
            self._members.pop(chat_id, None)
            for member in members:
                self._membership.pop((chat_id, member), None)
        for member in members:
            self._contacts.pop(member, None)

    def prune(self) -> None:
        """Drop the entries that expired."""
        now = time.monotonic()
        self._members = {k: v for k, v in self._members.items() if v[0] > now}
        self._membership = {k: v for k, v in self._membership.items() if v[0] > now}
        self._contacts = {k: v for k, v in self._contacts.items() if v[0] > now}
