"""The client events of a socket: ``typing``, ``stopTyping``, ``joinChat``, ``leaveChat`` and
``sendMessage``, each admitted through the socket's flood bucket first (:class:`ClientEvents`)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog
from pydantic import ValidationError
from redis.asyncio import Redis

from parley.chat.realtime.connections import Connection, Emit, Keys, Spawn, Typing
from parley.chat.realtime.lookups import Lookups
from parley.chat.realtime.protocol import (
    JOIN_CHAT,
    LEAVE_CHAT,
    MAX_JOINED_CHATS,
    SEND_MESSAGE,
    STOP_TYPING,
    TYPING,
    USER_STOPPED_TYPING,
    USER_TYPING,
    ChatRef,
    Directory,
    TypingEvent,
    error_ack,
    user_room,
)
from parley.core.auth import Tokens
from parley.core.errors import AppError, RateLimited, ServiceUnavailable, Unauthorized

log = structlog.get_logger(__name__)


class ClientEvents:
    """Handles what a socket sends; handed ``emit``, ``spawn`` and ``disconnect_later``."""

    def __init__(
        self,
        *,
        cache: Redis,
        keys: Keys,
        directory: Directory,
        tokens: Tokens,
        lookups: Lookups,
        connections: Mapping[str, Connection],
        presence_ttl: float,
        typing_timeout: float,
        typing_throttle: float,
        emit: Emit,
        spawn: Spawn,
        disconnect_later: Callable[[str], None],
    ) -> None:
        self.cache = cache
        self.keys = keys
        self.directory = directory
        self.tokens = tokens
        self.lookups = lookups
        # This instance's sockets, by sid (read only here).
        self.connections = connections
        self.presence_ttl = presence_ttl
        self.typing_timeout = typing_timeout
        self.typing_throttle = typing_throttle
        self.emit = emit
        self.spawn = spawn
        self.disconnect_later = disconnect_later
        self._handlers: dict[str, Callable[[Connection, str], Awaitable[None]]] = {
            TYPING: self._typing,
            STOP_TYPING: self._stop_typing,
            JOIN_CHAT: self._join,
            LEAVE_CHAT: self._leave,
        }

    def register(self, sio: Any) -> None:
        """Handle the client events on ``sio`` (an ``AsyncServer``)."""
        sio.on(SEND_MESSAGE, self.on_send_message)
        for event in self._handlers:
            sio.on(event, self._handler_for(event))
        sio.on("*", self._on_unknown)

    def _handler_for(self, event: str) -> Callable[..., Awaitable[None]]:
        async def handler(sid: str, *args: Any) -> None:
            await self._dispatch(event, sid, args)

        return handler

    async def _on_unknown(self, event: str, sid: str, *args: Any) -> None:
        await self._dispatch(event, sid, args)

    def admit(self, connection: Connection) -> bool:
        """Take one event from the socket's bucket: False when it floods (said once in the log while
        it lasts), and a socket that keeps on flooding past the grace is disconnected."""
        verdict = connection.bucket.take()
        if verdict == "ok":
            connection.warned_flood = False
            return True
        if verdict == "abuse":
            log.warning("realtime.flood.disconnect", user_id=connection.user_id, sid=connection.sid)
            self.disconnect_later(connection.sid)
        elif not connection.warned_flood:
            connection.warned_flood = True
            log.warning("realtime.flood", user_id=connection.user_id, sid=connection.sid)
        return False

    async def _dispatch(self, event: str, sid: str, args: tuple[Any, ...]) -> None:
        """Rate-limit, validate and run one client event; never raises."""
        connection = self.connections.get(sid)
        if connection is None:
            return
        if not self.admit(connection):
            return
        handler = self._handlers.get(event)
        if handler is None:
            log.info("realtime.unknown_event", event_name=event[:64], user_id=connection.user_id)
            return
        try:
            if len(args) != 1:
                raise ValueError("one argument expected")
            ref = ChatRef.model_validate(args[0])
        except (ValidationError, ValueError):
            log.warning("realtime.bad_payload", event_name=event, user_id=connection.user_id)
            return
        async with connection.lock:
            if sid not in self.connections:
                return
            try:
                await handler(connection, ref.chat_id)
            except Exception as exc:
                log.error(
                    "realtime.event.failed",
                    event_name=event,
                    user_id=connection.user_id,
                    error=f"{type(exc).__name__}: {exc}",
                )

    async def on_send_message(self, sid: str, *args: Any) -> dict[str, Any]:
        """``sendMessage``: stored and acknowledged with ``{message}``, or ``{error: {message, code}}``."""
        connection = self.connections.get(sid)
        if connection is None:
            return error_ack(Unauthorized())
        if not self.admit(connection):
            return error_ack(RateLimited("Too many events from this connection, slow down", retry_after=1))
        if len(args) != 1 or not isinstance(args[0], dict):
            return error_ack(AppError("sendMessage takes one object", status=422, code="invalid"))
        # One event at a time per socket: a socket's messages are stored in the order it sent them.
        async with connection.lock:
            identity = connection.identity
            if sid not in self.connections or identity.exp <= time.time() or self.tokens.is_revoked(identity):
                return error_ack(Unauthorized())
            try:
                message = await self.directory.send_message(connection.identity, args[0])
            except AppError as exc:
                return error_ack(exc)
            except Exception as exc:
                log.error(
                    "realtime.send.failed", user_id=connection.user_id, error=f"{type(exc).__name__}: {exc}"
                )
                return error_ack(ServiceUnavailable())
        return {"message": message}

    async def to_others(self, chat_id: str, connection: Connection, event: str) -> None:
        """``event`` ``{chatId, userId}`` to every other member of the chat but those the user blocked."""
        user_id = connection.user_id
        others = [m for m in await self.lookups.members_of(chat_id) if m != user_id]
        if not others:
            return
        try:
            blocking, _ = await self.directory.blocks_of(connection.identity, others)
        except Exception as exc:  # unknown blocks: say nothing rather than tell a blocked person
            log.warning("realtime.blocks.unavailable", error=type(exc).__name__)
            return
        rooms = [user_room(m) for m in others if m not in blocking]
        if rooms:
            await self.emit(event, TypingEvent(chatId=chat_id, userId=user_id).model_dump(), room=rooms)

    async def _typing(self, connection: Connection, chat_id: str) -> None:
        if not await self.lookups.is_member(chat_id, connection.user_id):
            log.info("realtime.typing.not_member", chat_id=chat_id, user_id=connection.user_id)
            return
        loop = asyncio.get_running_loop()
        timer = loop.call_later(self.typing_timeout, self._typing_expired, connection.sid, chat_id)
        state = connection.typing.get(chat_id)
        if state is None:
            state = connection.typing[chat_id] = Typing(last_sent=-math.inf, timer=timer)
        else:
            state.timer.cancel()
            state.timer = timer
        now = time.monotonic()
        if now - state.last_sent >= self.typing_throttle:
            state.last_sent = now
            await self.to_others(chat_id, connection, USER_TYPING)

    def _typing_expired(self, sid: str, chat_id: str) -> None:
        connection = self.connections.get(sid)
        if connection is None or connection.typing.pop(chat_id, None) is None:
            return
        self.spawn(self.to_others(chat_id, connection, USER_STOPPED_TYPING), "typing-timeout")

    async def _stop_typing(self, connection: Connection, chat_id: str) -> None:
        state = connection.typing.pop(chat_id, None)
        if state is None:
            return
        state.timer.cancel()
        await self.to_others(chat_id, connection, USER_STOPPED_TYPING)

    async def _join(self, connection: Connection, chat_id: str) -> None:
        if not await self.lookups.is_member(chat_id, connection.user_id, fresh=True):
            log.info("realtime.join.not_member", chat_id=chat_id, user_id=connection.user_id)
            return
        connection.joined.pop(chat_id, None)
        connection.joined[chat_id] = None
        async with self.cache.pipeline(transaction=False) as pipe:
            while len(connection.joined) > MAX_JOINED_CHATS:
                oldest = next(iter(connection.joined))
                del connection.joined[oldest]
                pipe.zrem(self.keys.viewers(oldest), self.keys.viewer_member(connection))
            key = self.keys.viewers(chat_id)
            pipe.zadd(key, {self.keys.viewer_member(connection): time.time() + self.presence_ttl})
            pipe.expire(key, self.keys.ttl())
            await pipe.execute()
        # After the viewer is recorded: a message stored meanwhile is marked by one or the other.
        await self.directory.mark_seen_on_join(chat_id, connection.user_id, connection.identity.token)

    async def _leave(self, connection: Connection, chat_id: str) -> None:
        if chat_id not in connection.joined:
            return
        del connection.joined[chat_id]
        await self.cache.zrem(self.keys.viewers(chat_id), self.keys.viewer_member(connection))

    async def viewers(self, chat_ids: list[str]) -> dict[str, set[str]]:
        """Ids of users with a socket (on any instance) that has each chat joined right now.

        One round trip for all of them (the writer asks once per batch).
        """
        now = f"({time.time()}"
        async with self.cache.pipeline(transaction=False) as pipe:
            for chat_id in chat_ids:
                pipe.zrangebyscore(self.keys.viewers(chat_id), now, "+inf")
            found = await pipe.execute()
        return {
            chat_id: {str(member).split(":", 1)[0] for member in members}
            for chat_id, members in zip(chat_ids, found, strict=True)
        }

    async def unview(self, chat_id: str, connection: Connection) -> None:
        await self.cache.zrem(self.keys.viewers(chat_id), self.keys.viewer_member(connection))

    def stop_typing_all(self, connection: Connection) -> None:
        """The socket is gone: whatever it was typing in, the others hear that it stopped."""
        for chat_id, typing in list(connection.typing.items()):
            typing.timer.cancel()
            self.spawn(self.to_others(chat_id, connection, USER_STOPPED_TYPING), "typing-stop")
        connection.typing.clear()

    def removed_from_chat(self, chat_id: str, users: set[str]) -> None:
        """``users`` left the chat: their sockets here stop having it open and stop typing in it."""
        for connection in list(self.connections.values()):
            if connection.user_id not in users:
                continue
            if chat_id in connection.joined:
                del connection.joined[chat_id]
                self.spawn(self.unview(chat_id, connection), "unview")
            typing = connection.typing.pop(chat_id, None)
            if typing is not None:
                typing.timer.cancel()
                self.spawn(self.to_others(chat_id, connection, USER_STOPPED_TYPING), "typing-stop")
