"""The browser's session: the token in an HttpOnly cookie, CSRF-checked writes, bearer clients as before."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from http.cookies import SimpleCookie

import httpx
import pytest
import socketio

from parley.core.auth import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE
from tests.chat.live_helpers import Served, serve
from tests.chat.realtime_helpers import Peer
from tests.fixtures.stack import Stack, unique_email


async def cookie_login(stack: Stack, email: str | None = None) -> tuple[httpx.AsyncClient, dict[str, str]]:
    """Log in as the web app does: the client keeps the cookies and never sets ``Authorization``."""
    email = email or unique_email("browser")
    client = stack.client()
    seen = len(await stack.mails_to(email))
    assert (await client.post("/api/v1/login", json={"email": email})).status_code == 200
    otp = await stack.otp_for(email, seen=seen)
    response = await client.post("/api/v1/verify", json={"email": email, "otp": otp})
    assert response.status_code == 200, response.text
    assert "authorization" not in client.headers
    body: dict[str, str] = response.json()
    return client, body


def set_cookies(response: httpx.Response) -> dict[str, SimpleCookie]:
    """Each ``Set-Cookie`` of the answer, parsed, by cookie name."""
    found: dict[str, SimpleCookie] = {}
    for header in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        for name in jar:
            found[name] = jar
    return found


def csrf(client: httpx.AsyncClient) -> dict[str, str]:
    """The header a page of ours sends on writes: the CSRF cookie's value."""
    return {CSRF_HEADER: client.cookies[CSRF_COOKIE]}


async def test_verify_sets_the_session_and_csrf_cookies(stack: Stack) -> None:
    email = unique_email("browser")
    client = stack.client()
    seen = len(await stack.mails_to(email))
    await client.post("/api/v1/login", json={"email": email})
    otp = await stack.otp_for(email, seen=seen)
    response = await client.post("/api/v1/verify", json={"email": email, "otp": otp})
    assert response.status_code == 200
    token = response.json()["token"]  # API clients still get the token in the body

    cookies = set_cookies(response)
    session = cookies[SESSION_COOKIE][SESSION_COOKIE]
    assert session.value == token
    assert session["httponly"] is True
    assert session["samesite"].lower() == "strict"
    assert session["path"] == "/"
    assert int(session["max-age"]) == stack.settings.tokens.jwt_ttl_seconds
    assert not session["secure"]  # PUBLIC_URL is http:// here
    guard = cookies[CSRF_COOKIE][CSRF_COOKIE]
    assert len(guard.value) >= 32 and guard.value != token
    assert not guard["httponly"]  # the page reads it to copy it into the header
    assert guard["samesite"].lower() == "strict"
    assert guard["path"] == "/"


async def test_cookies_are_secure_behind_https(stack: Stack) -> None:
    email = unique_email("secure")
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=stack.app, client=("10.9.8.7", 40000)),
        base_url="https://testserver",
    )
    async with client:
        seen = len(await stack.mails_to(email))
        await client.post("/api/v1/login", json={"email": email})
        otp = await stack.otp_for(email, seen=seen)
        response = await client.post("/api/v1/verify", json={"email": email, "otp": otp})
    cookies = set_cookies(response)
    assert cookies[SESSION_COOKIE][SESSION_COOKIE]["secure"] is True
    assert cookies[CSRF_COOKIE][CSRF_COOKIE]["secure"] is True


async def test_a_cookie_session_works_across_the_services(stack: Stack) -> None:
    client, body = await cookie_login(stack)
    me = await client.get("/api/v1/me")
    assert me.status_code == 200
    assert me.json()["_id"] == body["user"]["_id"]
    assert (await client.get("/api/v1/chat/all")).status_code == 200

    renamed = await client.post("/api/v1/update/user", json={"name": "Cookie Monster"}, headers=csrf(client))
    assert renamed.status_code == 200, renamed.text
    # The rename's new token became the session cookie, and it works.
    assert client.cookies[SESSION_COOKIE] == renamed.json()["token"]
    assert (await client.get("/api/v1/me")).json()["name"] == "Cookie Monster"
    other = await stack.login()
    chat = await client.post("/api/v1/chat/new", json={"otherUserId": other.id}, headers=csrf(client))
    assert chat.status_code == 201, chat.text


