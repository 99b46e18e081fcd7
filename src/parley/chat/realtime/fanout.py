"""Fan-out across instances: the Socket.IO client managers (Redis or RabbitMQ) and the batch message."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

import socketio
import structlog

from parley.chat.events import MESSAGE_UPDATED
from parley.chat.realtime.ordering import InOrder, ordering_key
from parley.chat.realtime.protocol import BATCH_EVENT
from parley.chat.realtime.wire import ORJSON

log = structlog.get_logger(__name__)


def redis_db(url: str) -> str:
    path = urlparse(url).path.strip("/")
    return path or "0"


class _HandOnAtOnce:
    """A listening client manager that hands each event on without waiting for its delivery.

    Every instance hears every instance's events through one pub/sub listener, one at a time.
    python-socketio's listener waits until each event's packets have been queued to its sockets,
    which takes a turn of the event loop; under load those turns are slow, and delivery fell
    behind storing. Here each event is handed to a task at once. The tasks run in the order they
    are created and queue their packets without pausing, so every socket gets the events in the
    order they are handed on: a chat's messages in ``seq`` order (see :class:`InOrder`). A batch
    (:data:`BATCH_EVENT`, one publish for a whole group commit) is unpacked here.
    """

    _handing_on: set[asyncio.Task[None]]
    _in_order: InOrder
    # Told of every event this instance hands on (its own and other instances'), before it goes out:
    # the real-time layer forgets cached memberships when a chat's members change.
    on_event: Callable[[str, Any, Any], None] | None = None

    def _start_hand_on(self, message: Any) -> None:
        handing_on = self.__dict__.setdefault("_handing_on", set())
        task = asyncio.create_task(super()._handle_emit(message))  # type: ignore[misc]
        handing_on.add(task)
        task.add_done_callback(handing_on.discard)

    async def _handle_emit(self, message: Any) -> None:
        in_order = self.__dict__.get("_in_order")
        if in_order is None:
            in_order = self.__dict__["_in_order"] = InOrder(self._start_hand_on)
        if message.get("event") == BATCH_EVENT:
            items = message.get("data")
            items = items[0] if isinstance(items, list) and len(items) == 1 else None
            for item in items if isinstance(items, list) else []:
                if not (isinstance(item, list) and len(item) == 3):
                    continue
                name, payload, rooms = item
                single = {**message, "event": name, "data": [payload], "room": rooms}
                self._order(in_order, single)
            return
        self._order(in_order, message)

    def _order(self, in_order: InOrder, message: Any) -> None:
        if self.on_event is not None:
            data = message.get("data")
            payload = data[0] if isinstance(data, list) and data else None
            try:
                self.on_event(str(message.get("event")), payload, message.get("room"))
            except Exception as exc:
                log.error("realtime.on_event.failed", error=f"{type(exc).__name__}: {exc}")
        key = ordering_key(message)
        if key is not None:
            in_order.offer(key[0], key[1], message)
            return
        about = ordering_key(message, MESSAGE_UPDATED)
        if about is not None:
            in_order.offer_after(about[0], about[1], message)
            return
        self._start_hand_on(message)


class _RedisManager(_HandOnAtOnce, socketio.AsyncRedisManager):  # type: ignore[misc]
    pass


class _AioPikaManager(_HandOnAtOnce, socketio.AsyncAioPikaManager):  # type: ignore[misc]
    pass


# The write-only publisher's Redis connection gives up after this long (connecting or waiting for an
# answer) instead of waiting for a frozen server forever: a send is answered within the contract's 10 s.
PUBLISH_TIMEOUT_SECONDS = 2.0


def publisher_timeouts(seconds: float = PUBLISH_TIMEOUT_SECONDS) -> dict[str, Any]:
    """redis-py options of the write-only publisher (only it: the listener waits on its channel for good)."""
    return {"socket_connect_timeout": seconds, "socket_timeout": seconds}


def client_managers(url: str | None, channel: str | None) -> tuple[Any, Any]:
    """The Socket.IO client manager for ``url`` and a write-only twin that publishes on its channel.

    Redis pub/sub channels are not scoped by database number, so the default channel names the
    database: deployments on different databases of one Redis server do not hear each other.
    """
    if not url or url.startswith("memory://"):
        return None, None
    if url.startswith(("redis://", "rediss://", "unix://")):
        name = channel or f"parley:socketio:{redis_db(url)}"
        return (
            _RedisManager(url, channel=name),
            socketio.AsyncRedisManager(
                url, channel=name, write_only=True, json=ORJSON, redis_options=publisher_timeouts()
            ),
        )
    if url.startswith(("amqp://", "amqps://")):
        name = channel or "parley.socketio"
        return (
            _AioPikaManager(url, channel=name),
            socketio.AsyncAioPikaManager(url, channel=name, write_only=True, json=ORJSON),
        )
    raise ValueError("the Socket.IO client manager URL must be redis://…, amqp://… or memory://")


async def close_manager(manager: Any) -> None:
    """Stop a client manager's listener and close its connections (the library has no close())."""
    task = getattr(manager, "thread", None)
    if isinstance(task, asyncio.Task) and not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    for name in ("pubsub", "redis"):
        client = getattr(manager, name, None)
        if client is not None:
            with contextlib.suppress(Exception):
                await client.aclose()
    connection = getattr(manager, "publisher_connection", None)
    if connection is not None:
        with contextlib.suppress(Exception):
            await connection.close()
