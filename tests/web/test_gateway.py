"""The gateway's routing table and the static site it serves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, FastAPI, Request

from parley.core.app import create_service_app
from parley.core.settings import Settings
from parley.web.gateway import create_app, service_for
from parley.web.static import StaticSite
from tests.fixtures.servers import start_server
from tests.fixtures.stack import Stack


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/api/v1/login", "user"),
        ("/api/v1/me", "user"),
        ("/api/v1/message/abc", "chat"),
        ("/api/v1/messages", None),
        ("/api/v1/user/all", "user"),
        ("/api/v1/users", None),
        ("/api/v1/update/user", "user"),
        ("/api/v1/chat/all", "chat"),
        ("/socket.io/", "chat"),
        ("/media/abc.jpg", "chat"),
        ("/dev/mail", "mail"),
        ("/dev/mail/messages", "mail"),
        ("/.well-known/jwks.json", "user"),
        ("/asyncapi.json", "chat"),
        ("/openapi.json", None),
        ("/", None),
        ("/chats", None),
    ],
)
def test_paths_go_to_their_service(path: str, service: str | None) -> None:
    assert service_for(path) == service


@pytest.fixture
def site(tmp_path: Path) -> StaticSite:
    (tmp_path / "index.html").write_text("home")
    (tmp_path / "login.html").write_text("login")
    (tmp_path / "404.html").write_text("missing")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.html").write_text("docs")
    (tmp_path / "_next" / "static").mkdir(parents=True)
    (tmp_path / "_next" / "static" / "app.js").write_text("js")
    (tmp_path.parent / "secret.txt").write_text("secret")
    return StaticSite(tmp_path)


def body(response: object) -> str:
    path = response.path  # type: ignore[attr-defined]
    return Path(path).read_text()


def test_static_site_resolves_pages(site: StaticSite) -> None:
    assert body(site.response("/", "GET")) == "home"
    assert body(site.response("/login", "GET")) == "login"
    assert body(site.response("/docs", "GET")) == "docs"
    r = site.response("/_next/static/app.js", "GET")
    assert "immutable" in r.headers["cache-control"]


def test_static_site_refuses_escapes_and_unknowns(site: StaticSite) -> None:
    for path in ("/../secret.txt", "/nope", "/docs/../../secret.txt"):
        r = site.response(path, "GET")
        assert r.status_code == 404
        assert body(r) == "missing"
    assert site.response("/", "POST").status_code == 405


def test_unbuilt_site_says_how_to_build() -> None:
    r = StaticSite(None).response("/", "GET")
    assert r.status_code == 200
    assert b"make web" in r.body  # type: ignore[operator]


# The gateway in front of services run as their own processes (``parley serve web``).


@pytest.fixture
async def user_service() -> AsyncIterator[tuple[str, list[int]]]:
    """A stand-in user service on a real port: a route, and one that counts the bytes it is sent."""
    received: list[int] = []
    router = APIRouter(prefix="/api/v1")

    @router.get("/me")
    async def me() -> dict[str, str]:
        return {"name": "alice"}

    @router.post("/login")
    async def login(request: Request) -> dict[str, int]:
        async for chunk in request.stream():
            received.append(len(chunk))
        return {"size": sum(received)}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield

    app = create_service_app(service="user", title="User", routers=[router], lifespan=lifespan)
    server, task, url = await start_server(app, lifespan=False)
    try:
        yield url, received
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def gateway(user_service: tuple[str, list[int]]) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(env_file=False, user_service=user_service[0], chat_service="http://127.0.0.1:9")
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, client=("198.51.100.7", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://parley.example") as client:
            yield client


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/api/v1/nothing"), ("POST", "/api/v2/x"), ("GET", "/api")]
)
async def test_an_unknown_api_path_is_a_json_404(gateway: httpx.AsyncClient, method: str, path: str) -> None:
    response = await gateway.request(method, path)
    assert response.status_code == 404
    assert response.json() == {"message": "No such API endpoint", "code": "not_found"}
    assert response.headers["x-request-id"]


async def test_a_page_that_does_not_exist_is_still_the_web_apps(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/no-such-page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")


async def test_a_trailing_slash_redirect_reveals_no_address(
    gateway: httpx.AsyncClient, user_service: tuple[str, list[int]]
) -> None:
    response = await gateway.get("/api/v1/me/", headers={"Host": "evil.example"})
    assert response.status_code in (307, 308)
    location = response.headers["location"]
    assert location == "/api/v1/me"
    internal = user_service[0].removeprefix("http://")
    assert internal not in response.text and "evil.example" not in response.text


async def test_an_oversized_body_is_refused_before_it_reaches_the_service(
    gateway: httpx.AsyncClient, user_service: tuple[str, list[int]]
) -> None:
    pulled = [0]

    async def body() -> AsyncIterator[bytes]:
        for _ in range(1024):
            pulled[0] += 16 * 1024
            yield b"x" * 16 * 1024

    response = await gateway.post("/api/v1/login", content=body())
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert pulled[0] <= 128 * 1024, "the gateway stopped reading at the user service's limit"
    received = user_service[1]
    received.clear()
    declared = await gateway.post("/api/v1/login", content=b"x" * (65 * 1024))
    assert declared.status_code == 413
    assert received == [], "a declared oversized body is refused before anything is forwarded"
    assert (await gateway.post("/api/v1/login", content=b"x" * 1000)).json() == {"size": 1000}


async def test_the_edge_keeps_metrics_and_readiness_details_private(gateway: httpx.AsyncClient) -> None:
    assert (await gateway.get("/metrics")).status_code == 404
    ready = await gateway.get("/readyz")
    assert ready.status_code == 503  # no chat service at that address
    assert ready.json()["checks"]["chat"] == "failed"
    assert "127.0.0.1" not in ready.text and "Connect" not in ready.text


async def test_in_one_process_the_body_limit_follows_the_paths_service(stack: Stack) -> None:
    client = stack.client()
    login = await client.post("/api/v1/login", json={"email": "a@example.com", "pad": "x" * 100_000})
    assert login.status_code == 413, "the user service takes 64 KiB"
    message = await client.post("/api/v1/message", json={"chatId": "x", "text": "x" * 100_000})
    assert message.status_code == 401, "the chat service reads it (and asks who is sending)"
