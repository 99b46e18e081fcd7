"""A small reverse proxy for ``parley serve web`` in front of separate service processes.

HTTP requests and WebSocket connections are both forwarded. A service may run as several
instances (``CHAT_SERVICE=http://chat-1:5002,http://chat-2:5002``): requests are spread over them
round-robin, except below a sticky prefix (``/socket.io``), where a client always reaches the same
instance (a stable hash of its address), because Socket.IO's long-polling keeps its session in the
instance that opened it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Sequence
from typing import Any

import httpx
import structlog
from starlette.background import BackgroundTask
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.types import Message, Receive, Scope, Send
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

from parley.core import context
from parley.core.metrics import HTTP_REQUESTS

log = structlog.get_logger(__name__)

# Hop-by-hop headers belong to one connection and are never forwarded (RFC 9110, 7.6.1).
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}
# The WebSocket handshake is made afresh by the proxy's own client (RFC 6455, 4.1).
WEBSOCKET_HANDSHAKE = {
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
    "sec-websocket-protocol",
    "sec-websocket-accept",
}
# The request's length is kept (some servers read exactly Content-Length bytes); the response's is
# recomputed, and the proxy's own server adds Date and Server.
REQUEST_DROP = HOP_BY_HOP - {"content-length"}
RESPONSE_DROP = HOP_BY_HOP | {"date", "server"}
# Headers the proxy sets itself.
SET_BY_PROXY = {"x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-request-id"}
STICKY_PREFIXES = ("/socket.io",)
# Where the gateway leaves the routing prefix a request matched (its metrics label).
ROUTE_KEY = "parley.route"

# Close codes that are never sent in a close frame (RFC 6455, 7.4.1).
_RESERVED_CLOSE = {1005, 1006, 1015}


def split_urls(base_urls: str | Sequence[str]) -> list[str]:
    """``"http://a, http://b"`` (or a list) as ``["http://a", "http://b"]``."""
    items = base_urls.split(",") if isinstance(base_urls, str) else list(base_urls)
    urls = [u.strip().rstrip("/") for u in items if u.strip()]
    if not urls:
        raise ValueError("no upstream URL")
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"not an http:// or https:// URL: {url}")
    return urls


def stable_index(key: str, size: int) -> int:
    """The same ``key`` always gives the same index (across processes and restarts)."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % size


def _close_code(code: int | None) -> int:
    return 1000 if code is None or code in _RESERVED_CLOSE else code


