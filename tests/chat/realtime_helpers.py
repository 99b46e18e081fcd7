"""A test bed for the real-time layer: real uvicorn servers, real Socket.IO clients, a fake directory.

The real-time layer is tested on its own, without the chat service: each :class:`Instance` is a
tiny Starlette app that mounts a :class:`Realtime` at ``/socket.io``, served by uvicorn on a free
port of 127.0.0.1; a :class:`FakeDirectory` plays the chat service (a dict of chats).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import fakeredis
import socketio
import uvicorn
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.routing import Mount

from parley.chat.realtime import Realtime
from parley.core.auth import Identity, Tokens
from parley.core.cache import create_cache
from parley.core.ids import new_id
from tests.fixtures.backends import REDIS_BASE_URLS, per_worker_redis_url
from tests.fixtures.servers import start_server

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_URL = per_worker_redis_url(REDIS_BASE_URLS["TEST_REALTIME_REDIS_URL"])


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5, what: str = "") -> None:
    """Poll ``check`` until it holds (for state with no event to await), failing after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what or 'the condition'}")
        await asyncio.sleep(0.02)


@dataclass
class FakeDirectory:
    """The chat service as the real-time layer sees it: chats and their members."""

    chats: dict[str, set[str]] = field(default_factory=dict)
    seen: list[tuple[str, str]] = field(default_factory=list)
    seen_changed: asyncio.Event = field(default_factory=asyncio.Event)

    def add_chat(self, *user_ids: str) -> str:
        chat_id = new_id()
        self.chats[chat_id] = set(user_ids)
        return chat_id

    async def is_member(self, chat_id: str, user_id: str) -> bool:
        return user_id in self.chats.get(chat_id, set())

    async def contacts(self, user_id: str) -> list[str]:
        found: set[str] = set()
        for members in self.chats.values():
            if user_id in members:
                found |= members
        found.discard(user_id)
        return sorted(found)

    async def chat_members(self, chat_id: str) -> list[str]:
        return sorted(self.chats.get(chat_id, set()))

    async def mark_seen_on_join(self, chat_id: str, user_id: str, token: str | None = None) -> None:
        self.seen.append((chat_id, user_id))
        self.seen_changed.set()

    async def blocks_of(self, identity: Identity, user_ids: list[str]) -> tuple[set[str], set[str]]:
        return set(), set()

    async def send_message(self, identity: Identity, payload: Any) -> dict[str, Any]:
        raise NotImplementedError("sendMessage is tested through the real chat service")


class Peer:
    """A Socket.IO client that records, in order, every event it receives."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.client = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self.disconnected = asyncio.Event()
        self.refusal: Any = None
        self._changed = asyncio.Condition()
        self.client.on("*", self._record)
        self.client.on("disconnect", self._on_disconnect)
        self.client.on("connect_error", self._on_refused)

    async def _record(self, event: str, *args: Any) -> None:
        async with self._changed:
            self.events.append((event, args[0] if len(args) == 1 else list(args)))
            self._changed.notify_all()

    async def _on_disconnect(self, *args: Any) -> None:
        self.disconnected.set()

    async def _on_refused(self, data: Any = None) -> None:
        self.refusal = data

    async def connect(
        self,
        token: str | None,
        *,
        auth: dict[str, Any] | None = None,
        transports: tuple[str, ...] = ("websocket",),
        query: str = "",
    ) -> Peer:
        if auth is None and token is not None:
            auth = {"token": token}
        await self.client.connect(
            self.base_url + query,
            auth=auth,
            transports=list(transports),
            socketio_path="socket.io",
            wait_timeout=5,
        )
        return self

    async def emit(self, event: str, *args: Any) -> None:
        await self.client.emit(event, args[0] if len(args) == 1 else args)

    async def call(self, event: str, data: Any, timeout: float = 5) -> Any:
        """Emit and wait for the server's acknowledgement (sent once its handler finished)."""
        return await self.client.call(event, data, timeout=timeout)

    def _find(self, event: str, where: Callable[[Any], bool] | None, after: int) -> int | None:
        for index in range(after, len(self.events)):
            name, payload = self.events[index]
            if name == event and (where is None or where(payload)):
                return index
        return None

    async def wait_for(
        self,
        event: str,
        where: Callable[[Any], bool] | None = None,
        *,
        after: int = 0,
        timeout: float = 3,
    ) -> int:
        """The position of the first ``event`` (matching ``where``) at or after ``after``; awaits it."""

        async def arrived() -> int:
            async with self._changed:
                await self._changed.wait_for(lambda: self._find(event, where, after) is not None)
                found = self._find(event, where, after)
                assert found is not None
                return found

        try:
            return await asyncio.wait_for(arrived(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"no {event} within {timeout}s; received {[name for name, _ in self.events[after:]]}"
            ) from None

    async def payload(self, event: str, where: Callable[[Any], bool] | None = None, **kw: Any) -> Any:
        return self.events[await self.wait_for(event, where, **kw)][1]

    async def collect(self, event: str, count: int, *, after: int = 0, timeout: float = 5) -> list[Any]:
        """The first ``count`` payloads of ``event`` after ``after``, in the order received."""
        index = after - 1
        for _ in range(count):
            index = await self.wait_for(event, after=index + 1, timeout=timeout)
        return self.named(event, after=after, before=index + 1)

    def named(self, event: str, *, after: int = 0, before: int | None = None) -> list[Any]:
        """Payloads of ``event`` received in ``[after, before)``."""
        return [p for name, p in self.events[after:before] if name == event]

    @property
    def mark(self) -> int:
        return len(self.events)

    async def close(self) -> None:
        """Close promptly.

        Over long-polling the Python client's clean close posts its CLOSE, then waits for the
        server to answer the pending poll, which the server keeps until its ping interval (25 s);
        browsers do not wait for it. So: post the CLOSE, let the server take it, then drop the
        pending poll.
        """
        eio = self.client.eio
        if self.client.connected and self.client.transport() == "polling":
            closing = asyncio.create_task(self.client.disconnect())
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(eio.write_loop_task), 5)
            eio.read_loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await closing
            if eio.http is not None and not eio.http.closed:
                await eio.http.close()
        with contextlib.suppress(Exception):
            await self.client.disconnect()
        with contextlib.suppress(Exception):
            await self.client.shutdown()


