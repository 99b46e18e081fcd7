"""Parley as separate processes: the API and Socket.IO end to end across them, logs and metrics.

Everything goes through the web service (``topology.url``) as a browser would, except the
sockets that pin a person to one chat instance: the sender's on chat instance 1, the recipient's
on instance 2, so a message crosses instances through Redis.
"""

from __future__ import annotations

import asyncio
import io
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image

from tests.chat.realtime_helpers import Peer, eventually
from tests.fixtures.stack import OTP_PATTERN, random_ip, unique_email
from tests.fixtures.topology import Topology

pytestmark = pytest.mark.timeout(120)


@dataclass
class Member:
    email: str
    token: str
    user: dict[str, Any]
    client: httpx.AsyncClient

    @property
    def id(self) -> str:
        return str(self.user["_id"])


async def mails_to(web: httpx.AsyncClient, email: str) -> list[dict[str, Any]]:
    # The dev mailbox answers only this machine: read it as the operator at this machine does,
    # not as the remote client a login's X-Forwarded-For names.
    async with httpx.AsyncClient(base_url=web.base_url, timeout=15) as local:
        response = await local.get("/dev/mail/messages")
    assert response.status_code == 200, response.text
    return [m for m in response.json() if m["to"] == email]


async def otp_from_mailbox(web: httpx.AsyncClient, email: str, seen: int, timeout: float = 20) -> str:
    """The code in the newest mail to ``email`` once more than ``seen`` arrived (via the web service)."""
    deadline = time.monotonic() + timeout
    while True:
        mails = await mails_to(web, email)
        if len(mails) > seen:
            match = OTP_PATTERN.search(mails[0]["body"])
            assert match, "the mail carries no 6-digit code"
            return match.group(1)
        assert time.monotonic() < deadline, f"no mail to {email} within {timeout}s"
        await asyncio.sleep(0.05)


async def login(topology: Topology, who: str, *, request_id: str | None = None) -> Member:
    email = unique_email(who)
    client = topology.client(headers={"X-Forwarded-For": random_ip()})
    seen = len(await mails_to(client, email))
    headers = {"X-Request-ID": request_id} if request_id else {}
    response = await client.post("/api/v1/login", json={"email": email}, headers=headers)
    assert response.status_code == 200, response.text
    otp = await otp_from_mailbox(client, email, seen)
    response = await client.post("/api/v1/verify", json={"email": email, "otp": otp})
    assert response.status_code == 200, response.text
    body = response.json()
    client.headers["Authorization"] = f"Bearer {body['token']}"
    return Member(email, body["token"], body["user"], client)


@pytest.fixture
async def peers() -> AsyncIterator[Callable[[str], Peer]]:
    made: list[Peer] = []

    def make(url: str) -> Peer:
        peer = Peer(url)
        made.append(peer)
        return peer

    yield make
    await asyncio.gather(*(p.close() for p in made))


def png(size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 40, 40)).save(out, "PNG")
    return out.getvalue()


async def send(member: Member, chat_id: str, text: str, **files: Any) -> dict[str, Any]:
    response = await member.client.post(
        "/api/v1/message", data={"chatId": chat_id, "text": text}, files=files or None
    )
    assert response.status_code == 201, response.text
    message: dict[str, Any] = response.json()["message"]
    return message


async def test_the_services_run_as_separate_processes(topology: Topology) -> None:
    async with topology.client() as web:
        ready = await web.get("/readyz")
    assert ready.status_code == 200, ready.text
    # The web service checks every chat instance behind it.
    assert ready.json()["checks"] == {"user": "ok", "chat": "ok", "mail": "ok"}
    pids = {p.popen.pid for p in topology.processes.values()}
    assert len(pids) == 5
    assert len(set(topology.chat_urls)) == 2


