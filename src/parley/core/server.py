"""How every Parley process serves HTTP: uvicorn with bounded waits and a bounded number of connections.

uvicorn closes a keep-alive connection that stays idle (``timeout_keep_alive``) and answers 503
past ``limit_concurrency``, but it has no deadline for a request's headers: a client that opens a
connection and sends nothing, or a header a byte at a time, would hold it for ever.
:class:`HeaderTimeoutProtocol` adds that deadline.

WebSockets are held by the thousand on a chat instance, so what each one keeps counts
(docs/performance.md, "Idle sockets: where the memory goes"): :class:`LeanWebSocketProtocol` lets
go of the handshake once answered, and per-message deflate, whose compressor keeps about 50 KiB per
connection, is off unless ``ws_per_message_deflate`` asks for it.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

# A request's headers must be complete this many seconds after the connection opens, or after
# the first byte of the next request on a kept-alive connection.
HEADER_TIMEOUT = 10.0
# How long a kept-alive connection may sit idle between requests.
KEEP_ALIVE_TIMEOUT = 30
# The largest header block read (h11's default is 16 KiB; httptools has its own 80 KiB bound).
MAX_HEADER_BYTES = 64 * 1024


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol that closes a connection whose request headers are late."""

    header_timeout: float = HEADER_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        # The first byte of a request (the next one, on a kept-alive connection).
        super().on_message_begin()
        if self._header_deadline is None:
            self._arm_header_deadline()

    def on_headers_complete(self) -> None:
        self._disarm_header_deadline()
        super().on_headers_complete()

    def _arm_header_deadline(self) -> None:
        self._header_deadline = self.loop.call_later(self.header_timeout, self._headers_late)

    def _disarm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_late(self) -> None:
        self._header_deadline = None
        waiting = self.cycle is None or self.cycle.response_complete
        if waiting and not self.transport.is_closing():
            self.transport.close()


class Inbox:
    """What a WebSocket connection received, for its application: first in, first out.

    The part of :class:`asyncio.Queue` uvicorn's websocket protocol uses (``put_nowait``, ``get``,
    ``empty``), for one reader at a time (the application's ``receive``): a list and a future
    where an ``asyncio.Queue`` keeps four deques (about 2.5 KiB) per connection.
    """

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)

    async def get(self) -> Any:
        while not self._items:
            waiter = self._waiter
            if waiter is None or waiter.done():
                # A reader cancelled while waiting leaves a cancelled future: the next one starts afresh.
                waiter = self._waiter = asyncio.get_running_loop().create_future()
            await waiter
        return self._items.pop(0)


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O websockets protocol, lighter per connection.

    uvicorn keeps the parsed upgrade request and its 101 response, headers and all (about 4 KiB),
    for the connection's life, though nothing reads them after the handshake: the ASGI scope,
    which the application holds, has the request's headers. They go once the handshake is
    answered (the request's headers are emptied too, as websockets' frame parser keeps the request
    itself as long as the connection lasts). Received events wait in an :class:`Inbox`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = Inbox()  # type: ignore[assignment]

    async def send(self, message: Any) -> None:
        await super().send(message)
        if self.handshake_complete:
            request = self.__dict__.pop("request", None)
            if request is not None:
                request.headers.clear()
            self.__dict__.pop("response", None)


def server_config(
    app: Any,
    *,
    host: str,
    port: int,
    max_connections: int,
    header_timeout: float = HEADER_TIMEOUT,
    keep_alive_timeout: int = KEEP_ALIVE_TIMEOUT,
    ws_per_message_deflate: bool = False,
    **options: Any,
) -> uvicorn.Config:
    """The uvicorn configuration every Parley process runs with (``options`` add to it).

    ``ws_per_message_deflate`` offers WebSocket clients compressed frames (browsers ask for it);
    off, they get plain frames and the connection no compressor and decompressor to keep.
    """
    protocol: type[HeaderTimeoutProtocol] = HeaderTimeoutProtocol
    if header_timeout != HEADER_TIMEOUT:

        class ShorterHeaderTimeout(HeaderTimeoutProtocol):
            pass

        ShorterHeaderTimeout.header_timeout = header_timeout
        protocol = ShorterHeaderTimeout
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol,
        timeout_keep_alive=keep_alive_timeout,
        limit_concurrency=max_connections,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        ws=LeanWebSocketProtocol,
        ws_per_message_deflate=ws_per_message_deflate,
        **options,
    )


def tune_gc() -> None:
    """Collect garbage less often in a serving process.

    A service allocates many short-lived containers per request, message and socket packet; at
    CPython's default (a young-generation pass every 700 allocations) the collector ran on the
    order of once per message. Everything loaded at start (modules, the app, settings) is moved
    out of the collector's sight with ``gc.freeze``, and the young generation holds 50,000
    objects before it is examined: the same garbage is found, in fewer, larger passes.
    """
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(50_000, middle, old)
