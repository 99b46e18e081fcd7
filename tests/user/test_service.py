"""The user service's logic: input rules, cursors, the login order, racing first logins."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import fakeredis
import pytest

from parley.core.auth import Tokens
from parley.core.database import Database
from parley.core.errors import AppError
from parley.core.ids import new_id
from parley.core.ratelimit import RateLimiter, storage_url
from parley.user import service, store
from parley.user.errors import (
    InvalidCursor,
    InvalidEmail,
    InvalidName,
    MailUnavailable,
    ResendTooSoon,
    TooManyRequests,
)
from parley.user.otp import CODE_PREFIX, COOLDOWN_PREFIX, OtpStore, derive_key
from tests.fixtures.stack import Stack, unique_email

# ------------------------------------------------------------------ addresses


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("alice@example.com", "alice@example.com"),
        ("  Alice.Liddell@Example.COM \n", "alice.liddell@example.com"),
        ("bob+chat@mail.example.org", "bob+chat@mail.example.org"),
    ],
)
def test_addresses_are_trimmed_and_lower_cased(raw: str, expected: str) -> None:
    assert service.normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", "   ", "alice", "alice@", "@example.com", "a@b@example.com", "alice@example", "al ice@example.com"],
)
def test_invalid_addresses_are_refused_with_a_reason(raw: str) -> None:
    with pytest.raises(InvalidEmail) as caught:
        service.normalize_email(raw)
    assert caught.value.status == 400
    assert "email" in caught.value.message.lower()


def test_overlong_addresses_are_refused() -> None:
    local = "a" * 64
    domain = ".".join(["b" * 60] * 4) + ".com"  # 247 characters
    with pytest.raises(InvalidEmail, match="254"):
        service.normalize_email(f"{local}@{domain}")


# ------------------------------------------------------------------ names


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Alice", "Alice"),
        ("  Alice Liddell  ", "Alice Liddell"),
        ("Zoë", "Zoë"),
        ("Zoe\u0308", "Zoë"),  # combining diaeresis, normalised to one character
        ("李小龍", "李小龍"),
        ("🦊 Fox", "🦊 Fox"),
        ("\u200bBob\u200b", "Bob"),  # zero-width spaces around are trimmed
        ("👩\u200d💻", "👩\u200d💻"),  # a zero-width joiner inside is kept
        ("é" * 50, "é" * 50),  # 50 characters, 100 bytes
    ],
)
def test_good_names(raw: str, expected: str) -> None:
    assert service.clean_name(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "enter a name"),
        ("   \t\n ", "enter a name"),
        ("\u200b\u200c\u200d", "enter a name"),
        ("\u3000", "enter a name"),
        ("a" * 51, "at most 50"),
        ("é" * 51, "at most 50"),
        ("Al\x00ice", "control"),
        ("Al\nice", "control"),
        ("Al\u2028ice", "control"),
        ("\u0301\u0301", "visible"),
    ],
)
def test_bad_names(raw: str, reason: str) -> None:
    with pytest.raises(InvalidName) as caught:
        service.clean_name(raw)
    assert reason in caught.value.message
    assert caught.value.status == 400


def test_a_new_user_is_named_after_their_address() -> None:
    assert service.default_name("alice.liddell@example.com") == "alice.liddell"
    assert service.default_name("x" * 64 + "@example.com") == "x" * 50


def test_the_code_mail_is_what_the_queue_carries() -> None:
    mail = service.otp_mail("alice@example.com", "042917", 300).to_message()
    assert mail == {
        "to": "alice@example.com",
        "subject": "Your Parley login code",
        "body": mail["body"],
        "kind": "otp",
        "code": "042917",
    }
    assert mail["body"].count("042917") == 1
    assert "5 minutes" in mail["body"]
    assert "1 minute " in service.otp_mail("a@example.com", "123456", 60).body
    assert "90 seconds" in service.otp_mail("a@example.com", "123456", 90).body


# ------------------------------------------------------------------ cursors


def test_cursors_round_trip() -> None:
    key = ("zoë 🦊", new_id())
    cursor = service.encode_cursor(key)
    assert cursor.isascii()
    assert "=" not in cursor
    assert service.decode_cursor(cursor) == key


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!",
        "a",
        _b64(b"\xff\xfe"),
        _b64(b"not json"),
        _b64(b"{}"),
        _b64(b"[1, 2]"),
        _b64(b'["a"]'),
        _b64(b'["a", "b", "c"]'),
        _b64(b'["a", "not-an-id"]'),
        pytest.param(_b64(json.dumps(["a", new_id().upper()]).encode()), id="upper-case-id"),
    ],
)
def test_malformed_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor) as caught:
        service.decode_cursor(cursor)
    assert caught.value.status == 400


def test_like_wildcards_are_escaped() -> None:
    assert store.escape_like("100%_a\\b") == "100\\%\\_a\\\\b"


def test_rate_limit_storage_follows_the_cache_url() -> None:
    assert storage_url("memory://abc") == "async+memory://"
    assert storage_url("redis://h:6379/3") == "async+redis://h:6379/3"
    assert storage_url("rediss://h:6380/0") == "async+rediss://h:6380/0"
    assert storage_url("unix:///run/redis.sock?db=2") == "async+redis+unix:///run/redis.sock?db=2"


# ------------------------------------------------------------------ the login order


class RecordingBus:
    """A bus whose publishing can be switched off, as a broker outage would."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.down = False

    async def ping(self) -> None:
        return None

    async def publish(
        self, queue: str, body: dict[str, Any], *, headers: dict[str, Any] | None = None
    ) -> None:
        if self.down:
            raise ConnectionError("broker unreachable")
        self.sent.append((queue, body))


