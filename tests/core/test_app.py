"""The app factory: JSON errors for everything, readiness, metrics, request ids."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from parley.core.app import allow_browser_origin, create_service_app
from parley.core.errors import NotFound, RateLimited
from parley.core.settings import Settings


class Item(BaseModel):
    name: str
    count: int


def build(ready: bool = True, service: str = "demo", settings: Settings | None = None) -> FastAPI:
    router = APIRouter(prefix="/api/v1", tags=["demo"])

    @router.post("/items")
    async def create_item(item: Item) -> Item:
        return item

    @router.get("/missing")
    async def missing() -> None:
        raise NotFound("No such thing")

    @router.get("/database")
    async def database() -> None:
        # A real driver against a port where no database listens.
        engine = create_async_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/none")
        try:
            async with engine.connect() as connection:
                await connection.execute(text("select 1"))
        finally:
            await engine.dispose()

    @router.get("/broken")
    async def broken_route() -> None:
        raise RuntimeError("a bug")

    @router.get("/limited")
    async def limited() -> None:
        raise RateLimited(retry_after=42)

    @router.get("/items")
    async def list_items() -> list[Item]:
        return []

    @router.get("/elsewhere")
    async def elsewhere() -> RedirectResponse:
        return RedirectResponse("https://cdn.example.com/file")

    @router.post("/upload")
    async def upload(request: Request) -> dict[str, int]:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        return {"size": size}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async def ok() -> None:
            return None

        async def broken() -> None:
            raise ConnectionError("refused")

        app.state.checks = {"database": ok, "cache": ok if ready else broken}
        yield

    app = create_service_app(service=service, title="Demo", routers=[router], lifespan=lifespan)
    allow_browser_origin(app, ["https://chat.example.com", "https://seed.example.com"])
    if settings is not None:
        app.state.settings = settings
    return app


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = build()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            yield c


async def test_unknown_path_is_json_404(client: httpx.AsyncClient) -> None:
    r = await client.get("/nowhere")
    assert r.status_code == 404
    assert r.json()["message"]


async def test_wrong_method_is_json_405(client: httpx.AsyncClient) -> None:
    r = await client.delete("/api/v1/items")
    assert r.status_code == 405
    assert "message" in r.json()


async def test_schema_violation_is_422_naming_the_field(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/items", json={"name": "x", "count": "many"})
    assert r.status_code == 422
    assert "count" in r.json()["message"]


async def test_malformed_json_is_422(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/items", content=b"{nope", headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["message"]


async def test_app_errors_keep_status_code_and_headers(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/missing")
    assert r.status_code == 404
    assert r.json() == {"message": "No such thing", "code": "not_found"}
    r = await client.get("/api/v1/limited")
    assert r.status_code == 429
    assert r.headers["retry-after"] == "42"


async def test_request_id_is_echoed_or_made(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz", headers={"x-request-id": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = await client.get("/healthz")
    assert len(r.headers["x-request-id"]) == 32


async def test_health_and_metrics(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    await client.post("/api/v1/items", json={"name": "x", "count": 1})
    text = (await client.get("/metrics")).text
    assert 'parley_http_request_duration_seconds_count{method="POST",route="/api/v1/items"' in text


async def test_readiness_names_the_failing_backend() -> None:
    app = build(ready=False)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as c,
    ):
        r = await c.get("/readyz")
    assert r.status_code == 503
    body = r.json()
    assert body["checks"] == {"database": "ok", "cache": "failed"}
    assert "cache" in body["message"]


async def test_readiness_keeps_error_details_for_the_logs() -> None:
    app = build(ready=False)
    transport = httpx.ASGITransport(app=app)
    with structlog.testing.capture_logs() as logs:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://t") as c,
        ):
            r = await c.get("/readyz")
    assert "refused" not in r.text, "the error text is not shown to whoever asks"
    failed = [e for e in logs if e["event"] == "readyz.failed"]
    assert failed and "refused" in failed[0]["checks"]["cache"]


def test_operation_ids_are_tag_and_name() -> None:
    ids = {op["operationId"] for path in build().openapi()["paths"].values() for op in path.values()}
    assert "demo-create_item" in ids


async def test_an_unreachable_backend_is_503_not_500(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/database")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json()["message"] == "A backend service is unavailable, try again shortly"


async def test_the_public_origin_may_call_from_the_browser(client: httpx.AsyncClient) -> None:
    preflight = await client.options(
        "/api/v1/items",
        headers={
            "Origin": "https://chat.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://chat.example.com"
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    response = await client.get("/api/v1/limited", headers={"Origin": "https://chat.example.com"})
    assert "Retry-After" in response.headers["access-control-expose-headers"]


async def test_other_origins_get_no_cors_grant(client: httpx.AsyncClient) -> None:
    preflight = await client.options(
        "/api/v1/items",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers


async def test_a_bug_is_a_json_500_with_the_request_id_readable_cross_origin(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(
        "/api/v1/broken", headers={"X-Request-ID": "req-500", "Origin": "https://chat.example.com"}
    )
    assert response.status_code == 500
    assert response.json() == {"message": "Internal server error", "code": "internal"}
    assert response.headers["x-request-id"] == "req-500"
    assert response.headers["access-control-allow-origin"] == "https://chat.example.com"


async def test_every_listed_origin_may_call_from_the_browser(client: httpx.AsyncClient) -> None:
    for origin in ("https://chat.example.com", "https://seed.example.com"):
        response = await client.get("/api/v1/items", headers={"Origin": origin})
        assert response.headers["access-control-allow-origin"] == origin


# Request bodies: refused over the service's limit before they are read.

USER_LIMIT = 64 * 1024


async def chunks(total: int, size: int, pulled: list[int]) -> AsyncIterator[bytes]:
    """``total`` bytes in chunks of ``size``, counting in ``pulled`` what the server asked for."""
    sent = 0
    while sent < total:
        pulled[0] += size
        sent += size
        yield b"x" * size


@pytest.fixture
async def user_like() -> AsyncIterator[httpx.AsyncClient]:
    app = build(service="user")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            yield c


async def test_a_declared_body_over_the_limit_is_413_before_any_is_read(user_like: httpx.AsyncClient) -> None:
    pulled = [0]
    response = await user_like.post(
        "/api/v1/upload",
        content=chunks(100 * 1024 * 1024, 1024 * 1024, pulled),
        headers={"Content-Length": str(100 * 1024 * 1024)},
    )
    assert response.status_code == 413
    assert response.json() == {
        "message": "The request body is too large (at most 64 KB)",
        "code": "too_large",
    }
    assert pulled[0] <= 1024 * 1024, "at most the first chunk was looked at"


async def test_a_chunked_body_is_refused_once_it_passes_the_limit(user_like: httpx.AsyncClient) -> None:
    pulled = [0]
    response = await user_like.post("/api/v1/upload", content=chunks(100 * 1024 * 1024, 16 * 1024, pulled))
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert pulled[0] <= USER_LIMIT + 2 * 16 * 1024, "reading stopped at the limit"


async def test_a_parsed_json_body_over_the_limit_is_413(user_like: httpx.AsyncClient) -> None:
    big = {"name": "x" * (USER_LIMIT + 1), "count": 1}
    response = await user_like.post("/api/v1/items", json=big)
    assert response.status_code == 413
    chunked = await user_like.post("/api/v1/items", content=chunks(USER_LIMIT * 2, 8192, [0]))
    assert chunked.status_code == 413


async def test_a_body_within_the_limit_is_served(user_like: httpx.AsyncClient) -> None:
    response = await user_like.post("/api/v1/upload", content=b"x" * USER_LIMIT)
    assert response.json() == {"size": USER_LIMIT}


async def test_the_chat_service_takes_bodies_up_to_6_mb() -> None:
    app = build(service="chat")
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as c,
    ):
        ok = await c.post("/api/v1/upload", content=b"x" * (6 * 1024 * 1024))
        assert ok.json() == {"size": 6 * 1024 * 1024}
        too_big = await c.post("/api/v1/upload", content=b"x" * (6 * 1024 * 1024 + 1))
        assert too_big.status_code == 413
        assert too_big.json()["message"] == "The request body is too large (at most 6 MB)"


async def test_avatar_uploads_may_take_6_mb(user_like: httpx.AsyncClient) -> None:
    within = await user_like.post("/api/v1/user/avatar", content=b"x" * (5 * 1024 * 1024))
    assert within.status_code == 404, "read, and answered by the routing (no such route here)"
    over = await user_like.post("/api/v1/user/avatar", content=b"x" * (6 * 1024 * 1024 + 1))
    assert over.status_code == 413


async def test_a_malformed_content_length_is_400(user_like: httpx.AsyncClient) -> None:
    response = await user_like.post("/api/v1/upload", content=b"abc", headers={"Content-Length": "-3"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


# Redirects never echo the Host header.


@pytest.mark.parametrize(
    ("path", "location"),
    [("/api/v1/items/", "/api/v1/items"), ("/api/v1/items/?a=1", "/api/v1/items?a=1")],
)
async def test_a_trailing_slash_redirect_is_a_path_not_the_host(
    client: httpx.AsyncClient, path: str, location: str
) -> None:
    response = await client.get(path, headers={"Host": "evil.example"})
    assert response.status_code in (307, 308)
    assert response.headers["location"] == location


async def test_a_redirect_to_another_site_is_left_alone(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/elsewhere")
    assert response.headers["location"] == "https://cdn.example.com/file"


def test_a_redirect_location_never_becomes_protocol_relative() -> None:
    from parley.core.app import local_location

    assert local_location("http://internal:5000//evil.example/x") == "/evil.example/x"
    assert local_location("http://internal:5000/\\evil.example") == "/evil.example"
    assert local_location("/a/b?c=d") == "/a/b?c=d"


# /metrics: not for the public at the edge, behind METRICS_TOKEN when one is set.

TOKEN = "m" * 12 + "3f9a1c2b7d4e5f60718293a4b5c6d7e8"


async def get_metrics(app: FastAPI, ip: str, headers: dict[str, str] | None = None) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        return await c.get("/metrics", headers=headers)


async def test_the_edge_shows_metrics_only_to_this_machine() -> None:
    edge = build(service="web", settings=Settings(env_file=False))
    assert (await get_metrics(edge, "127.0.0.1")).status_code == 200
    public = await get_metrics(edge, "203.0.113.9")
    assert public.status_code == 404
    assert public.json()["code"] == "not_found"
    forged = await get_metrics(edge, "127.0.0.1", {"X-Forwarded-For": "203.0.113.9"})
    assert forged.status_code == 404, "a proxy on this machine passing a remote client on"
    internal = build(service="user", settings=Settings(env_file=False))
    assert (await get_metrics(internal, "10.0.0.7")).status_code == 200


async def test_a_metrics_token_guards_metrics_everywhere() -> None:
    for service in ("web", "user"):
        app = build(service=service, settings=Settings(env_file=False, metrics_token=TOKEN))
        assert (await get_metrics(app, "127.0.0.1")).status_code == 404
        assert (await get_metrics(app, "10.0.0.7", {"Authorization": "Bearer wrong"})).status_code == 404
        allowed = await get_metrics(app, "10.0.0.7", {"Authorization": f"Bearer {TOKEN}"})
        assert allowed.status_code == 200
        assert "parley_http_request_duration_seconds" in allowed.text