async def test_chat_across_instances_and_the_web_proxy(
    topology: Topology, peers: Callable[[str], Peer]
) -> None:
    alice = await login(topology, "alice")
    bob = await login(topology, "bob")
    chat1, chat2 = topology.chat_urls

    # Alice's socket on instance 1, Bob's on instance 2, and Bob's second tab through the web proxy.
    alice_socket = await peers(chat1).connect(alice.token)
    bob_socket = await peers(chat2).connect(bob.token)
    bob_tab = await peers(topology.url).connect(bob.token)
    assert bob_tab.client.transport() == "websocket"

    found = await alice.client.get("/api/v1/user/all", params={"q": bob.email})
    assert [u["_id"] for u in found.json()] == [bob.id]
    created = await alice.client.post("/api/v1/chat/new", json={"otherUserId": bob.id})
    assert created.status_code == 201, created.text
    chat_id = created.json()["chatId"]
    await bob_socket.wait_for("newChat", lambda p: p["chatId"] == chat_id, timeout=5)

    # Alice → Bob: both of Bob's sockets hear it, on the other instance and through the proxy.
    sent = await send(alice, chat_id, "hello from instance one")
    for socket in (bob_socket, bob_tab):
        got = await socket.payload("newMessage", lambda p: p["_id"] == sent["_id"], timeout=5)
        assert got["text"] == "hello from instance one"
        assert got["sender"] == alice.id or got["sender"]["_id"] == alice.id

    # Bob → Alice, sent over the proxied websocket's owner's HTTP API.
    reply = await send(bob, chat_id, "hello back")
    got = await alice_socket.payload("newMessage", lambda p: p["_id"] == reply["_id"], timeout=5)
    assert got["text"] == "hello back"

    # Bob reads the chat: Alice (the sender) hears her message was seen.
    page = await bob.client.get(f"/api/v1/message/{chat_id}")
    assert page.status_code == 200, page.text
    assert [m["text"] for m in page.json()["messages"]] == ["hello from instance one", "hello back"]
    seen = await alice_socket.payload("messagesSeen", lambda p: p["chatId"] == chat_id, timeout=5)
    assert seen["seenBy"] == bob.id
    assert sent["_id"] in seen["messageIds"]

    # An image: stored by one instance, its signed URL served through the web service.
    image = await send(alice, chat_id, "", image=("photo.png", png(), "image/png"))
    assert image["messageType"] == "image"
    got = await bob_tab.payload("newMessage", lambda p: p["_id"] == image["_id"], timeout=5)
    url = urlsplit(got["image"]["url"])
    assert url.path.startswith("/media/")
    fetched = await bob.client.get(f"{url.path}?{url.query}")
    assert fetched.status_code == 200, fetched.text
    assert fetched.headers["content-type"].startswith("image/")
    assert Image.open(io.BytesIO(fetched.content)).size == (40, 30)
    forged = await bob.client.get(f"{url.path}?{re.sub(r'sig=[^&]+', 'sig=forged', url.query)}")
    assert forged.status_code == 403

    # Logging out drops Bob's sockets, the one on instance 2 and the one through the proxy.
    out = await bob.client.post("/api/v1/logout")
    assert out.status_code == 200, out.text
    await asyncio.wait_for(bob_socket.disconnected.wait(), 5)
    await asyncio.wait_for(bob_tab.disconnected.wait(), 5)
    refused = await bob.client.get("/api/v1/chat/all")
    assert refused.status_code == 401
    assert not alice_socket.disconnected.is_set()

    await alice.client.aclose()
    await bob.client.aclose()


async def test_long_polling_through_the_proxy_stays_on_one_instance(
    topology: Topology, peers: Callable[[str], Peer]
) -> None:
    alice = await login(topology, "alice")
    bob = await login(topology, "bob")
    created = await alice.client.post("/api/v1/chat/new", json={"otherUserId": bob.id})
    chat_id = created.json()["chatId"]
    # Long-polling is a series of HTTP requests: each must reach the instance holding the session.
    polling = await peers(topology.url).connect(bob.token, transports=("polling",))
    assert polling.client.transport() == "polling"
    for n in range(3):
        sent = await send(alice, chat_id, f"poll {n}")
        got = await polling.payload("newMessage", lambda p, i=sent["_id"]: p["_id"] == i, timeout=5)
        assert got["text"] == f"poll {n}"
    # The server ends a polling session too when its token is revoked.
    assert (await bob.client.post("/api/v1/logout")).status_code == 200
    await asyncio.wait_for(polling.disconnected.wait(), 5)
    await alice.client.aclose()
    await bob.client.aclose()


