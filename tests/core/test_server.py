"""How every process serves HTTP, tested with raw sockets: late headers, idle keep-alive
connections and too many connections are cut off; ordinary requests are not. WebSockets: a client
that offers compression still talks (in plain frames unless asked), and the handshake is let go."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import websockets
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from parley.core.server import (
    HEADER_TIMEOUT,
    KEEP_ALIVE_TIMEOUT,
    HeaderTimeoutProtocol,
    Inbox,
    LeanWebSocketProtocol,
    server_config,
)
from tests.fixtures.servers import QuietServer

# Short stand-ins for the 10 s and 30 s of production, so the tests run quickly.
HEADERS_WITHIN = 0.5
IDLE = 1
# How long a test waits for the server to close a connection it should close.
PATIENCE = 10


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    assert scope["type"] == "http"
    await Request(scope, receive).body()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@asynccontextmanager
async def serving(max_connections: int = 1000) -> AsyncIterator[int]:
    async with serving_app(
        app, max_connections=max_connections, header_timeout=HEADERS_WITHIN, keep_alive_timeout=IDLE
    ) as (port, _):
        yield port


@asynccontextmanager
async def serving_app(served: Any, **options: Any) -> AsyncIterator[tuple[int, QuietServer]]:
    """``served`` under the production configuration (with ``options``): its port, and the server."""
    config = server_config(served, host="127.0.0.1", port=0, lifespan="off", log_config=None, **options)
    server = QuietServer(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the server did not start"
        await asyncio.sleep(0.01)
    try:
        yield server.servers[0].sockets[0].getsockname()[1], server
    finally:
        server.should_exit = True
        await task


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    """The server closed the connection (EOF) within ``PATIENCE``."""
    try:
        async with asyncio.timeout(PATIENCE):
            while await reader.read(1024):
                pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return True


def request(path: str = "/", body: bytes = b"") -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


async def read_response(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    await reader.readexactly(2)
    return head


def test_production_values() -> None:
    config = server_config(app, host="127.0.0.1", port=0, max_connections=123)
    assert config.http is HeaderTimeoutProtocol
    assert HEADER_TIMEOUT == 10
    assert config.timeout_keep_alive == KEEP_ALIVE_TIMEOUT == 30
    assert config.limit_concurrency == 123
    assert config.ws is LeanWebSocketProtocol
    assert config.ws_per_message_deflate is False


async def test_a_connection_that_sends_nothing_is_closed() -> None:
    async with serving() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await closed_by_server(reader)
        writer.close()


async def test_headers_sent_a_byte_at_a_time_are_cut_off() -> None:
    async with serving() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)

        async def trickle() -> None:
            for byte in b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"a" * 1000:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.05)

        trickling = asyncio.create_task(trickle())
        try:
            assert await closed_by_server(reader)
        finally:
            trickling.cancel()
            await asyncio.gather(trickling, return_exceptions=True)
            writer.close()


async def test_a_kept_alive_connection_serves_requests_until_it_idles_out() -> None:
    async with serving() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(3):
            writer.write(request())
            assert b" 200 " in await read_response(reader)
        assert await closed_by_server(reader)
        writer.close()


async def test_a_slow_body_after_prompt_headers_is_not_cut_off() -> None:
    async with serving() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        body = b"x" * 40
        writer.write(request(body=body)[: -len(body)])
        for i in range(0, len(body), 10):
            await asyncio.sleep(HEADERS_WITHIN / 2)  # longer, in all, than the header deadline
            writer.write(body[i : i + 10])
        assert b" 200 " in await read_response(reader)
        writer.close()


async def test_past_the_connection_limit_requests_get_503() -> None:
    async with serving(max_connections=10) as port:
        idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(10)]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request())
        assert b" 503 " in await reader.readuntil(b"\r\n\r\n")
        writer.close()
        for _, w in idle:
            w.close()


@pytest.mark.parametrize("count", [200])
async def test_many_silent_connections_do_not_starve_a_request(count: int) -> None:
    async with serving() as port:
        silent = [await asyncio.open_connection("127.0.0.1", port) for _ in range(count)]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request())
        assert b" 200 " in await read_response(reader)
        writer.close()
        assert all(await asyncio.gather(*(closed_by_server(r) for r, _ in silent)))
        for _, w in silent:
            w.close()


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    assert scope["type"] == "websocket"
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    while (message := await receive())["type"] == "websocket.receive":
        await send({"type": "websocket.send", "text": message["text"]})


@asynccontextmanager
async def serving_websockets(*, deflate: bool) -> AsyncIterator[tuple[int, QuietServer]]:
    async with serving_app(echo, max_connections=100, ws_per_message_deflate=deflate) as served:
        yield served


@pytest.mark.parametrize("deflate", [False, True])
async def test_a_websocket_client_that_offers_compression_is_answered(deflate: bool) -> None:
    # Browsers always offer permessage-deflate; so does the websockets client.
    async with (
        serving_websockets(deflate=deflate) as (port, _),
        websockets.connect(f"ws://127.0.0.1:{port}/", compression="deflate") as ws,
    ):
        assert ws.response is not None
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions")
        if deflate:
            assert extensions is not None and extensions.startswith("permessage-deflate")
        else:
            assert extensions is None
        for text in ("hello", '{"chatId": "x"}' * 100):
            await ws.send(text)
            assert await ws.recv() == text


async def test_an_open_websocket_keeps_no_handshake() -> None:
    async with (
        serving_websockets(deflate=False) as (port, server),
        websockets.connect(f"ws://127.0.0.1:{port}/", additional_headers={"X-Big": "a" * 2000}) as ws,
    ):
        await ws.send("hi")
        assert await ws.recv() == "hi"
        (protocol,) = server.server_state.connections
        assert isinstance(protocol, LeanWebSocketProtocol)
        assert isinstance(protocol.queue, Inbox)
        assert not hasattr(protocol, "request")
        assert not hasattr(protocol, "response")
        # The ASGI scope keeps the request's headers for the application.
        assert (b"x-big", b"a" * 2000) in protocol.scope["headers"]


async def test_the_inbox_hands_over_in_order_and_survives_a_cancelled_reader() -> None:
    inbox = Inbox()
    assert inbox.empty()
    inbox.put_nowait(1)
    inbox.put_nowait(2)
    assert (await inbox.get(), await inbox.get(), inbox.empty()) == (1, 2, True)
    # A reader that gives up (engine.io's read times out) leaves the inbox usable.
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await inbox.get()
    reader = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    inbox.put_nowait(3)
    inbox.put_nowait(4)
    assert await reader == 3
    assert inbox.qsize() == 1
    assert await inbox.get() == 4