@pytest.fixture
async def cache() -> AsyncIterator[fakeredis.FakeAsyncRedis]:
    client = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer(), decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
def bus() -> RecordingBus:
    return RecordingBus()


@pytest.fixture
async def login(cache: fakeredis.FakeAsyncRedis, bus: RecordingBus) -> AsyncIterator[service.Login]:
    limiter = RateLimiter("memory://")
    yield service.Login(
        otps=OtpStore(cache, derive_key("k" * 32), ttl=300, max_attempts=5, resend_seconds=60),
        limiter=limiter,
        bus=bus,  # type: ignore[arg-type]
        tokens=Tokens(cache, secret="s" * 32),
        mail_queue="send-otp",
        login_rate=3,
        verify_rate=3,
    )
    await limiter.close()


async def test_a_code_is_queued_as_the_seed_mail(login: service.Login, bus: RecordingBus) -> None:
    email = await login.request_code("  Alice@Example.com ", "10.0.0.1")
    assert email == "alice@example.com"
    [(queue, mail)] = bus.sent
    assert queue == "send-otp"
    # The seed's three fields, plus what the mail is and its code, so nobody parses it out of the text.
    assert set(mail) == {"to", "subject", "body", "kind", "code"}
    assert mail["to"] == "alice@example.com"
    assert mail["kind"] == "otp" and mail["code"] in mail["body"]


async def test_when_the_mail_cannot_be_queued_everything_is_undone(
    login: service.Login, bus: RecordingBus, cache: fakeredis.FakeAsyncRedis
) -> None:
    bus.down = True
    with pytest.raises(MailUnavailable) as caught:
        await login.request_code("alice@example.com", "10.0.0.1")
    assert caught.value.status == 503
    assert not await cache.exists(CODE_PREFIX + "alice@example.com")
    assert not await cache.exists(COOLDOWN_PREFIX + "alice@example.com")
    bus.down = False
    await login.request_code("alice@example.com", "10.0.0.1")  # at once, no cooldown
    assert len(bus.sent) == 1


async def test_a_hanging_broker_is_given_up_on(
    login: service.Login, monkeypatch: pytest.MonkeyPatch, cache: fakeredis.FakeAsyncRedis
) -> None:
    async def hang(*_: Any, **__: Any) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(service, "PUBLISH_TIMEOUT_SECONDS", 0.05)
    monkeypatch.setattr(login.bus, "publish", hang)
    with pytest.raises(MailUnavailable):
        await login.request_code("alice@example.com", "10.0.0.1")
    assert not await cache.exists(COOLDOWN_PREFIX + "alice@example.com")