async def test_the_proxy_refuses_a_socket_without_a_token(
    topology: Topology, peers: Callable[[str], Peer]
) -> None:
    peer = peers(topology.url)
    with pytest.raises(Exception, match=r"(?i)connect"):
        await peer.connect(None)
    assert not peer.client.connected


async def test_one_request_id_from_login_to_the_mail_workers_log(topology: Topology) -> None:
    request_id = "trace-" + secrets.token_hex(8)
    async with topology.client() as web:
        email = unique_email("traced")
        response = await web.post(
            "/api/v1/login",
            json={"email": email},
            headers={"X-Request-ID": request_id, "X-Forwarded-For": random_ip()},
        )
        assert response.status_code == 200, response.text
        assert response.headers["x-request-id"] == request_id
        await otp_from_mailbox(web, email, 0)

    def lines_with(name: str, event: str) -> list[dict[str, Any]]:
        return [
            line
            for line in topology.logs(name)
            if line.get("event") == event and line.get("request_id") == request_id
        ]

    async def logged(name: str, event: str) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            return bool(lines_with(name, event))

        return check

    # The web service proxied it under the id the client sent, the user service answered under it ...
    await eventually(await logged("web", "http.proxied"), timeout=5, what="the web service's log line")
    assert lines_with("web", "http.proxied")[0]["route"] == "/api/v1/login/*"
    await eventually(await logged("user", "http.request"), timeout=5, what="the user service's log line")
    assert lines_with("user", "http.request")[0]["route"] == "/api/v1/login"
    # ... and the mail worker, across the queue, logged the mail it sent under the same id.
    await eventually(await logged("mail", "mail.sent"), timeout=5, what="the mail worker's 'sent' line")
    sent = lines_with("mail", "mail.sent")[0]
    assert sent["level"] == "info"
    assert email not in str(sent), "the log names the domain, never the address"


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    found = False
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
            found = True
    assert found, f"no {name} sample with {labels}"
    return total


async def test_metrics_by_route_template_and_counters(
    topology: Topology, peers: Callable[[str], Peer]
) -> None:
    alice = await login(topology, "alice")
    bob = await login(topology, "bob")
    created = await alice.client.post("/api/v1/chat/new", json={"otherUserId": bob.id})
    chat_id = created.json()["chatId"]
    bob_socket = await peers(topology.chat_urls[0]).connect(bob.token)
    sent = await send(alice, chat_id, "counted")
    await bob_socket.wait_for("newMessage", lambda p: p["_id"] == sent["_id"], timeout=5)
    assert (await alice.client.get(f"/api/v1/message/{chat_id}")).status_code == 200
    wrong = await bob.client.post("/api/v1/verify", json={"email": bob.email, "otp": "000000"})
    assert wrong.status_code == 400

    async with httpx.AsyncClient(timeout=10) as http:
        chat_metrics = "\n".join([(await http.get(f"{u}/metrics")).text for u in topology.chat_urls])
        user_metrics = (await http.get(f"{topology.user_url}/metrics")).text
        mail_metrics = (await http.get(f"{topology.mail_url}/metrics")).text
        web_metrics = (await http.get(f"{topology.url}/metrics")).text

    latency = "parley_http_request_duration_seconds_count"
    assert metric(chat_metrics, latency, route="/api/v1/message/{chatId}", method="GET") >= 1
    assert metric(chat_metrics, latency, route="/api/v1/message", method="POST", status="201") >= 1
    assert chat_id not in chat_metrics, "latency is labelled by route template, never by raw path"
    assert metric(chat_metrics, "parley_messages_stored_total") >= 1
    assert metric(chat_metrics, "parley_messages_delivered_total") >= 1
    assert metric(chat_metrics, "parley_sockets_connected") >= 1
    assert metric(user_metrics, latency, route="/api/v1/login", status="200") >= 2
    assert metric(user_metrics, "parley_otps_issued_total") >= 2
    assert metric(user_metrics, "parley_otps_refused_total") >= 1
    assert metric(mail_metrics, "parley_mails_total", outcome="sent") >= 2
    # The web service times what it proxies by the routing prefix.
    assert metric(web_metrics, latency, service="web", route="/api/v1/message/*", method="POST") >= 1
    assert chat_id not in web_metrics
    await alice.client.aclose()
    await bob.client.aclose()
