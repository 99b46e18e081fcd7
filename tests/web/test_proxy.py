"""The web service's proxy: instance choice, and WebSockets relayed to a real server and back."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from parley.core.settings import SettingError, Settings
from parley.web.gateway import create_app
from parley.web.proxy import HttpProxy, split_urls, stable_index
from tests.fixtures.servers import QuietServer

A, B = "http://10.0.0.1:5002", "http://10.0.0.2:5002"


def test_a_comma_separated_list_names_every_instance() -> None:
    assert split_urls(f" {A}/ , {B}") == [A, B]
    with pytest.raises(ValueError, match="ftp"):
        split_urls(f"{A},ftp://nope")


def test_a_bad_instance_url_stops_the_web_service_naming_the_variable() -> None:
    settings = Settings(env_file=False, chat_service=f"{A},nope")
    with pytest.raises(SettingError, match="CHAT_SERVICE"):
        create_app(settings)


def test_socket_io_is_sticky_by_client_address_and_the_rest_round_robin() -> None:
    proxy = HttpProxy(f"{A},{B}")
    addresses = [f"192.0.2.{n}" for n in range(40)]
    first = [proxy.pick("/socket.io/", a) for a in addresses]
    # The same client always reaches the same instance, and clients spread over both.
    assert [proxy.pick("/socket.io/", a) for a in addresses] == first
    assert set(first) == {0, 1}
    assert first == [stable_index(a, 2) for a in addresses]
    assert [proxy.pick("/api/v1/chat/all", "192.0.2.1") for _ in range(4)] in ([0, 1, 0, 1], [1, 0, 1, 0])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    port = free_port()
    server = QuietServer(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), "the server did not start"
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


class Upstream:
    """A WebSocket server that reports what it saw and does what the client asks."""

    def __init__(self) -> None:
        self.client_close: asyncio.Future[int] | None = None

    async def endpoint(self, ws: WebSocket) -> None:
        if ws.query_params.get("refuse"):
            await ws.close(code=1008)
            return
        self.client_close = asyncio.get_running_loop().create_future()
        offered = ws.scope.get("subprotocols") or []
        await ws.accept(subprotocol=offered[0] if offered else None)
        await ws.send_json(
            {
                "path": ws.url.path,
                "query": ws.url.query,
                "authorization": ws.headers.get("authorization"),
                "forwarded_for": ws.headers.get("x-forwarded-for"),
                "request_id": ws.headers.get("x-request-id"),
                "cookie": ws.headers.get("cookie"),
            }
        )
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    self.client_close.set_result(message.get("code", 1000))
                    return
                if message.get("text") == "close please":
                    await ws.close(code=4001, reason="asked to")
                    return
                if message.get("bytes") is not None:
                    await ws.send_bytes(message["bytes"][::-1])
                else:
                    await ws.send_text(str(message.get("text")).upper())
        except WebSocketDisconnect as exc:
            self.client_close.set_result(exc.code)


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[Upstream, str]]:
    fake = Upstream()
    app = Starlette(routes=[WebSocketRoute("/socket.io/", fake.endpoint)])
    async with serving(app) as url:
        yield fake, url


@pytest.fixture
async def proxied(upstream: tuple[Upstream, str]) -> AsyncIterator[str]:
    proxy = HttpProxy(upstream[1])
    try:
        async with serving(proxy) as url:
            yield "ws" + url.removeprefix("http")
    finally:
        await proxy.close()


async def test_frames_headers_and_subprotocol_pass_both_ways(
    upstream: tuple[Upstream, str], proxied: str
) -> None:
    async with connect(
        f"{proxied}/socket.io/?EIO=4&transport=websocket",
        subprotocols=["parley.v1"],  # type: ignore[list-item]
        additional_headers={
            "Authorization": "Bearer abc",
            "X-Request-ID": "trace-42",
            "Cookie": "a=b",
        },
    ) as ws:
        assert ws.subprotocol == "parley.v1"
        seen = json.loads(await ws.recv())
        assert seen["path"] == "/socket.io/"
        assert seen["query"] == "EIO=4&transport=websocket"
        assert seen["authorization"] == "Bearer abc"
        assert seen["forwarded_for"] == "127.0.0.1"
        assert seen["request_id"] == "trace-42"
        assert seen["cookie"] == "a=b"
        await ws.send("hello")
        assert await ws.recv() == "HELLO"
        await ws.send(b"\x01\x02\x03")
        assert await ws.recv() == b"\x03\x02\x01"
        # Many frames at once arrive complete and in order.
        for n in range(200):
            await ws.send(f"m{n}")
        assert [await ws.recv() for _ in range(200)] == [f"M{n}" for n in range(200)]


async def test_the_servers_close_code_reaches_the_client(proxied: str) -> None:
    async with connect(f"{proxied}/socket.io/") as ws:
        await ws.recv()
        await ws.send("close please")
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4001, "asked to")


async def test_the_clients_close_code_reaches_the_server(
    upstream: tuple[Upstream, str], proxied: str
) -> None:
    async with connect(f"{proxied}/socket.io/") as ws:
        await ws.recv()
        await ws.close(code=4002, reason="leaving")
    assert upstream[0].client_close is not None
    assert await asyncio.wait_for(upstream[0].client_close, 5) == 4002


async def test_a_refused_upgrade_is_refused_to_the_client(proxied: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{proxied}/socket.io/?refuse=1"):
            pass
    assert refused.value.response.status_code == 403


async def test_an_upstream_that_is_down_refuses_the_upgrade() -> None:
    proxy = HttpProxy(f"http://127.0.0.1:{free_port()}")
    try:
        async with serving(proxy) as url:
            with pytest.raises(InvalidStatus):
                async with connect("ws" + url.removeprefix("http") + "/socket.io/"):
                    pass
    finally:
        await proxy.close()


async def test_the_path_reaches_the_service_as_sent_and_dot_segments_are_refused() -> None:
    seen: list[tuple[bytes, bytes]] = []

    async def service(scope: Any, receive: Any, send: Any) -> None:
        seen.append((scope["raw_path"], scope["query_string"]))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async with serving(service) as service_url:
        proxy = HttpProxy(service_url)
        try:
            async with serving(proxy) as url, httpx.AsyncClient(base_url=url) as client:
                # An encoded "?" stays part of the path; it used to make the proxy answer 500.
                response = await client.get("/api/v1/user/a%3Fb%2Fc", params={"q": "x y"})
                assert response.status_code == 200
                assert seen == [(b"/api/v1/user/a%3Fb%2Fc", b"q=x+y")]
                # A normalised path could reach what the proxy does not route: refused, never sent.
                for path in ("/api/v1/user/../../metrics", "/api/v1/user/%2e%2e/%2e%2e/readyz"):
                    status, body = await raw_get(url, path)  # clients normalise; an attacker need not
                    assert status == 400, path
                    assert json.loads(body)["message"] == "Invalid request path"
                assert len(seen) == 1
        finally:
            await proxy.close()


async def test_repeated_response_headers_reach_the_client_one_by_one() -> None:
    async def service(scope: Any, receive: Any, send: Any) -> None:
        headers = [
            (b"set-cookie", b"parley_session=t; Path=/; HttpOnly; SameSite=strict"),
            (b"set-cookie", b"parley_csrf=c; Path=/; SameSite=strict"),
            (b"content-type", b"application/json"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"{}"})

    async with serving(service) as service_url:
        proxy = HttpProxy(service_url)
        try:
            async with serving(proxy) as url, httpx.AsyncClient(base_url=url) as client:
                response = await client.post("/api/v1/verify")
                assert response.headers.get_list("set-cookie") == [
                    "parley_session=t; Path=/; HttpOnly; SameSite=strict",
                    "parley_csrf=c; Path=/; SameSite=strict",
                ]
                assert response.cookies["parley_session"] == "t"
                assert response.cookies["parley_csrf"] == "c"
                assert response.headers["content-type"] == "application/json"
                assert response.headers["x-request-id"]
        finally:
            await proxy.close()


async def raw_get(url: str, path: str) -> tuple[int, bytes]:
    """GET ``path`` exactly as written, over a plain socket."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        response = await reader.read()
    finally:
        writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split()[1]), body
