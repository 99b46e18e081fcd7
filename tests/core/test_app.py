"""The app factory: JSON errors for everything, readiness, metrics, request ids."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from parley.core.app import allow_browser_origin, create_service_app
from parley.core.errors import NotFound, RateLimited


class Item(BaseModel):
    name: str
    count: int


def build(ready: bool = True) -> FastAPI:
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

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async def ok() -> None:
            return None

        async def broken() -> None:
            raise ConnectionError("refused")

        app.state.checks = {"database": ok, "cache": ok if ready else broken}
        yield

    app = create_service_app(service="demo", title="Demo", routers=[router], lifespan=lifespan)
    allow_browser_origin(app, "https://chat.example.com")
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
    assert body["checks"]["database"] == "ok"
    assert "ConnectionError" in body["checks"]["cache"]
    assert "cache" in body["message"]


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
