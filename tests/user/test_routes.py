"""The user service's HTTP API, driven through the whole stack as a client would."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
import subprocess
import time
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import jwt
import pytest
from asgi_lifespan import LifespanManager
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from parley.core.bus import MemoryBus
from parley.core.ids import is_id, new_id
from parley.user.app import create_app
from parley.user.otp import CODE_PREFIX, COOLDOWN_PREFIX
from tests.fixtures.stack import OTP_PATTERN, Person, Stack, make_settings, random_ip, unique_email

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
USER_KEYS = {"_id", "name", "email", "createdAt", "updatedAt"}


async def ask_code(stack: Stack, email: str, client: httpx.AsyncClient | None = None) -> str:
    """Ask for a code for ``email`` and read it from the mailbox."""
    client = client or stack.client()
    seen = len(await stack.mails_to(email.strip().lower()))
    response = await client.post("/api/v1/login", json={"email": email})
    assert response.status_code == 200, response.text
    return await stack.otp_for(email.strip().lower(), seen=seen)


async def forget_cooldown(stack: Stack, email: str) -> None:
    """Let ``email`` ask for a code again at once (as if the cooldown had run out)."""
    await stack.apps["user"].state.cache.delete(COOLDOWN_PREFIX + email)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


def assert_user_document(doc: dict[str, Any]) -> None:
    assert set(doc) == USER_KEYS
    assert is_id(doc["_id"])
    assert ISO.match(doc["createdAt"]), doc["createdAt"]
    assert ISO.match(doc["updatedAt"]), doc["updatedAt"]


async def rename(person: Person, name: str) -> dict[str, Any]:
    """Rename ``person``; their client goes on with the new token (the old one is refused)."""
    response = await person.client.post("/api/v1/update/user", json={"name": name})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    person.token = body["token"]
    person.client.headers["Authorization"] = f"Bearer {body['token']}"
    return body


# ------------------------------------------------------------------ login and verify


async def test_first_login_creates_the_user(stack: Stack) -> None:
    email = unique_email("New.Person")
    client = stack.client()
    seen = len(await stack.mails_to(email.lower()))
    response = await client.post("/api/v1/login", json={"email": f"  {email.upper()} "})
    assert response.status_code == 200, response.text
    assert response.json() == {"message": "OTP sent to your email", "expiresIn": 300, "resendIn": 60}
    mail = await stack.mail_for(email.lower(), seen=seen)
    assert mail["subject"] == "Your Parley login code"
    assert "5 minutes" in mail["body"]
    code = await stack.otp_for(email.lower(), seen=seen)

    response = await client.post("/api/v1/verify", json={"email": f" {email.title()}", "otp": code})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"message", "user", "token"}
    user = body["user"]
    assert_user_document(user)
    assert user["email"] == email.lower()
    assert user["name"] == email.lower().split("@")[0]
    claims = claims_of(body["token"])
    assert claims["sub"] == user["_id"]
    assert claims["user"] == {"_id": user["_id"], "name": user["name"], "email": user["email"]}

    me = await stack.client(token=body["token"]).get("/api/v1/me")
    assert me.status_code == 200
    assert me.json() == user


async def test_logging_in_again_finds_the_same_user(stack: Stack, alice: Person) -> None:
    await forget_cooldown(stack, alice.email)
    again = await stack.login(alice.email)
    assert again.id == alice.id
    assert again.token != alice.token


async def test_the_login_answer_and_the_queued_mail_carry_the_real_lifetime_and_the_code(
    stack: Stack,
) -> None:
    """``expiresIn``/``resendIn`` follow the settings; the queue message names its code (no parsing)."""
    queue_url = f"memory://lifetime-{new_id()}"
    settings = make_settings(stack.backend, amqp_url=queue_url, otp_ttl_seconds=90, otp_resend_seconds=15)
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, client=(random_ip(), 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://user") as client:
            email = unique_email("lifetime")
            response = await client.post("/api/v1/login", json={"email": email})
            assert response.status_code == 200, response.text
            assert response.json() == {"message": "OTP sent to your email", "expiresIn": 90, "resendIn": 15}
            raw, _ = MemoryBus(queue_url).queues["send-otp"].get_nowait()
            mail = json.loads(raw)
            # The seed's three fields, and what the mail is and which code it carries.
            assert set(mail) == {"to", "subject", "body", "kind", "code"}
            assert (mail["to"], mail["kind"]) == (email, "otp")
            assert mail["body"].count(mail["code"]) == 1 and "90 seconds" in mail["body"]
            verified = await client.post("/api/v1/verify", json={"email": email, "otp": mail["code"]})
            assert verified.status_code == 200, verified.text


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 422),
        ({"email": 42}, 422),
        ({"email": None}, 422),
        ({"email": ""}, 400),
        ({"email": "   "}, 400),
        ({"email": "not-an-address"}, 400),
        ({"email": "alice@"}, 400),
        ({"email": "a@b@example.com"}, 400),
        ({"email": "a" * 64 + "@" + "b" * 185 + ".com"}, 400),
    ],
)
async def test_login_refuses_bad_addresses(stack: Stack, body: dict[str, Any], status: int) -> None:
    response = await stack.client().post("/api/v1/login", json=body)
    assert response.status_code == status, response.text
    assert "email" in response.json()["message"].lower()


async def test_login_refuses_a_body_that_is_not_json(stack: Stack) -> None:
    response = await stack.client().post(
        "/api/v1/login", content=b"email=a@example.com", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["message"]


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"email": "x@example.com"}, 422, "otp"),
        ({"otp": "123456"}, 422, "email"),
        ({"email": "nope", "otp": "123456"}, 400, "email"),
        ({"email": "x@example.com", "otp": "12345"}, 400, "6 digits"),
        ({"email": "x@example.com", "otp": "abcdef"}, 400, "6 digits"),
        ({"email": "x@example.com", "otp": "１２３４５６"}, 400, "6 digits"),
    ],
)
async def test_verify_refuses_bad_input(stack: Stack, body: dict[str, Any], status: int, says: str) -> None:
    response = await stack.client().post("/api/v1/verify", json=body)
    assert response.status_code == status, response.text
    assert says in response.json()["message"]


async def test_a_code_that_was_never_requested_is_refused(stack: Stack) -> None:
    response = await stack.client().post("/api/v1/verify", json={"email": unique_email(), "otp": "123456"})
    assert response.status_code == 400
    assert response.json()["message"] == "The code has expired or was not requested"


async def test_a_wrong_code_is_refused_and_the_right_one_still_works(stack: Stack) -> None:
    email = unique_email()
    code = await ask_code(stack, email)
    client = stack.client()
    response = await client.post("/api/v1/verify", json={"email": email, "otp": wrong(code)})
    assert response.status_code == 400
    assert response.json()["message"] == "Invalid code"
    response = await client.post("/api/v1/verify", json={"email": email, "otp": code})
    assert response.status_code == 200, response.text


async def test_a_numeric_code_is_read_as_digits(stack: Stack) -> None:
    email = unique_email()
    code = await ask_code(stack, email)
    response = await stack.client().post(
        "/api/v1/verify", json={"email": email, "otp": int(wrong(code)) or 1}
    )
    assert response.status_code == 400
    assert response.json()["code"] in ("invalid_otp",)


async def test_a_code_works_once(stack: Stack) -> None:
    email = unique_email()
    code = await ask_code(stack, email)
    client = stack.client()
    assert (await client.post("/api/v1/verify", json={"email": email, "otp": code})).status_code == 200
    response = await client.post("/api/v1/verify", json={"email": email, "otp": code})
    assert response.status_code == 400
    assert "expired" in response.json()["message"]


async def test_two_tabs_verifying_at_once_log_in_once(stack: Stack) -> None:
    email = unique_email()
    code = await ask_code(stack, email)
    responses = await asyncio.gather(
        *(stack.client().post("/api/v1/verify", json={"email": email, "otp": code}) for _ in range(4))
    )
    assert sorted(r.status_code for r in responses) == [200, 400, 400, 400]


async def test_an_expired_code_is_refused(stack: Stack) -> None:
    email = unique_email()
    code = await ask_code(stack, email)
    cache = stack.apps["user"].state.cache
    await cache.pexpire(CODE_PREFIX + email, 1)
    deadline = time.monotonic() + 5
    while await cache.exists(CODE_PREFIX + email):
        assert time.monotonic() < deadline, "the code did not expire"
        await asyncio.sleep(0.01)
    response = await stack.client().post("/api/v1/verify", json={"email": email, "otp": code})
    assert response.status_code == 400
    assert response.json()["message"] == "The code has expired or was not requested"


async def test_five_wrong_codes_void_the_code(stack: Stack) -> None:
    email = unique_email()
    code = await ask_code(stack, email)
    client = stack.client()
    messages = []
    for _ in range(5):
        response = await client.post("/api/v1/verify", json={"email": email, "otp": wrong(code)})
        assert response.status_code == 400
        messages.append(response.json()["message"])
    assert messages[:4] == ["Invalid code"] * 4
    assert "request a new code" in messages[4]
    response = await client.post("/api/v1/verify", json={"email": email, "otp": code})
    assert response.status_code == 400
    assert response.json()["code"] == "otp_void"
    assert "request a new one" in response.json()["message"]


async def test_a_new_code_may_be_asked_for_at_once_when_the_last_one_is_void(stack: Stack) -> None:
    email = unique_email()
    code = await ask_code(stack, email)
    client = stack.client()
    for _ in range(5):
        await client.post("/api/v1/verify", json={"email": email, "otp": wrong(code)})
    # Within the resend cooldown, yet the void code does not hold the next one back.
    response = await client.post("/api/v1/login", json={"email": email})
    assert response.status_code == 200, response.text


async def test_asking_again_within_the_cooldown_is_refused(stack: Stack) -> None:
    email = unique_email()
    await ask_code(stack, email)
    response = await stack.client().post("/api/v1/login", json={"email": email.upper()})
    assert response.status_code == 429
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert str(retry_after) in response.json()["message"]
    assert (await stack.client().post("/api/v1/login", json={"email": unique_email()})).status_code == 200


async def test_login_is_limited_per_client_address(stack: Stack) -> None:
    ip = random_ip()
    client = stack.client(ip=ip)
    for i in range(20):
        # A forged X-Forwarded-For does not make a new client: no proxy is trusted here.
        response = await client.post(
            "/api/v1/login", json={"email": unique_email()}, headers={"X-Forwarded-For": f"10.9.9.{i}"}
        )
        assert response.status_code == 200, (i, response.text)
    response = await client.post("/api/v1/login", json={"email": unique_email()})
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert (await stack.client().post("/api/v1/login", json={"email": unique_email()})).status_code == 200


async def test_verify_is_limited_per_client_address(stack: Stack) -> None:
    client = stack.client(ip=random_ip())
    email = unique_email()
    for _ in range(30):
        response = await client.post("/api/v1/verify", json={"email": email, "otp": "123456"})
        assert response.status_code == 400
    response = await client.post("/api/v1/verify", json={"email": email, "otp": "123456"})
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60


async def test_a_broker_outage_answers_503_and_the_next_try_works(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    login = stack.apps["user"].state.login

    async def unreachable(*_: Any, **__: Any) -> None:
        raise ConnectionError("broker unreachable")

    email = unique_email()
    monkeypatch.setattr(login.bus, "publish", unreachable)
    response = await stack.client().post("/api/v1/login", json={"email": email})
    assert response.status_code == 503
    assert response.json()["message"]
    monkeypatch.undo()
    await ask_code(stack, email)  # at once: neither a cooldown nor a stale code was left behind


def rabbitmqctl_output(*args: str) -> str:
    exe = shutil.which("rabbitmqctl")
    assert exe, "rabbitmqctl is needed to take the broker away"
    done = subprocess.run([exe, *args], capture_output=True, text=True, timeout=60, check=True)  # noqa: S603
    return done.stdout


def cut_off(vhost: str) -> int:
    """Take the broker away from ``vhost``: refuse new connections, close the open ones."""
    rabbitmqctl_output("clear_permissions", "-p", vhost, "guest")
    closed = 0
    for line in rabbitmqctl_output(
        "list_connections", "pid", "vhost", "--no-table-headers", "--quiet"
    ).splitlines():
        pid, _, where = line.rpartition("\t")
        if where == vhost:
            rabbitmqctl_output("close_connection", pid, "outage test")
            closed += 1
    return closed


def restore(vhost: str) -> None:
    rabbitmqctl_output("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")


@pytest.mark.slow
async def test_the_service_rides_out_a_broker_outage(stack: Stack) -> None:
    if not stack.backend.real:
        pytest.skip("the in-process queue cannot be taken away")
    vhost = unquote(urlsplit(stack.settings.bus.url).path.lstrip("/")) or "/"

    async def broker_check() -> str:
        response = await stack.client().get("/readyz")
        return str(response.json()["checks"]["user.broker"])

    try:
        assert await asyncio.to_thread(cut_off, vhost) >= 1
        deadline = time.monotonic() + 10
        while await broker_check() == "ok":
            assert time.monotonic() < deadline, "the user service never noticed the broker went away"
            await asyncio.sleep(0.02)
        email = unique_email("outage")
        during = await stack.client().post("/api/v1/login", json={"email": email})
        assert during.status_code == 503, during.text
        assert during.json()["message"]
    finally:
        await asyncio.to_thread(restore, vhost)

    # aio-pika's robust connection comes back by itself; the same address may try again at once.
    deadline = time.monotonic() + 30
    while True:
        response = await stack.client().post("/api/v1/login", json={"email": email})
        assert response.status_code in (200, 503), response.text
        if response.status_code == 200:
            break
        assert time.monotonic() < deadline, "the user service did not reconnect to the broker"
        await asyncio.sleep(0.1)
    assert await stack.otp_for(email)
    assert await broker_check() == "ok"


async def test_codes_and_tokens_never_reach_the_logs(stack: Stack) -> None:
    email = unique_email()
    with capture_logs() as events:
        code = await ask_code(stack, email)
        response = await stack.client().post("/api/v1/verify", json={"email": email, "otp": code})
    token = response.json()["token"]
    assert events, "nothing was logged at all"
    logged = json.dumps(events, default=str)
    assert code not in logged
    assert token not in logged
    assert token.split(".")[2] not in logged


async def test_codes_are_counted(stack: Stack) -> None:
    def issued() -> float:
        return REGISTRY.get_sample_value("parley_otps_issued_total") or 0.0

    def refused(reason: str) -> float:
        return REGISTRY.get_sample_value("parley_otps_refused_total", {"reason": reason}) or 0.0

    before_issued, before_refused = issued(), refused("invalid")
    email = unique_email()
    code = await ask_code(stack, email)
    await stack.client().post("/api/v1/verify", json={"email": email, "otp": wrong(code)})
    assert issued() == before_issued + 1
    assert refused("invalid") == before_refused + 1


# ------------------------------------------------------------------ me and names


async def test_me_is_the_bare_user_document(alice: Person) -> None:
    response = await alice.client.get("/api/v1/me")
    assert response.status_code == 200
    assert response.json() == alice.user
    assert_user_document(response.json())


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Basic YTpi"}, {"Authorization": "Bearer "}],
)
async def test_me_needs_a_valid_token(stack: Stack, headers: dict[str, str]) -> None:
    response = await stack.client().get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["message"]


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("  Zoë Liddell ", "Zoë Liddell"),
        ("李小龍", "李小龍"),
        ("🦊", "🦊"),
        ("é" * 50, "é" * 50),
        ("\u200bBob", "Bob"),
    ],
)
async def test_renaming(alice: Person, raw: str, stored: str) -> None:
    body = await rename(alice, raw)
    assert body["message"]
    assert body["user"]["name"] == stored
    assert body["user"]["_id"] == alice.id
    assert body["user"]["updatedAt"] >= body["user"]["createdAt"]
    assert claims_of(body["token"])["user"]["name"] == stored
    me = await alice.client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.json()["name"] == stored


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": ""}, 400),
        ({"name": "   "}, 400),
        ({"name": "\t\n"}, 400),
        ({"name": "\u200b\u200d"}, 400),
        ({"name": "a" * 51}, 400),
        ({"name": "é" * 51}, 400),
        ({"name": "Al\x00ice"}, 400),
        ({"name": "Al\nice"}, 400),
        ({}, 422),
        ({"name": 7}, 422),
        ({"name": ["x"]}, 422),
    ],
)
async def test_bad_names_are_refused(alice: Person, body: dict[str, Any], status: int) -> None:
    response = await alice.client.post("/api/v1/update/user", json=body)
    assert response.status_code == status, response.text
    assert "name" in response.json()["message"].lower()
    assert (await alice.client.get("/api/v1/me")).json()["name"] == alice.name


async def test_renaming_needs_a_token(stack: Stack) -> None:
    response = await stack.client().post("/api/v1/update/user", json={"name": "Mallory"})
    assert response.status_code == 401


# ------------------------------------------------------------------ one user, many users


async def test_one_user_by_id(alice: Person, bob: Person) -> None:
    response = await alice.client.get(f"/api/v1/user/{bob.id}")
    assert response.status_code == 200
    # Not a contact of Alice's: everything but the address (see test_email_privacy).
    assert response.json() == {k: v for k, v in bob.user.items() if k != "email"}


@pytest.mark.parametrize(
    "user_id", ["nope", pytest.param(new_id(), id="unknown-id"), "0" * 24, "A" * 24, "%00", "x" * 500]
)
async def test_an_unknown_or_malformed_id_is_404(alice: Person, user_id: str) -> None:
    response = await alice.client.get(f"/api/v1/user/{user_id}")
    assert response.status_code == 404
    assert response.json()["message"]


async def test_a_user_needs_a_token(stack: Stack, alice: Person) -> None:
    assert (await stack.client().get(f"/api/v1/user/{alice.id}")).status_code == 401


async def test_batch_answers_the_users_that_exist(alice: Person, bob: Person, carol: Person) -> None:
    ids = [carol.id, "junk", new_id(), bob.id, "", carol.id]
    response = await alice.client.post("/api/v1/user/batch", json={"ids": ids})
    assert response.status_code == 200
    # Strangers to Alice: no address (see test_email_privacy); each with their read-receipts setting.
    assert response.json() == {
        "users": [
            {**{k: v for k, v in who.user.items() if k != "email"}, "readReceipts": True}
            for who in (carol, bob)
        ]
    }
    empty = await alice.client.post("/api/v1/user/batch", json={"ids": []})
    assert empty.json() == {"users": []}


async def test_batch_is_bounded_and_needs_a_token(stack: Stack, alice: Person) -> None:
    too_many = await alice.client.post("/api/v1/user/batch", json={"ids": [new_id() for _ in range(501)]})
    assert too_many.status_code == 422
    just_enough = await alice.client.post(
        "/api/v1/user/batch", json={"ids": [new_id() for _ in range(499)] + [alice.id]}
    )
    assert just_enough.json() == {"users": [{**alice.user, "readReceipts": True}]}
    assert (await stack.client().post("/api/v1/user/batch", json={"ids": [alice.id]})).status_code == 401
    assert (await alice.client.post("/api/v1/user/batch", json={"ids": "x"})).status_code == 422


# ------------------------------------------------------------------ the directory


async def people(stack: Stack, count: int) -> list[Person]:
    return list(await asyncio.gather(*(stack.login(unique_email(f"p{i}")) for i in range(count))))


async def search(person: Person, **params: Any) -> tuple[list[dict[str, Any]], str | None]:
    response = await person.client.get("/api/v1/user/all", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body, list)
    return body, response.headers.get("X-Next-Cursor")


async def test_search_by_name_and_by_email(stack: Stack) -> None:
    alice, bob, carol = await people(stack, 3)
    tag = new_id()[-8:]
    await rename(bob, f"Bob {tag.upper()} Builder")
    await rename(alice, f"Alice {tag}")  # the caller matches too, and is left out

    found, _ = await search(alice, q=tag)
    assert [u["_id"] for u in found] == [bob.id]
    assert found[0]["name"] == f"Bob {tag.upper()} Builder"
    # A stranger: no address (see test_email_privacy).
    assert_user_document({**found[0], "email": bob.email})
    assert "email" not in found[0]

    by_email, _ = await search(alice, q=carol.email.upper())
    assert [u["_id"] for u in by_email] == [carol.id]
    assert by_email[0]["email"] == carol.email

    nobody, _ = await search(alice, q=f"{tag}-nobody")
    assert nobody == []


async def test_search_treats_wildcards_literally(stack: Stack) -> None:
    caller, percent, plain = await people(stack, 3)
    tag = new_id()[-8:]
    await rename(percent, f"{tag}%x")
    await rename(plain, f"{tag}ax")
    found, _ = await search(caller, q=f"{tag}%")
    assert [u["_id"] for u in found] == [percent.id]
    found, _ = await search(caller, q=f"{tag}_x")
    assert found == []
    found, _ = await search(caller, q=f"{tag}\\")
    assert found == []


async def test_unicode_search_is_case_insensitive(stack: Stack) -> None:
    caller, other = await people(stack, 2)
    tag = new_id()[-8:]
    await rename(other, f"ÉLODIE {tag}")
    found, _ = await search(caller, q=f"élodie {tag}")
    assert [u["_id"] for u in found] == [other.id]


async def test_pages_cover_everyone_exactly_once(stack: Stack) -> None:
    caller, *others = await people(stack, 6)
    tag = new_id()[-8:]
    for letter, person in zip("ECADB", others, strict=True):
        await rename(person, f"{letter} {tag}")
    await rename(caller, f"A {tag}")

    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"q": tag, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page, cursor = await search(caller, **params)
        pages += 1
        assert len(page) <= 2
        seen.extend(page)
        if cursor is None:
            break
        assert pages < 10
    assert pages == 3
    assert [u["name"][0] for u in seen] == list("ABCDE")
    assert sorted(u["_id"] for u in seen) == sorted(p.id for p in others)
    assert caller.id not in {u["_id"] for u in seen}


async def test_without_a_query_everyone_else_is_listed(stack: Stack, alice: Person, bob: Person) -> None:
    found, _ = await search(alice, limit=100)
    assert 1 <= len(found) <= 100
    assert alice.id not in {u["_id"] for u in found}
    everyone: set[str] = set()
    cursor: str | None = None
    for _ in range(100):
        page, cursor = await search(alice, limit=100, **({"cursor": cursor} if cursor else {}))
        everyone.update(u["_id"] for u in page)
        if cursor is None:
            break
    assert bob.id in everyone


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"cursor": "not a cursor"}, 400),
        ({"cursor": base64.urlsafe_b64encode(b'["a", 1]').decode()}, 400),
        ({"cursor": "W10"}, 400),
        ({"limit": 0}, 422),
        ({"limit": 101}, 422),
        ({"limit": "ten"}, 422),
        ({"q": "x" * 101}, 422),
    ],
)
async def test_the_directory_refuses_bad_parameters(
    alice: Person, params: dict[str, Any], status: int
) -> None:
    response = await alice.client.get("/api/v1/user/all", params=params)
    assert response.status_code == status, response.text
    assert response.json()["message"]


async def test_the_directory_needs_a_token(stack: Stack) -> None:
    assert (await stack.client().get("/api/v1/user/all")).status_code == 401


# ------------------------------------------------------------------ logout and keys


async def test_logout_refuses_the_token_everywhere(stack: Stack) -> None:
    person = await stack.login()
    await forget_cooldown(stack, person.email)
    other_session = await stack.login(person.email)
    assert (await person.client.get("/api/v1/chat/all")).status_code == 200

    response = await person.client.post("/api/v1/logout")
    assert response.status_code == 200
    assert response.json()["message"]

    me = await person.client.get("/api/v1/me")
    assert me.status_code == 401
    assert (await person.client.get("/api/v1/chat/all")).status_code == 401
    assert (await person.client.post("/api/v1/logout")).status_code == 401
    # Only that token: the same person's other session goes on.
    assert (await other_session.client.get("/api/v1/me")).status_code == 200


async def test_logout_needs_a_token(stack: Stack) -> None:
    assert (await stack.client().post("/api/v1/logout")).status_code == 401


async def test_the_key_set_is_published(stack: Stack) -> None:
    response = await stack.client().get("/.well-known/jwks.json")
    assert response.status_code == 200
    # With a shared secret there is no public key to publish.
    assert response.json() == {"keys": []}


async def test_with_a_signing_key_tokens_verify_with_the_published_key(stack: Stack) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    # The user service alone, signing with its own key; its mail goes to a queue this test reads.
    queue_url = f"memory://keys-{new_id()}"
    settings = make_settings(stack.backend, jwt_secret=None, jwt_private_key=private, amqp_url=queue_url)
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, client=(random_ip(), 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://user") as client:
            email = unique_email("keys")
            assert (await client.post("/api/v1/login", json={"email": email})).status_code == 200
            raw, _ = MemoryBus(queue_url).queues["send-otp"].get_nowait()
            mail = json.loads(raw)
            assert mail["to"] == email
            code = OTP_PATTERN.search(mail["body"])
            assert code
            verified = await client.post("/api/v1/verify", json={"email": email, "otp": code.group(1)})
            assert verified.status_code == 200, verified.text
            token = verified.json()["token"]
            jwks = (await client.get("/.well-known/jwks.json")).json()
            assert (
                await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
            ).status_code == 200

    [published] = jwks["keys"]
    assert published["kty"] == "OKP"
    assert "d" not in published
    claims = jwt.decode(token, jwt.PyJWK.from_dict(published).key, algorithms=["EdDSA"])
    assert claims["sub"] == verified.json()["user"]["_id"]


async def test_the_user_service_reports_ready(stack: Stack) -> None:
    response = await stack.client().get("/readyz")
    assert response.status_code == 200
    checks = response.json()["checks"]
    assert {"user.database", "user.cache", "user.broker"} <= set(checks)
    assert all(checks[name] == "ok" for name in ("user.database", "user.cache", "user.broker"))


async def test_every_route_has_an_operation_id(stack: Stack) -> None:
    doc = stack.apps["user"].openapi()
    ids = {
        f"{method.upper()} {path}": op["operationId"]
        for path, item in doc["paths"].items()
        for method, op in item.items()
    }
    assert ids["POST /api/v1/login"] == "auth-login"
    assert ids["POST /api/v1/verify"] == "auth-verify"
    assert ids["GET /api/v1/user/all"] == "user-list_users"
    assert ids["POST /api/v1/user/batch"] == "user-batch_users"
    assert len(set(ids.values())) == len(ids)
