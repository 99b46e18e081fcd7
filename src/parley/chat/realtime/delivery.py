"""The chat service's events to the sockets of their recipients, on every instance (:class:`Delivery`),
and what this instance does when it hears that a chat's members changed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import structlog

from parley.chat.events import CHAT_UPDATED, NEW_CHAT, NEW_MESSAGE, REMOVED_FROM_CHAT, Event
from parley.chat.realtime.connections import Spawn
from parley.chat.realtime.lookups import Lookups
from parley.chat.realtime.protocol import BATCH_EVENT, NAMESPACE, user_room
from parley.core.metrics import MESSAGES_DELIVERED

log = structlog.get_logger(__name__)


class RealtimeSink:
    """The chat service's :class:`~parley.chat.events.EventSink`: events to every socket of each user."""

    def __init__(self, delivery: Delivery) -> None:
        self._delivery = delivery

    async def emit(self, event: str, payload: dict[str, Any], *, to_users: list[str]) -> None:
        await self._delivery.deliver(event, payload, to_users)

    async def emit_batch(self, events: list[Event]) -> None:
        await self._delivery.deliver_batch(events)


class Delivery:
    """Emits through the client managers (one publish per batch); handed ``spawn`` and what it
    calls when memberships change (``removed_from_chat``, ``online``, ``refresh_lists``)."""

    def __init__(
        self,
        *,
        sio: Any,
        publisher: Any,
        lookups: Lookups,
        is_closed: Callable[[], bool],
        spawn: Spawn,
        online: Callable[[Iterable[str]], Awaitable[list[str]]],
        refresh_lists: Callable[[list[str]], Awaitable[None]],
        removed_from_chat: Callable[[str, set[str]], None],
    ) -> None:
        self.sio = sio
        # The manager that only publishes (None without a client manager: one instance alone).
        self.publisher = publisher
        self.lookups = lookups
        self.is_closed = is_closed
        self.spawn = spawn
        self.online = online
        self.refresh_lists = refresh_lists
        self.removed_from_chat = removed_from_chat

    async def deliver(self, event: str, payload: dict[str, Any], to_users: list[str]) -> None:
        """Emit ``event`` to every socket of each of ``to_users``, on every instance."""
        recipients = list(dict.fromkeys(to_users))
        if not recipients:
            return
        if self.is_closed():
            log.warning("realtime.stopped.dropped", event_name=event)
            return
        rooms = [user_room(u) for u in recipients]
        if self.publisher is not None:
            # Every instance's manager (this one's too) calls heard before handing it on.
            await self.fan_out({**self.message(event, [payload]), "room": rooms})
        else:
            self.heard(event, payload, rooms)
            await self.sio.emit(event, payload, room=rooms)
        if event == NEW_MESSAGE:
            MESSAGES_DELIVERED.inc(len(recipients))
        elif event == NEW_CHAT:
            self.chat_changed(payload.get("chatId"), recipients)

    async def deliver_batch(self, events: list[Event]) -> None:
        """Emit several events, in order, with one publish to every instance."""
        if self.is_closed():
            log.warning("realtime.stopped.dropped", event_name=BATCH_EVENT)
            return
        items = [[e.name, e.payload, [user_room(u) for u in dict.fromkeys(e.to_users)]] for e in events]
        items = [item for item in items if item[2]]
        if not items:
            return
        if self.publisher is not None:
            await self.fan_out(self.message(BATCH_EVENT, [items]))
        else:
            for name, payload, rooms in items:
                await self.sio.emit(name, payload, room=rooms)
        for event in events:
            if event.name == NEW_MESSAGE:
                MESSAGES_DELIVERED.inc(len(event.to_users))

    def message(self, event: str, data: list[Any]) -> dict[str, Any]:
        """A client manager's ``emit`` message, as python-socketio publishes it (JSON data only)."""
        return {
            "method": "emit",
            "event": event,
            "data": data,
            "binary": False,
            "namespace": NAMESPACE,
            "room": None,
            "skip_sid": None,
            "callback": None,
            # The listener of this instance skips its own host's messages: it was handed them below.
            "host_id": self.sio.manager.host_id,
        }

    async def fan_out(self, message: dict[str, Any]) -> None:
        """Publish to the other instances, and hand on to this one's sockets without the round trip.

        Each instance hands a chat's messages on in ``seq`` order (:class:`InOrder`), and this
        instance's own events in the order emitted, so no lock across instances is needed.
        """
        await self.publisher._publish(message)
        await self.sio.manager._handle_emit(message)

    def heard(self, event: str, payload: Any, rooms: Any) -> None:
        """An event is about to reach this instance's sockets: act on membership changes first.

        After ``chatUpdated`` the chat's cached members are forgotten (typing, joinChat ask again);
        the recipients of ``removedFromChat`` stop having the chat open here and stop typing in it,
        so no event of that chat reaches them from now on.
        """
        if event not in (CHAT_UPDATED, REMOVED_FROM_CHAT) or not isinstance(payload, dict):
            return
        chat_id = payload.get("chatId")
        if not isinstance(chat_id, str):
            return
        names = rooms if isinstance(rooms, list) else [rooms]
        users = {r.split(":", 1)[1] for r in names if isinstance(r, str) and r.startswith("user:")}
        self.lookups.forget_chat(chat_id, users)
        if event != REMOVED_FROM_CHAT:
            return
        self.removed_from_chat(chat_id, users)

    def chat_changed(self, chat_id: Any, members: list[str]) -> None:
        """A chat was created: forget what is cached about it, and refresh its members' online lists."""
        self.lookups.chat_created(chat_id if isinstance(chat_id, str) else None, members)

        async def refresh() -> None:
            await self.refresh_lists(await self.online(members))

        self.spawn(refresh(), "refresh-online")
