"""The real-time layer: Socket.IO v4 at ``/socket.io/`` on the chat service.

One :class:`Realtime` per chat-service instance. It authenticates sockets with the same tokens as
the HTTP API, delivers the chat service's events to every socket of each recipient (across
instances, through a Redis or RabbitMQ client manager), relays typing, tracks which chats are open
(so new messages there count as seen) and keeps presence in the cache, where it outlives a crashed
instance by at most ``presence_ttl`` seconds.

Integration in the chat app's lifespan is a few lines::

    realtime = Realtime(tokens=tokens, cache=cache, directory=directory, client_manager_url=...)
    app.mount("/socket.io", realtime.asgi_app)          # or route /socket.io/ to it
    app.state.events, app.state.viewers = realtime.sink, realtime.viewers
    await realtime.start()
    ...
    await realtime.stop()

:class:`Realtime` is the composition root: it owns the Socket.IO server, the lifecycle, the
heartbeat and the background tasks, and wires the parts, each handed ``emit``/``spawn`` and the
lookups it needs: :class:`~.sessions.Sessions` (connect, disconnect, revocations),
:class:`~.presence.Presence` (online users and lists), :class:`~.client_events.ClientEvents`
(what sockets send), :class:`~.delivery.Delivery` (the service's events out, on every instance)
and :class:`~.lookups.Lookups` (members, memberships, contacts, cached).

Cache keys (all under ``key_prefix``, named by :class:`~.connections.Keys`):

``presence:{user}``
    sorted set of ``{instance}:{sid}``, each scored by the time it expires unless its instance
    refreshes it (every ``heartbeat`` seconds). A user is online while any score is in the future.
``presence:index``
    sorted set of user ids scored by the latest expiry of any of their sockets; every instance
    sweeps the entries that are past due, so users of a crashed instance go offline and their
    contacts are told.
``viewers:{chat}``
    sorted set of ``{user}:{instance}:{sid}`` for sockets that have the chat joined, scored the same way.

Presence announcements always carry the *full* list, recomputed from the cache when sent. So an
online/offline transition only decides *when* contacts hear about a change, never *what* they
hear: a duplicate or spurious announcement is harmless, which keeps the bookkeeping free of locks."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

import socketio
import structlog
from redis.asyncio import Redis

from parley.chat.events import Event, EventSink
from parley.chat.realtime.client_events import ClientEvents
from parley.chat.realtime.connections import Connection, Keys
from parley.chat.realtime.delivery import Delivery, RealtimeSink
from parley.chat.realtime.fanout import client_managers, close_manager
from parley.chat.realtime.lookups import Lookups
from parley.chat.realtime.presence import Presence
from parley.chat.realtime.protocol import Directory
from parley.chat.realtime.sessions import Sessions
from parley.chat.realtime.wire import JsonPacket
from parley.core.auth import Tokens

log = structlog.get_logger(__name__)


class Realtime:
    """Socket.IO for one chat-service instance; see the module's documentation."""

    def __init__(
        self,
        *,
        tokens: Tokens,
        cache: Redis,
        directory: Directory,
        client_manager_url: str | None,
        cors_origins: list[str] | str = "*",
        presence_ttl: float = 30,
        heartbeat: float = 10,
        typing_timeout: float = 5,
        typing_throttle: float = 1,
        membership_ttl: float = 5,
        contacts_ttl: float = 2,
        event_rate: float = 20,
        event_burst: int = 40,
        flood_grace: float = 5,
        max_sockets_per_user: int = 20,
        key_prefix: str = "parley:rt:",
        channel: str | None = None,
    ) -> None:
        if heartbeat >= presence_ttl:
            raise ValueError("heartbeat must be shorter than presence_ttl")
        self.tokens = tokens
        self.cache = cache
        self.directory = directory
        self.presence_ttl = presence_ttl
        self.heartbeat = heartbeat
        self.typing_timeout = typing_timeout
        self.typing_throttle = typing_throttle
        self.membership_ttl = membership_ttl
        self.contacts_ttl = contacts_ttl
        self.event_rate = event_rate
        self.event_burst = event_burst
        self.flood_grace = flood_grace
        self.max_sockets_per_user = max_sockets_per_user
        self.prefix = key_prefix
        self.instance = secrets.token_hex(6)
        self.keys = Keys(key_prefix, self.instance, presence_ttl)
        self.lookups = Lookups(directory, membership_ttl=membership_ttl, contacts_ttl=contacts_ttl)

        manager, self._publisher = client_managers(client_manager_url, channel)
        self.sio: Any = socketio.AsyncServer(
            async_mode="asgi",
            client_manager=manager,
            cors_allowed_origins=cors_origins,
            logger=False,
            engineio_logger=False,
            # Clients send only small JSON objects.
            max_http_buffer_size=64 * 1024,
            serializer=JsonPacket,
        )
        self.asgi_app: Any = socketio.ASGIApp(self.sio, socketio_path="socket.io")

        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._unwatch_revocations: Callable[[], None] = lambda: None
        self._background: set[asyncio.Task[Any]] = set()
        self._requests: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self._closed = False

        # The parts, each handed what it calls (emit, spawn, lookups) rather than this object.
        # This instance's sockets, by sid: the sessions add and remove them, the others read them.
        self._connections: dict[str, Connection] = {}
        self.presence = Presence(
            cache=cache,
            keys=self.keys,
            directory=directory,
            presence_ttl=presence_ttl,
            connections=self._connections,
            contacts_of=self.lookups.contacts_of,
            emit=self._emit,
            spawn=self._spawn,
        )
        self.client_events = ClientEvents(
            cache=cache,
            keys=self.keys,
            directory=directory,
            tokens=tokens,
            lookups=self.lookups,
            connections=self._connections,
            presence_ttl=presence_ttl,
            typing_timeout=typing_timeout,
            typing_throttle=typing_throttle,
            emit=self._emit,
            spawn=self._spawn,
            disconnect_later=self._disconnect_later,
        )
        self.sessions = Sessions(
            sio=self.sio,
            tokens=tokens,
            cache=cache,
            keys=self.keys,
            presence=self.presence,
            connections=self._connections,
            event_rate=event_rate,
            event_burst=event_burst,
            flood_grace=flood_grace,
            max_sockets_per_user=max_sockets_per_user,
            is_stopping=lambda: self._stopping,
            spawn=self._spawn,
            disconnect_later=self._disconnect_later,
            stop_typing=self.client_events.stop_typing_all,
        )
        self.delivery = Delivery(
            sio=self.sio,
            publisher=self._publisher,
            lookups=self.lookups,
            is_closed=lambda: self._closed,
            spawn=self._spawn,
            online=self.presence.online,
            refresh_lists=self.presence.refresh_lists,
            removed_from_chat=self.client_events.removed_from_chat,
        )
        if manager is not None:
            manager.on_event = self.delivery.heard
        self.sink: EventSink = RealtimeSink(self.delivery)
        self.sio.on("connect", self.sessions.on_connect)
        self.sio.on("disconnect", self.sessions.on_disconnect)
        self.client_events.register(self.sio)

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Start the client manager, the heartbeat (presence, sweep) and the revocation listener."""
        self._stopping = False
        self._closed = False
        if not self.sio.manager_initialized:
            # Normally done on the first connection; early, so this instance hears other
            # instances' events and fails now rather than later if the manager cannot connect.
            self.sio.manager_initialized = True
            self.sio.manager.initialize()
            await self._await_manager_subscription()
        # Every revocation this process learns (published, its own, or a resync) closes its sockets.
        self._unwatch_revocations = self.tokens.revocations.watch(self.sessions.revoked)
        self._tasks["heartbeat"] = asyncio.create_task(self._heartbeat_loop())
        log.info("realtime.started", instance=self.instance)

    async def drain(self, timeout: float = 5) -> None:
        """Let go of the clients: refuse new sockets, close this instance's (their clients
        reconnect, to another instance during a rolling restart), remove their presence and end
        held long-polls.

        Events still go out (to the other instances' sockets) until :meth:`stop`, so requests
        that finish meanwhile are delivered. The server calls this as soon as it stops taking
        connections; the lifespan's :meth:`stop` calls it too, and the second call does nothing.
        """
        if self._stopping:
            return
        self._stopping = True
        # Closing the Engine.IO transport (rather than a Socket.IO disconnect) lets clients
        # reconnect, to another instance during a rolling restart.
        closing = [
            asyncio.create_task(self.sessions.close_transport(sid))
            for sid in list(self._connections)
            if self.sessions.eio_sid(sid) is not None
        ]
        if closing:
            await asyncio.wait(closing, timeout=timeout)
        for sid in list(self._connections):
            # Whatever did not go through the disconnect handler (a stalled transport).
            self.sessions.forget(sid)
        # Their presence goes in a few round trips, a few hundred sockets each (not one pipeline
        # per socket at once: thousands of them exhausted the cache's pool); users left with no
        # socket anywhere are announced offline in the background, before stop() ends.
        await self.sessions.released(timeout)
        # Engine.IO sessions with no Socket.IO connection left, and long-polls whose session is
        # gone (a client that went away mid-poll), would hold their request, and the server's
        # shutdown, until the next ping: close what is left and end those requests.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.sio.eio.disconnect(), timeout)
        for request in list(self._requests):
            request.cancel()

    async def stop(self, timeout: float = 5) -> None:
        """Drain, end this instance's presence and background work, close the managers."""
        if self._closed:
            return
        self._unwatch_revocations()
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self.drain(timeout)
        if self._background:
            await asyncio.wait(list(self._background), timeout=timeout)
        # From here on nothing is emitted: a late handler must not reopen the managers' connections.
        self._closed = True
        for task in list(self._background):
            task.cancel()
        await self.sio.shutdown()
        await close_manager(self.sio.manager)
        if self._publisher is not None:
            await close_manager(self._publisher)
        log.info("realtime.stopped", instance=self.instance)

    async def serve(self, scope: Any, receive: Any, send: Any) -> None:
        """The ASGI entry for ``/socket.io/``; :meth:`drain` ends the requests still held."""
        task = asyncio.current_task()
        started = False

        async def tracked(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        if task is not None:
            self._requests.add(task)
        try:
            await self.asgi_app(scope, receive, tracked)
        except asyncio.CancelledError:
            if task is None or not self._stopping or scope["type"] != "http":
                raise
            # A long-poll ended by drain(): answer it; the client reconnects elsewhere.
            task.uncancel()
            if not started:
                await send(
                    {"type": "http.response.start", "status": 503, "headers": [(b"retry-after", b"1")]}
                )
                await send({"type": "http.response.body", "body": b""})
        finally:
            if task is not None:
                self._requests.discard(task)

    async def _await_manager_subscription(self, timeout: float = 5) -> None:
        """With Redis, wait until the manager listens, so no event published from now on is missed."""
        manager = self.sio.manager
        if not isinstance(manager, socketio.AsyncRedisManager):
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pubsub = getattr(manager, "pubsub", None)
            if pubsub is not None and getattr(pubsub, "subscribed", False):
                return
            await asyncio.sleep(0.01)
        log.warning("realtime.manager.not_subscribed", instance=self.instance)

    def _spawn(self, coro: Coroutine[Any, Any, Any], what: str) -> asyncio.Task[None] | None:
        """Run ``coro`` in the background; its failure is logged, never raised."""
        if self._closed:
            coro.close()
            return None

        async def guarded() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("realtime.task.failed", task=what, error=f"{type(exc).__name__}: {exc}")

        task = asyncio.create_task(guarded())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def _disconnect_later(self, sid: str) -> None:
        self._spawn(self.sio.disconnect(sid, ignore_queue=True), "disconnect")

    # ---------------------------------------------------------------- heartbeat

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            try:
                await self.beat()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("realtime.heartbeat.failed", error=f"{type(exc).__name__}: {exc}")

    async def beat(self) -> None:
        """One heartbeat: refresh this instance's presence and viewers, sweep expired users, drop dead sockets."""
        now = time.time()
        expires = now + self.presence_ttl
        ttl = self.keys.ttl()
        connections = list(self._connections.values())
        async with self.cache.pipeline(transaction=False) as pipe:
            chats: set[str] = set()
            for connection in connections:
                key = self.keys.presence(connection.user_id)
                pipe.zadd(key, {self.keys.socket_member(connection.sid): expires})
                pipe.expire(key, ttl)
                pipe.zadd(self.keys.index, {connection.user_id: expires}, gt=True)
                for chat_id in connection.joined:
                    pipe.zadd(self.keys.viewers(chat_id), {self.keys.viewer_member(connection): expires})
                    chats.add(chat_id)
            for chat_id in chats:
                pipe.zremrangebyscore(self.keys.viewers(chat_id), "-inf", now)
                pipe.expire(self.keys.viewers(chat_id), ttl)
            await pipe.execute()
        await self.presence.sweep(now)
        await self.sessions.drop_dead_sockets(connections, now)
        self._prune_caches()

    def _prune_caches(self) -> None:
        self.lookups.prune()
        self.presence.prune()

    # ---------------------------------------------------------------- queries and server events

    async def online(self, user_ids: Iterable[str]) -> list[str]:
        """Those of ``user_ids`` with a live socket on any instance, in the order given."""
        return await self.presence.online(user_ids)

    async def is_online(self, user_id: str) -> bool:
        return await self.presence.is_online(user_id)

    async def viewers(self, chat_ids: list[str]) -> dict[str, set[str]]:
        """Ids of users with a socket (on any instance) that has each chat joined right now."""
        return await self.client_events.viewers(chat_ids)

    async def _emit(self, event: str, data: Any, **target: Any) -> None:
        """``sio.emit`` unless this instance has stopped."""
        if not self._closed:
            await self.sio.emit(event, data, **target)

    async def deliver(self, event: str, payload: dict[str, Any], to_users: list[str]) -> None:
        """Emit ``event`` to every socket of each of ``to_users``, on every instance."""
        await self.delivery.deliver(event, payload, to_users)

    async def deliver_batch(self, events: list[Event]) -> None:
        """Emit several events, in order, with one publish to every instance."""
        await self.delivery.deliver_batch(events)