@dataclass
class Instance:
    """One chat-service instance as far as real time goes: a Realtime behind its own uvicorn."""

    realtime: Realtime
    server: uvicorn.Server
    task: asyncio.Task[None]
    url: str
    killed: bool = False
    stopped: bool = False

    async def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        await self.realtime.stop()
        if self.killed:
            # The serving task is gone; close what it left open.
            await self.server.shutdown()
            return
        self.server.should_exit = True
        await asyncio.wait_for(self.task, 15)

    async def kill(self) -> None:
        """A crash: the process stops beating and serving, without any clean-up of its state."""
        self.killed = True
        tasks = [*self.realtime._tasks.values(), self.task]
        listener = getattr(self.realtime.sio.manager, "thread", None)
        if isinstance(listener, asyncio.Task):
            tasks.append(listener)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.realtime._tasks.clear()


async def start_instance(realtime: Realtime) -> Instance:
    app = Starlette(routes=[Mount("/socket.io", app=realtime.asgi_app)])
    await realtime.start()
    return Instance(realtime, *await start_server(app, lifespan=True, start_timeout=10))


@dataclass
class User:
    id: str
    token: str


class Bed:
    """Everything one test needs: a cache, tokens, a directory, instances, users and peers."""

    def __init__(self, kind: str, cache: Redis) -> None:
        self.kind = kind
        self.cache = cache
        self.secret = "realtime-test-" + secrets.token_hex(16)
        self.tokens = Tokens(cache, secret=self.secret)
        self.directory = FakeDirectory()
        self.tag = secrets.token_hex(4)
        self.instances: list[Instance] = []
        self.peers: list[Peer] = []
        self.clients: list[Redis] = []

    @property
    def real(self) -> bool:
        return self.kind == "real"

    def user(self, name: str = "user") -> User:
        user_id = new_id()
        email = f"{name}-{user_id[-6:]}@example.com"
        return User(user_id, self.tokens.issue({"_id": user_id, "name": name, "email": email}))

    async def instance(self, **options: Any) -> Instance:
        """A new instance; with a real Redis, instances of one test share its client manager channel."""
        defaults: dict[str, Any] = {
            "client_manager_url": REDIS_URL if self.real else None,
            "key_prefix": f"parley:rt:test:{self.tag}:",
            "channel": f"parley:socketio:test:{self.tag}",
        }
        cache = options.pop("cache", self.cache)
        realtime = Realtime(
            tokens=self.tokens, cache=cache, directory=self.directory, **{**defaults, **options}
        )
        instance = await start_instance(realtime)
        self.instances.append(instance)
        return instance

    def cache_client(self, *, max_connections: int) -> Redis:
        """Another client of this bed's cache, whose pool opens at most ``max_connections``."""
        pool = self.cache.connection_pool
        client = Redis(
            connection_pool=type(pool)(
                connection_class=pool.connection_class,
                max_connections=max_connections,
                **pool.connection_kwargs,
            )
        )
        self.clients.append(client)
        return client

    def peer(self, instance: Instance) -> Peer:
        peer = Peer(instance.url)
        self.peers.append(peer)
        return peer

    async def connect(self, instance: Instance, user: User) -> Peer:
        return await self.peer(instance).connect(user.token)

    async def close(self) -> None:
        await asyncio.gather(*(peer.close() for peer in self.peers))
        for instance in self.instances:
            await instance.stop()
        for client in self.clients:
            await client.aclose(close_connection_pool=True)


def memory_cache() -> Redis:
    """A fresh in-process cache of its own."""
    return fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer(), decode_responses=True)


def real_cache() -> Redis:
    return create_cache(REDIS_URL)
