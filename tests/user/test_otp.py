"""One-time codes: generation, keyed hashing, comparison, and their life in the cache."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncIterator

import fakeredis
import pytest

from parley.user import otp
from parley.user.otp import CODE_PREFIX, COOLDOWN_PREFIX, Check, OtpStore

KEY = otp.derive_key("a-server-secret-of-some-length")
EMAIL = "alice@example.com"


@pytest.fixture
async def cache() -> AsyncIterator[fakeredis.FakeAsyncRedis]:
    client = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer(), decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
def otps(cache: fakeredis.FakeAsyncRedis) -> OtpStore:
    return OtpStore(cache, KEY, ttl=300, max_attempts=5, resend_seconds=60)


def other_code(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


# ------------------------------------------------------------------ generation and hashing


def test_codes_are_six_ascii_digits() -> None:
    for _ in range(200):
        code = otp.generate_code()
        assert len(code) == 6
        assert otp.well_formed(code)


def test_codes_come_from_secrets_and_keep_leading_zeros(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[int] = []

    def fake_randbelow(n: int) -> int:
        asked.append(n)
        return 42

    monkeypatch.setattr("parley.user.otp.secrets.randbelow", fake_randbelow)
    assert otp.generate_code() == "000042"
    assert asked == [1_000_000]


def test_codes_vary() -> None:
    assert len({otp.generate_code() for _ in range(50)}) > 40


@pytest.mark.parametrize(
    "code",
    ["12345", "1234567", "12345a", " 123456", "１２３４５６", "١٢٣٤٥٦", "12 456", "", "-12345"],
)
def test_malformed_codes_are_recognised(code: str) -> None:
    assert not otp.well_formed(code)


def test_the_hash_is_keyed_bound_to_the_address_and_hides_the_code() -> None:
    digest = otp.hash_code(KEY, EMAIL, "123456")
    assert len(digest) == 64
    assert "123456" not in digest
    assert digest == otp.hash_code(KEY, EMAIL, "123456")
    assert digest != otp.hash_code(KEY, EMAIL, "123457")
    assert digest != otp.hash_code(KEY, "bob@example.com", "123456")
    assert digest != otp.hash_code(otp.derive_key("another-server-secret"), EMAIL, "123456")


def test_the_hmac_key_is_derived_not_the_secret_itself() -> None:
    secret = "a-server-secret-of-some-length"
    assert otp.derive_key(secret) == KEY
    assert secret.encode() not in KEY
    assert len(KEY) == 32


def test_codes_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    digest = otp.hash_code(KEY, EMAIL, "654321")
    assert otp.codes_match(KEY, EMAIL, "654321", digest)
    assert not otp.codes_match(KEY, EMAIL, "654320", digest)
    assert len(calls) == 2


# ------------------------------------------------------------------ the store


async def test_a_code_is_stored_hashed_with_its_lifetime(
    otps: OtpStore, cache: fakeredis.FakeAsyncRedis
) -> None:
    code = await otps.issue(EMAIL)
    stored = await cache.hgetall(CODE_PREFIX + EMAIL)
    assert stored == {"digest": otp.hash_code(KEY, EMAIL, code), "attempts": "0"}
    assert code not in str(stored)
    assert 290 <= await cache.ttl(CODE_PREFIX + EMAIL) <= 300


async def test_the_right_code_works_once(otps: OtpStore) -> None:
    code = await otps.issue(EMAIL)
    assert (await otps.check(EMAIL, code)).check is Check.OK
    assert (await otps.check(EMAIL, code)).check is Check.EXPIRED


async def test_a_code_works_only_for_its_address(otps: OtpStore) -> None:
    code = await otps.issue(EMAIL)
    assert (await otps.check("bob@example.com", code)).check is Check.EXPIRED
    assert (await otps.check(EMAIL, code)).check is Check.OK


async def test_no_code_is_expired_and_leaves_nothing_lasting(
    otps: OtpStore, cache: fakeredis.FakeAsyncRedis
) -> None:
    assert (await otps.check(EMAIL, "123456")).check is Check.EXPIRED
    # The attempt counter it touched expires like a code would.
    assert 0 < await cache.ttl(CODE_PREFIX + EMAIL) <= 300


async def test_an_expired_code_is_refused(otps: OtpStore, cache: fakeredis.FakeAsyncRedis) -> None:
    code = await otps.issue(EMAIL)
    await cache.delete(CODE_PREFIX + EMAIL)  # what the TTL does
    assert (await otps.check(EMAIL, code)).check is Check.EXPIRED


async def test_wrong_codes_count_down_then_the_code_is_void(otps: OtpStore) -> None:
    code = await otps.issue(EMAIL)
    wrong = other_code(code)
    left = [(await otps.check(EMAIL, wrong)).attempts_left for _ in range(5)]
    assert left == [4, 3, 2, 1, 0]
    assert (await otps.check(EMAIL, code)).check is Check.VOID
    assert (await otps.check(EMAIL, wrong)).check is Check.VOID


async def test_the_right_code_within_the_tries_still_works(otps: OtpStore) -> None:
    code = await otps.issue(EMAIL)
    for _ in range(4):
        assert (await otps.check(EMAIL, other_code(code))).check is Check.INVALID
    assert (await otps.check(EMAIL, code)).check is Check.OK


async def test_parallel_guesses_cannot_exceed_the_limit(otps: OtpStore) -> None:
    code = await otps.issue(EMAIL)
    wrong = other_code(code)
    outcomes = await asyncio.gather(*(otps.check(EMAIL, wrong) for _ in range(30)))
    checks = [o.check for o in outcomes]
    assert checks.count(Check.INVALID) == 5
    assert checks.count(Check.VOID) == 25


async def test_parallel_checks_with_the_right_code_log_in_once(otps: OtpStore) -> None:
    code = await otps.issue(EMAIL)
    outcomes = await asyncio.gather(*(otps.check(EMAIL, code) for _ in range(5)))
    assert [o.check for o in outcomes].count(Check.OK) == 1


async def test_a_probe_between_two_right_checks_lets_only_one_in(
    otps: OtpStore, cache: fakeredis.FakeAsyncRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two checks with the right code both read the digest; the first spends it; a third check
    # then finds no code (and counts an attempt); only then does the second try to spend it.
    code = await otps.issue(EMAIL)
    real_hdel = cache.hdel
    both_read = asyncio.Barrier(2)
    first_done = asyncio.Event()
    spenders: list[int] = []

    async def interleaved_hdel(*args: str) -> int:
        await both_read.wait()
        spenders.append(len(spenders))
        if spenders[-1] == 0:
            result = await real_hdel(*args)
            assert (await otps.check(EMAIL, code)).check is Check.EXPIRED
            first_done.set()
            return int(result)
        await first_done.wait()
        return int(await real_hdel(*args))

    monkeypatch.setattr(cache, "hdel", interleaved_hdel)
    outcomes = await asyncio.gather(otps.check(EMAIL, code), otps.check(EMAIL, code))
    assert sorted(o.check.value for o in outcomes) == ["expired", "ok"]


async def test_a_new_code_replaces_the_old_one_and_its_tries(otps: OtpStore) -> None:
    first = await otps.issue(EMAIL)
    for _ in range(5):
        await otps.check(EMAIL, other_code(first))
    second = await otps.issue(EMAIL)
    if first != second:
        assert (await otps.check(EMAIL, first)).check is Check.INVALID
    assert (await otps.check(EMAIL, second)).check is Check.OK


async def test_discard_forgets_the_code(otps: OtpStore) -> None:
    code = await otps.issue(EMAIL)
    await otps.discard(EMAIL)
    assert (await otps.check(EMAIL, code)).check is Check.EXPIRED


async def test_the_cooldown_is_taken_once_and_reports_what_is_left(
    otps: OtpStore, cache: fakeredis.FakeAsyncRedis
) -> None:
    assert await otps.start_cooldown(EMAIL) == 0
    left = await otps.start_cooldown(EMAIL)
    assert 1 <= left <= 60
    assert await otps.start_cooldown("bob@example.com") == 0
    await cache.expire(COOLDOWN_PREFIX + EMAIL, 7)
    assert await otps.start_cooldown(EMAIL) == 7
    await otps.clear_cooldown(EMAIL)
    assert await otps.start_cooldown(EMAIL) == 0


async def test_parallel_requests_take_the_cooldown_once(otps: OtpStore) -> None:
    results = await asyncio.gather(*(otps.start_cooldown(EMAIL) for _ in range(10)))
    assert results.count(0) == 1


async def test_no_cooldown_when_it_is_zero(cache: fakeredis.FakeAsyncRedis) -> None:
    store = OtpStore(cache, KEY, ttl=300, max_attempts=5, resend_seconds=0)
    assert await store.start_cooldown(EMAIL) == 0
    assert await store.start_cooldown(EMAIL) == 0