@pytest.mark.parametrize("header", [None, "", "wrong-value"])
async def test_a_cookie_write_without_the_csrf_header_is_refused_and_changes_nothing(
    stack: Stack, header: str | None
) -> None:
    client, body = await cookie_login(stack)
    headers = {} if header is None else {CSRF_HEADER: header}

    renamed = await client.post("/api/v1/update/user", json={"name": "Forged"}, headers=headers)
    assert renamed.status_code == 403
    assert renamed.json()["code"] == "csrf_failed"
    assert renamed.json()["message"]
    other = await stack.login()
    chat = await client.post("/api/v1/chat/new", json={"otherUserId": other.id}, headers=headers)
    assert chat.status_code == 403
    assert chat.json()["code"] == "csrf_failed"
    logout = await client.post("/api/v1/logout", headers=headers)
    assert logout.status_code == 403

    me = await client.get("/api/v1/me")  # reads need no header; nothing above happened
    assert me.status_code == 200
    assert me.json()["name"] == body["user"]["name"]
    assert (await other.client.get("/api/v1/chat/all")).json()["chats"] == []


async def test_bearer_clients_need_no_csrf_header_and_win_over_a_cookie(stack: Stack) -> None:
    person = await stack.login()
    renamed = await person.client.post("/api/v1/update/user", json={"name": "Bearer"})
    assert renamed.status_code == 200, renamed.text
    person.client.headers["Authorization"] = f"Bearer {renamed.json()['token']}"
    # A stale cookie beside a good bearer token: the bearer token decides.
    person.client.cookies.set(SESSION_COOKIE, "not-a-token")
    assert (await person.client.post("/api/v1/update/user", json={"name": "Still Bearer"})).status_code == 200
    # And a bad bearer token is refused even with a good cookie beside it.
    client, _ = await cookie_login(stack)
    bad = await client.get("/api/v1/me", headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401


async def test_logout_clears_both_cookies_and_ends_the_session(stack: Stack) -> None:
    client, body = await cookie_login(stack)
    token = client.cookies[SESSION_COOKIE]
    response = await client.post("/api/v1/logout", headers=csrf(client))
    assert response.status_code == 200
    cleared = set_cookies(response)
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        assert cleared[name][name].value == ""
        assert int(cleared[name][name]["max-age"]) == 0
    assert SESSION_COOKIE not in client.cookies
    assert (await client.get("/api/v1/me")).status_code == 401
    # The token itself is refused too, wherever it comes from.
    stale = stack.client()
    stale.cookies.set(SESSION_COOKIE, token)
    assert (await stale.get("/api/v1/me")).status_code == 401
    assert (await stack.client(token=token).get("/api/v1/chat/all")).status_code == 401
    assert body["token"] == token


async def test_no_cookie_and_no_token_is_401(stack: Stack) -> None:
    response = await stack.client().post("/api/v1/update/user", json={"name": "x"})
    assert response.status_code == 401


# ---------------------------------------------------------------- sockets


@pytest.fixture
async def served(stack: Stack) -> AsyncIterator[Served]:
    running = await serve(stack.app, lifespan=False)
    try:
        yield running
    finally:
        await running.stop()


async def test_a_socket_connects_with_the_session_cookie(stack: Stack, served: Served) -> None:
    client, body = await cookie_login(stack)
    peer = Peer(served.url)
    try:
        await peer.client.connect(
            served.url,
            headers={"Cookie": f"{SESSION_COOKIE}={client.cookies[SESSION_COOKIE]}; other=1"},
            transports=["websocket"],
            socketio_path="socket.io",
            wait_timeout=5,
        )
        assert await peer.wait_for("getOnlineUser") is not None
        await client.post("/api/v1/logout", headers=csrf(client))
        # A revoked session's socket is closed, and its cookie opens no new one.
        await asyncio.wait_for(peer.disconnected.wait(), 10)
    finally:
        await peer.close()
    refused = Peer(served.url)
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await refused.client.connect(
                served.url,
                headers={"Cookie": f"{SESSION_COOKIE}={body['token']}"},
                transports=["websocket"],
                socketio_path="socket.io",
                wait_timeout=5,
            )
        assert refused.refusal.get("message") == "unauthorized"
    finally:
        await refused.close()
