"""What an instance knows of its sockets (:class:`Connection`), the cache keys it keeps (:class:`Keys`)
and how its parts run work in the background (:data:`Spawn`, :class:`Batched`)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import structlog

from parley.chat.realtime.protocol import TokenBucket
from parley.core.auth import Identity

log = structlog.get_logger(__name__)

_T = TypeVar("_T")


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
# and run work in the background (its failure logged, never raised; the task, or None once the
# instance stopped and the work was dropped).
Emit = Callable[..., Awaitable[None]]
Spawn = Callable[[Coroutine[Any, Any, Any], str], "asyncio.Task[None] | None"]


class Batched(Generic[_T]):
    """Work on items by one background task at a time, in batches of what arrived meanwhile.

    One item alone is handled at once; a burst (every socket of an instance going away when it
    stops) is handled in a few batches, one after the other, rather than one task per item all at
    the same time (which took a cache connection each and exhausted the pool).
    """

    def __init__(
        self, handle: Callable[[list[_T]], Awaitable[None]], *, size: int, spawn: Spawn, what: str
    ) -> None:
        self._handle = handle
        self._size = size
        self._spawn = spawn
        self._what = what
        self._items: list[_T] = []
        self._task: asyncio.Task[None] | None = None

    def add(self, item: _T) -> None:
        self._items.append(item)
        if self._task is None or self._task.done():
            self._task = self._spawn(self._run(), self._what)

    async def wait(self, timeout: float) -> None:
        """Until the items added so far are handled, or ``timeout`` seconds passed."""
        if self._task is not None and not self._task.done():
            await asyncio.wait([self._task], timeout=timeout)

    async def _run(self) -> None:
        # No await between the last check and the task's end: an item added meanwhile starts a new task.
        while self._items:
            batch = self._items[: self._size]
            del self._items[: self._size]
            try:
                await self._handle(batch)
            except Exception as exc:
                log.error("realtime.task.failed", task=self._what, error=f"{type(exc).__name__}: {exc}")
