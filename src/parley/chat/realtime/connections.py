"""What an instance knows of its sockets (:class:`Connection`) and the cache keys it keeps (:class:`Keys`)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from parley.chat.realtime.protocol import TokenBucket
from parley.core.auth import Identity


@dataclass(slots=True)
class Typing:
    last_sent: float
    timer: asyncio.TimerHandle


@dataclass(slots=True)
class Connection:
    """What this instance knows about one of its sockets (slotted: there are thousands)."""

    sid: str
    identity: Identity
    bucket: TokenBucket
    # One event at a time per socket, in the order the client sent them.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    joined: dict[str, None] = field(default_factory=dict)  # an ordered set
    typing: dict[str, Typing] = field(default_factory=dict)
    warned_flood: bool = False

    @property
    def user_id(self) -> str:
        return self.identity.id


@dataclass(frozen=True)
class Keys:
    """The cache keys of the real-time layer (see :mod:`parley.chat.realtime.server`), all under ``prefix``."""

    prefix: str
    instance: str
    presence_ttl: float

    def presence(self, user_id: str) -> str:
        return f"{self.prefix}presence:{user_id}"

    @property
    def index(self) -> str:
        return f"{self.prefix}presence:index"

    def viewers(self, chat_id: str) -> str:
        return f"{self.prefix}viewers:{chat_id}"

    def sockets(self, user_id: str) -> str:
        return f"{self.prefix}sockets:{user_id}"

    def blockers(self, user_id: str) -> str:
        return f"{self.prefix}blockers:{user_id}"

    def socket_member(self, sid: str) -> str:
        return f"{self.instance}:{sid}"

    def viewer_member(self, connection: Connection) -> str:
        return f"{connection.user_id}:{self.instance}:{connection.sid}"

    def ttl(self) -> int:
        """How long a presence or viewers key outlives its last refresh (then nothing is left)."""
        return max(2, math.ceil(self.presence_ttl * 3))


# How the parts emit a server event (``sio.emit``'s arguments; nothing once the instance stopped)
# and run work in the background (its failure logged, never raised).
Emit = Callable[..., Awaitable[None]]
Spawn = Callable[[Coroutine[Any, Any, Any], str], None]
