"""A small reverse proxy for ``parley serve web`` in front of separate service processes."""

from __future__ import annotations

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.types import Receive, Scope, Send

from parley.core import context

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


class HttpProxy:
    """Forwards HTTP requests to ``base_url``, streaming both bodies."""

    def __init__(self, base_url: str, *, trust_forwarded_for: bool = False) -> None:
        self.base_url = base_url.rstrip("/")
        self.trust_forwarded_for = trust_forwarded_for
        self.client = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(30.0, connect=5.0),
            limits=httpx.Limits(max_connections=500, max_keepalive_connections=100),
        )

    async def ready(self) -> None:
        response = await self.client.get("/readyz")
        response.raise_for_status()

    async def close(self) -> None:
        await self.client.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            # WebSocket upgrades are passed by the ingress or load balancer in front of the services.
            await send({"type": "websocket.close", "code": 1013})
            return
        request = Request(scope, receive)
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP]
        client_ip = request.client.host if request.client else ""
        forwarded = request.headers.get("x-forwarded-for") if self.trust_forwarded_for else None
        headers = [(k, v) for k, v in headers if k.lower() != "x-forwarded-for"]
        headers.append(("x-forwarded-for", f"{forwarded}, {client_ip}" if forwarded else client_ip))
        request_id = context.current_request_id()
        if request_id:
            headers = [(k, v) for k, v in headers if k.lower() != "x-request-id"]
            headers.append(("x-request-id", request_id))
        upstream = self.client.build_request(
            request.method,
            httpx.URL(path=scope["path"], query=scope.get("query_string", b"")),
            headers=headers,
            content=request.stream(),
        )
        try:
            response = await self.client.send(upstream, stream=True)
        except httpx.HTTPError:
            await JSONResponse(
                {"message": "The service is unavailable, try again shortly", "code": "unavailable"},
                status_code=503,
            )(scope, receive, send)
            return
        out_headers = {k: v for k, v in response.headers.items() if k.lower() not in HOP_BY_HOP}
        await StreamingResponse(
            response.aiter_raw(),
            status_code=response.status_code,
            headers=out_headers,
            background=BackgroundTask(response.aclose),
        )(scope, receive, send)