class HttpProxy:
    """Forwards HTTP requests and WebSocket connections to one of ``base_urls``, streaming both ways."""

    def __init__(
        self,
        base_urls: str | Sequence[str],
        *,
        trust_forwarded_for: bool = False,
        sticky_prefixes: Sequence[str] = STICKY_PREFIXES,
        open_timeout: float = 10.0,
    ) -> None:
        self.base_urls = split_urls(base_urls)
        self.base_url = self.base_urls[0]
        self.trust_forwarded_for = trust_forwarded_for
        self.sticky_prefixes = tuple(sticky_prefixes)
        self.open_timeout = open_timeout
        self.clients = [
            httpx.AsyncClient(
                base_url=url,
                timeout=httpx.Timeout(30.0, connect=5.0),
                limits=httpx.Limits(max_connections=500, max_keepalive_connections=100),
            )
            for url in self.base_urls
        ]
        self.client = self.clients[0]
        self._turn = itertools.count()

    async def ready(self) -> None:
        """Every instance answers its ``/readyz``."""

        async def one(client: httpx.AsyncClient) -> None:
            response = await client.get("/readyz")
            response.raise_for_status()

        await asyncio.gather(*(one(c) for c in self.clients))

    async def close(self) -> None:
        await asyncio.gather(*(c.aclose() for c in self.clients))

    # Routing ---------------------------------------------------------------------------------

    def client_address(self, conn: HTTPConnection) -> str:
        """The client's address: the first ``X-Forwarded-For`` hop when trusted, else the peer."""
        if self.trust_forwarded_for:
            forwarded = conn.headers.get("x-forwarded-for", "").split(",")[0].strip()
            if forwarded:
                return forwarded
        return conn.client.host if conn.client else ""

    def pick(self, path: str, address: str) -> int:
        """Which instance serves this request: sticky by address below a sticky prefix, else in turn."""
        if len(self.base_urls) == 1:
            return 0
        if any(path == p or path.startswith(p + "/") for p in self.sticky_prefixes):
            return stable_index(address, len(self.base_urls))
        return next(self._turn) % len(self.base_urls)

    def forward_headers(
        self, conn: HTTPConnection, *, drop: set[str] = REQUEST_DROP
    ) -> list[tuple[str, str]]:
        """The request's end-to-end headers plus ``X-Forwarded-*`` and the request id."""
        headers = [(k, v) for k, v in conn.headers.items() if k.lower() not in drop | SET_BY_PROXY]
        peer = conn.client.host if conn.client else ""
        earlier = conn.headers.get("x-forwarded-for") if self.trust_forwarded_for else None
        headers.append(("x-forwarded-for", f"{earlier}, {peer}" if earlier else peer))
        host = conn.headers.get("host")
        if host:
            headers.append(("x-forwarded-host", host))
        scheme = conn.url.scheme
        headers.append(("x-forwarded-proto", {"ws": "http", "wss": "https"}.get(scheme, scheme)))
        headers.append(("x-request-id", context.current_request_id() or uuid.uuid4().hex))
        return headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = _incoming_request_id(scope) or context.current_request_id() or uuid.uuid4().hex
        with context.bound(request_id=request_id):
            if scope["type"] == "websocket":
                await self.websocket(scope, receive, send)
            elif scope["type"] == "http":
                await self.http(scope, receive, send, request_id)

    # HTTP ------------------------------------------------------------------------------------

    async def http(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        started = time.perf_counter()
        request = Request(scope, receive)
        target = upstream_target(scope)
        if target is None:
            await JSONResponse(
                {"message": "Invalid request path", "code": "invalid"},
                status_code=400,
                headers={"X-Request-ID": request_id},
            )(scope, receive, send)
            return
        index = self.pick(scope["path"], self.client_address(request))
        client = self.clients[index]
        headers = self.forward_headers(request)
        has_body = any(
            k.lower() in ("content-length", "transfer-encoding") for k, _ in request.headers.items()
        )
        body_read = asyncio.Event()

        async def body() -> AsyncIterator[bytes]:
            async for chunk in request.stream():
                yield chunk
            body_read.set()

        if not has_body:
            body_read.set()
        upstream = client.build_request(
            request.method,
            target,
            headers=headers,
            content=body() if has_body else None,
        )
        status = 503
        try:
            try:
                response = await _unless_client_leaves(client.send(upstream, stream=True), body_read, receive)
            except ClientLeft:
                # A long-poll whose client went away: stop waiting for the service's answer.
                status = 499
                return
            except httpx.HTTPError as exc:
                log.warning("proxy.unavailable", upstream=self.base_urls[index], error=type(exc).__name__)
                await JSONResponse(
                    {"message": "The service is unavailable, try again shortly", "code": "unavailable"},
                    status_code=503,
                    headers={"Retry-After": "5", "X-Request-ID": request_id},
                )(scope, receive, send)
                return
            status = response.status_code
            # Raw pairs, not a dict: a repeated header (two Set-Cookie) must reach the client as sent.
            out_headers = [
                (name.lower(), value)
                for name, value in response.headers.raw
                if name.lower().decode("latin-1") not in RESPONSE_DROP
            ]
            if not any(name == b"x-request-id" for name, _ in out_headers):
                out_headers.append((b"x-request-id", request_id.encode("latin-1")))
            reply = StreamingResponse(
                response.aiter_raw(),
                status_code=response.status_code,
                background=BackgroundTask(response.aclose),
            )
            reply.raw_headers = out_headers
            await reply(scope, receive, send)
        finally:
            # Labelled by the routing prefix the gateway matched, never by the raw path.
            route = str(scope.get(ROUTE_KEY) or "proxied")
            elapsed = time.perf_counter() - started
            HTTP_REQUESTS.labels("web", scope["method"], route, str(status)).observe(elapsed)
            log.info(
                "http.proxied",
                method=scope["method"],
                route=route,
                upstream=index,
                status=status,
                ms=round(elapsed * 1000, 1),
            )

    # WebSocket -------------------------------------------------------------------------------

    async def websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Open the same WebSocket upstream, then relay frames and the close both ways.

        One frame is in flight per direction: the next is read only once the last was handed on,
        so a slow reader slows its sender down instead of filling the proxy's memory.
        """
        conn = HTTPConnection(scope)
        first = await receive()
        if first["type"] != "websocket.connect":
            return
        index = self.pick(scope["path"], self.client_address(conn))
        base = self.base_urls[index]
        target = upstream_target(scope)
        if target is None:
            await send({"type": "websocket.close", "code": 1008})
            return
        uri = "ws" + base.removeprefix("http") + str(target)
        subprotocols = [Subprotocol(p) for p in scope.get("subprotocols") or []]
        headers = self.forward_headers(conn, drop=HOP_BY_HOP | WEBSOCKET_HANDSHAKE | {"user-agent"})
        try:
            upstream = await connect(
                uri,
                subprotocols=subprotocols or None,
                additional_headers=headers,
                user_agent_header=conn.headers.get("user-agent"),
                open_timeout=self.open_timeout,
                compression=None,
                proxy=None,
                max_size=None,
                # The client side keeps the connection alive; upstream pings would only duplicate it.
                ping_interval=None,
            )
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            status = exc.response.status_code if isinstance(exc, InvalidStatus) else None
            log.warning("proxy.websocket_refused", upstream=base, status=status, error=type(exc).__name__)
            # Before the handshake is accepted a close is an HTTP 403 to the client.
            await send({"type": "websocket.close", "code": 1008 if status else 1013})
            return
        async with upstream:
            await send({"type": "websocket.accept", "subprotocol": upstream.subprotocol})
            await _relay(upstream, receive, send)


def upstream_target(scope: Scope) -> httpx.URL | None:
    """The path and query to ask the service for, as the client sent them (still percent-encoded).

    None for a path with ``.`` or ``..`` segments: the route was chosen on the path as given, and
    a normalised one could reach what the proxy does not route (``/api/v1/user/../../metrics``).
    """
    if any(segment in (".", "..") for segment in scope["path"].split("/")):
        return None
    raw = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string", b"")
    try:
        target = (raw + (b"?" + query if query else b"")).decode("ascii")
        return httpx.URL(target)
    except (UnicodeDecodeError, httpx.InvalidURL):
        return None


class ClientLeft(Exception):
    """The client closed its connection before the service answered."""


async def _unless_client_leaves(
    call: Awaitable[httpx.Response], body_read: asyncio.Event, receive: Receive
) -> httpx.Response:
    """``await call``, abandoned (:class:`ClientLeft`) if the client disconnects meanwhile.

    The client's messages are read here only once its body has been read (by the upstream
    request), so the next one can only be ``http.disconnect``.
    """

    async def left() -> None:
        await body_read.wait()
        while (await receive())["type"] != "http.disconnect":
            pass

    answer = asyncio.ensure_future(call)
    gone = asyncio.ensure_future(left())
    try:
        await asyncio.wait({answer, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not answer.done():
            answer.cancel()
    await asyncio.gather(gone, return_exceptions=True)
    if answer.cancelled():
        raise ClientLeft
    if not answer.done():
        await asyncio.gather(answer, return_exceptions=True)
        raise ClientLeft
    return answer.result()


def _incoming_request_id(scope: Scope) -> str | None:
    for key, value in scope.get("headers") or []:
        if key == b"x-request-id":
            found: str = value.decode("latin-1")
            if 0 < len(found) <= 128 and found.isprintable():
                return found
    return None


async def _relay(upstream: ClientConnection, receive: Receive, send: Send) -> None:
    """Relay frames until either side closes, then close the other side with the same code."""
    closed_by_client: list[tuple[int, str]] = []

    async def client_to_upstream() -> None:
        while True:
            message: Message = await receive()
            if message["type"] == "websocket.receive":
                data: Any = message.get("bytes")
                if data is None:
                    data = message.get("text") or ""
                try:
                    await upstream.send(data)
                except ConnectionClosed:
                    return
            elif message["type"] == "websocket.disconnect":
                closed_by_client.append((_close_code(message.get("code")), message.get("reason") or ""))
                return

    async def upstream_to_client() -> None:
        with contextlib.suppress(ConnectionClosed):
            async for frame in upstream:
                if isinstance(frame, bytes):
                    await send({"type": "websocket.send", "bytes": frame})
                else:
                    await send({"type": "websocket.send", "text": frame})

    to_upstream = asyncio.create_task(client_to_upstream())
    to_client = asyncio.create_task(upstream_to_client())
    try:
        await asyncio.wait({to_upstream, to_client}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (to_upstream, to_client):
            task.cancel()
        await asyncio.gather(to_upstream, to_client, return_exceptions=True)
    if closed_by_client:
        code, reason = closed_by_client[0]
        await upstream.close(code, reason)
        return
    # The service closed (or went away): pass its code on, or 1012 (restarting) when it vanished.
    received = upstream.protocol.close_rcvd
    code = 1012 if received is None else _close_code(received.code)
    reason = "" if received is None else received.reason
    with contextlib.suppress(Exception):
        await send({"type": "websocket.close", "code": code, "reason": reason})
    await upstream.close()
