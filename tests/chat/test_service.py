"""The chat service's pieces on their own: input checks, documents, profiles, body limits."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import fakeredis
import httpx
import pytest
from fastapi import FastAPI, File, UploadFile
from starlette.types import Message

from parley.chat.documents import iso, preview_of
from parley.chat.errors import InvalidMessage, InvalidName, UserNotFound, UserServiceUnavailable
from parley.chat.service import clean_client_id, clean_name, clean_text
from parley.chat.store import Chat, direct_key, other_in_direct
from parley.chat.users import CACHE_PREFIX, UserDirectory
from parley.core.app import BodyLimitMiddleware, install_error_handlers
from parley.core.ids import new_id

# --- input --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  hello  ", "hello"),
        ("line one\nline two", "line one\nline two"),
        ("tab\there", "tab\there"),
        ("bell\x07 and nul\x00", "bell and nul"),
        ("\x00\x01 ", ""),
        ("emoji 👋🏽", "emoji 👋🏽"),
    ],
)
def test_clean_text(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


def test_text_with_a_lone_surrogate_is_refused() -> None:
    with pytest.raises(InvalidMessage) as caught:
        clean_text("broken \ud83d emoji")
    assert caught.value.status == 400


@pytest.mark.parametrize("name", ["a\ud800", "evil\u202egpj.exe", "ad\u200bmin", "x\u2066y\u2069"])
def test_group_names_with_hidden_characters_are_refused(name: str) -> None:
    with pytest.raises(InvalidName):
        clean_name(name)


def test_text_of_4000_characters_is_the_most() -> None:
    assert clean_text("é" * 4000) == "é" * 4000
    assert clean_text(" " * 10 + "a" * 4000 + " " * 10) == "a" * 4000
    with pytest.raises(InvalidMessage):
        clean_text("a" * 4001)


@pytest.mark.parametrize("name", ["", " ", "\u200b", "\u200d\u200b ", "a\tb", "a\x00", "x" * 101])
def test_bad_group_names(name: str) -> None:
    with pytest.raises(InvalidName):
        clean_name(name)


@pytest.mark.parametrize(
    ("raw", "clean"), [(" Team ", "Team"), ("😀", "😀"), ("a" * 100, "a" * 100), ("Ünïcödé", "Ünïcödé")]
)
def test_good_group_names(raw: str, clean: str) -> None:
    assert clean_name(raw) == clean


def test_client_ids() -> None:
    assert clean_client_id(None) is None
    assert clean_client_id("  ") is None
    assert clean_client_id(" abc-1 ") == "abc-1"
    for bad in ("x" * 101, "a\nb", "a\x00"):
        with pytest.raises(InvalidMessage):
            clean_client_id(bad)


# --- documents ------------------------------------------------------------------------------------------------


def test_timestamps_are_utc_with_milliseconds() -> None:
    moment = datetime(2026, 11, 25, 11, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert iso(moment) == "2026-11-25T10:00:00.123Z"
    assert iso(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05.000Z"


def test_latest_message_preview() -> None:
    assert preview_of("hi", has_image=False) == "hi"
    assert preview_of("caption", has_image=True) == "caption"
    assert preview_of("", has_image=True) == "📷 Image"


def test_direct_keys_do_not_depend_on_who_starts() -> None:
    a, b = new_id(), new_id()
    assert direct_key(a, b) == direct_key(b, a)
    chat = Chat(id=new_id(), is_group=False, direct_key=direct_key(a, b))
    assert other_in_direct(chat, a) == b
    assert other_in_direct(chat, b) == a
    assert other_in_direct(Chat(id=new_id(), is_group=True, direct_key=None), a) is None


# --- profiles ---------------------------------------------------------------------------------------------------


def user(uid: str, name: str) -> dict[str, Any]:
    return {"_id": uid, "name": name, "email": f"{name}@example.com", "createdAt": "2026-11-25T10:00:00.000Z"}


class FakeUserService:
    def __init__(self, *users: dict[str, Any]) -> None:
        self.users = {u["_id"]: u for u in users}
        self.requests: list[dict[str, Any]] = []
        self.down = False

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            return httpx.Response(502, text="bad gateway")
        body = json.loads(request.content)
        self.requests.append({"ids": body["ids"], "auth": request.headers.get("authorization")})
        return httpx.Response(200, json={"users": [self.users[i] for i in body["ids"] if i in self.users]})


@pytest.fixture
def cache() -> fakeredis.FakeAsyncRedis:
    return fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer(), decode_responses=True)


def directory(service: FakeUserService, cache: fakeredis.FakeAsyncRedis) -> UserDirectory:
    client = httpx.AsyncClient(transport=httpx.MockTransport(service.handle), base_url="http://user")
    return UserDirectory(client, cache, ttl=30)


async def test_profiles_are_fetched_in_one_batch_and_cached(cache: fakeredis.FakeAsyncRedis) -> None:
    a, b, gone = new_id(), new_id(), new_id()
    service = FakeUserService(user(a, "ann"), user(b, "ben"))
    users = directory(service, cache)

    found = await users.profiles([a, b, gone, a], "tok")
    assert found[a]["name"] == "ann"
    assert found[b]["createdAt"] == "2026-11-25T10:00:00.000Z"
    assert found[gone] == {"_id": gone, "name": "Unknown User", "email": ""}
    assert service.requests == [{"ids": [a, b, gone], "auth": "Bearer tok"}]
    assert 0 < await cache.ttl(CACHE_PREFIX + a) <= 30
    assert not await cache.exists(CACHE_PREFIX + gone)

    await users.profiles([a, b], "tok")
    assert len(service.requests) == 1


async def test_profiles_when_the_user_service_is_down(cache: fakeredis.FakeAsyncRedis) -> None:
    a, b = new_id(), new_id()
    service = FakeUserService(user(a, "ann"), user(b, "ben"))
    users = directory(service, cache)
    await users.profiles([a], "tok")
    service.down = True

    found = await users.profiles([a, b], "tok")
    assert found[a]["name"] == "ann"  # still cached
    assert found[b]["name"] == "Unknown User"
    with pytest.raises(UserServiceUnavailable):
        await users.require([b], "tok")


async def test_require_names_unknown_users(cache: fakeredis.FakeAsyncRedis) -> None:
    a, gone = new_id(), new_id()
    users = directory(FakeUserService(user(a, "ann")), cache)
    assert (await users.require([a], "tok"))[a]["name"] == "ann"
    with pytest.raises(UserNotFound):
        await users.require([a, gone], "tok")


async def test_a_broken_cache_only_costs_calls() -> None:
    a = new_id()
    service = FakeUserService(user(a, "ann"))
    server = fakeredis.FakeServer()
    server.connected = False  # every command fails as if Redis were down
    broken = fakeredis.FakeAsyncRedis(server=server, decode_responses=True)
    users = directory(service, broken)
    assert (await users.profiles([a], "tok"))[a]["name"] == "ann"
    assert (await users.profiles([a], "tok"))[a]["name"] == "ann"
    assert len(service.requests) == 2


# --- body limits ------------------------------------------------------------------------------------------------


def limited_app(limit: int) -> tuple[FastAPI, list[int]]:
    app = FastAPI()
    install_error_handlers(app)
    sizes: list[int] = []

    @app.post("/api/upload")
    async def upload(file: UploadFile = File()) -> dict[str, int]:
        sizes.append(len(await file.read()))
        return {"size": sizes[-1]}

    app.add_middleware(BodyLimitMiddleware, limit=1024, routes={("POST", "/api/upload"): limit})
    return app, sizes


async def test_declared_length_over_the_limit_is_refused_unread() -> None:
    app, sizes = limited_app(10_000)
    received: list[Message] = []

    async def receive() -> Message:
        received.append({"type": "http.request"})
        return {"type": "http.request", "body": b"", "more_body": False}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/upload",
        "headers": [(b"content-length", b"20000"), (b"content-type", b"multipart/form-data; boundary=x")],
        "query_string": b"",
    }
    await BodyLimitMiddleware(app, limit=1024, routes={("POST", "/api/upload"): 10_000})(scope, receive, send)
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["code"] == "too_large"
    assert received == []
    assert sizes == []


async def test_bodies_within_the_limit_pass() -> None:
    app, sizes = limited_app(10_000)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        ok = await client.post("/api/upload", files={"file": ("a.bin", b"x" * 9000)})
        assert ok.status_code == 200
        too_big = await client.post("/api/upload", files={"file": ("a.bin", b"x" * 11_000)})
        assert too_big.status_code == 413
        assert too_big.json()["message"]
    assert sizes == [9000]
