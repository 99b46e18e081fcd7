"""Where the chat service hands events on: after the database commit, through one sink.

The service queues events on its unit of work (:class:`Outbox`); :func:`parley.chat.uow.unit_of_work`
flushes them to ``app.state.events`` only once the transaction has committed, so a client never
hears of a message that was not stored, and a failed request emits nothing. The real-time layer
installs its own :class:`EventSink`; until then :class:`NullSink` drops everything.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog
from pydantic import BaseModel

log = structlog.get_logger(__name__)

NEW_MESSAGE = "newMessage"
MESSAGES_SEEN = "messagesSeen"
NEW_CHAT = "newChat"
MESSAGE_UPDATED = "messageUpdated"
CHAT_UPDATED = "chatUpdated"
REMOVED_FROM_CHAT = "removedFromChat"


class EventSink(Protocol):
    """Delivers an event to every connection of each user in ``to_users``."""

    async def emit(self, event: str, payload: dict[str, Any], *, to_users: list[str]) -> None: ...


# Who has each of these chats open right now (user ids by chat id), in one lookup: their new
# messages there count as read at once.
Viewers = Callable[[list[str]], Awaitable[dict[str, set[str]]]]


async def no_viewers(chat_ids: list[str]) -> dict[str, set[str]]:
    """While nothing tracks open chats, nobody has one open."""
    return {}


class NullSink:
    """The sink while nothing listens: drops every event."""

    async def emit(self, event: str, payload: dict[str, Any], *, to_users: list[str]) -> None:
        return None


@dataclass(frozen=True)
class Event:
    name: str
    payload: dict[str, Any]
    to_users: list[str]


@dataclass
class Outbox:
    """Events and callbacks a unit of work releases after its commit, in the order queued."""

    events: list[Event] = field(default_factory=list)
    callbacks: list[Callable[[], object]] = field(default_factory=list)

    def add(self, name: str, payload: BaseModel | dict[str, Any], to_users: list[str]) -> None:
        body = payload.model_dump(mode="json", by_alias=True) if isinstance(payload, BaseModel) else payload
        recipients = list(dict.fromkeys(to_users))
        if recipients:
            self.events.append(Event(name, body, recipients))

    def on_commit(self, callback: Callable[[], object]) -> None:
        self.callbacks.append(callback)

    async def flush(self, sink: EventSink) -> None:
        """Emit everything queued. The data is committed by now, so a failing sink is logged, not raised."""
        events, self.events = self.events, []
        callbacks, self.callbacks = self.callbacks, []
        for callback in callbacks:
            callback()
        for event in events:
            try:
                await sink.emit(event.name, event.payload, to_users=event.to_users)
            except Exception as exc:
                log.error("chat.event.failed", event_name=event.name, error=f"{type(exc).__name__}: {exc}")

    def discard(self) -> None:
        self.events.clear()
        self.callbacks.clear()


async def emit_all(sink: EventSink, events: list[Event]) -> None:
    """Hand ``events`` to ``sink`` in order: in one call where it takes batches (``emit_batch``)."""
    batch = getattr(sink, "emit_batch", None)
    if batch is not None:
        await batch(events)
        return
    for event in events:
        await sink.emit(event.name, event.payload, to_users=event.to_users)