async def test_invalid_addresses_do_not_use_up_the_client_limit(login: service.Login) -> None:
    for _ in range(5):
        with pytest.raises(InvalidEmail):
            await login.request_code("not-an-address", "10.0.0.2")
    await login.request_code("alice@example.com", "10.0.0.2")


async def test_the_client_limit_comes_before_the_cooldown(
    login: service.Login, cache: fakeredis.FakeAsyncRedis, bus: RecordingBus
) -> None:
    for i in range(3):
        await login.request_code(f"user{i}@example.com", "10.0.0.3")
    with pytest.raises(TooManyRequests) as caught:
        await login.request_code("late@example.com", "10.0.0.3")
    assert 1 <= caught.value.retry_after <= 60
    assert caught.value.headers["Retry-After"] == str(caught.value.retry_after)
    assert not await cache.exists(COOLDOWN_PREFIX + "late@example.com")
    await login.request_code("late@example.com", "10.0.0.4")  # another client is not affected
    assert len(bus.sent) == 4


async def test_a_resend_within_the_cooldown_is_refused(login: service.Login, bus: RecordingBus) -> None:
    await login.request_code("alice@example.com", "10.0.0.5")
    with pytest.raises(ResendTooSoon) as caught:
        await login.request_code("ALICE@example.com", "10.0.0.6")
    assert caught.value.status == 429
    assert 1 <= caught.value.retry_after <= 60
    assert len(bus.sent) == 1


async def test_verification_is_limited_per_client(login: service.Login) -> None:
    class NoSession:
        pass

    for _ in range(3):
        with pytest.raises(AppError) as caught:
            await login.verify(NoSession(), "alice@example.com", "123456", "10.0.0.7")  # type: ignore[arg-type]
        assert caught.value.status == 400
    with pytest.raises(TooManyRequests):
        await login.verify(NoSession(), "alice@example.com", "123456", "10.0.0.7")  # type: ignore[arg-type]


# ------------------------------------------------------------------ the table


@pytest.fixture
def db(stack: Stack) -> Database:
    database: Database = stack.apps["user"].state.db
    return database


async def test_racing_first_logins_create_one_user(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    email = unique_email("racer")
    real_lookup = store.get_user_by_email
    # Both logins look first, find nobody, and only then insert: the worst interleaving.
    both_looked = asyncio.Barrier(2)
    first_look: set[int] = set()

    async def lookup(session: Any, address: str) -> store.User | None:
        if id(session) not in first_look:
            first_look.add(id(session))
            await both_looked.wait()
            return None
        return await real_lookup(session, address)

    monkeypatch.setattr(store, "get_user_by_email", lookup)

    async def first_login() -> tuple[str, bool]:
        async with db.session() as session:
            user, created = await store.get_or_create_user(session, email, "racer")
            return user.id, created

    results = await asyncio.wait_for(asyncio.gather(first_login(), first_login()), 30)
    assert results[0][0] == results[1][0]
    assert sorted(created for _, created in results) == [False, True]
    monkeypatch.undo()
    async with db.session() as session:
        user = await store.get_user_by_email(session, email)
        assert user is not None and user.id == results[0][0]


async def test_users_come_back_in_the_order_asked(db: Database) -> None:
    async with db.session() as session:
        a, _ = await store.get_or_create_user(session, unique_email("a"), "a")
        b, _ = await store.get_or_create_user(session, unique_email("b"), "b")
    async with db.session() as session:
        found = await store.get_users(session, [b.id, "junk", new_id(), a.id, b.id])
        assert [u.id for u in found] == [b.id, a.id]
        assert await store.get_users(session, []) == []


async def test_timestamps_are_utc(db: Database) -> None:
    async with db.session() as session:
        created, _ = await store.get_or_create_user(session, unique_email("tz"), "tz")
    async with db.session() as session:
        user = await store.get_user(session, created.id)
        assert user is not None
        assert user.created_at.utcoffset() is not None
        assert user.created_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
        assert user.created_at == created.created_at
