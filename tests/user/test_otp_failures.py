"""Long-term guessing: at most ``OTP_MAX_FAILURES_PER_DAY`` wrong codes per address, across new codes."""

from __future__ import annotations

import pytest

from parley.core.settings import Settings
from parley.user.otp import FAILURE_WINDOW_SECONDS, FAILURES_PREFIX, OtpStore
from tests.fixtures.stack import Stack, unique_email
from tests.user.test_routes import ask_code, forget_cooldown, wrong


@pytest.fixture
def otps(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> OtpStore:
    """The running service's codes, with a budget of 3 wrong codes a day and 2 per code."""
    store: OtpStore = stack.apps["user"].state.login.otps
    monkeypatch.setattr(store, "max_failures", 3)
    monkeypatch.setattr(store, "max_attempts", 2)
    return store


async def verify(stack: Stack, email: str, otp: str) -> tuple[int, dict[str, str], dict[str, str]]:
    response = await stack.client().post("/api/v1/verify", json={"email": email, "otp": otp})
    return response.status_code, response.json(), dict(response.headers)


async def test_wrong_codes_are_counted_across_new_codes(stack: Stack, otps: OtpStore) -> None:
    email = unique_email("guessed")
    first = await ask_code(stack, email)
    assert (await verify(stack, email, wrong(first)))[0] == 400
    assert (await verify(stack, email, wrong(first)))[0] == 400
    # That code is void now; a fresh code resets its tries, but not the day's count.
    await forget_cooldown(stack, email)
    second = await ask_code(stack, email)
    assert (await verify(stack, email, wrong(second)))[0] == 400

    status, body, headers = await verify(stack, email, second)  # even the right code
    assert status == 429
    assert body["code"] == "too_many_failures"
    assert "wrong codes" in body["message"]
    assert 0 < int(headers["retry-after"]) <= FAILURE_WINDOW_SECONDS
    assert (await verify(stack, email, wrong(second)))[0] == 429

    # Other addresses are not affected.
    other = unique_email("other")
    assert (await verify(stack, other, await ask_code(stack, other)))[0] == 200

    # Once the window has passed, the address logs in again (its code was never spent).
    await stack.apps["user"].state.cache.delete(FAILURES_PREFIX + email)
    status, body, _ = await verify(stack, email, second)
    assert status == 200, body


async def test_right_expired_and_malformed_codes_do_not_count(stack: Stack, otps: OtpStore) -> None:
    email = unique_email("careful")
    for _ in range(4):  # more than the budget
        assert (await verify(stack, email, "123456"))[0] == 400  # no code asked for: expired
        assert (await verify(stack, email, "12ab"))[0] == 400  # malformed
    code = await ask_code(stack, email)
    assert (await verify(stack, email, wrong(code)))[0] == 400
    assert (await verify(stack, email, code))[0] == 200
    await forget_cooldown(stack, email)
    code = await ask_code(stack, email)
    assert (await verify(stack, email, wrong(code)))[0] == 400
    assert (await verify(stack, email, code))[0] == 200  # 2 wrong codes so far: within the budget


def test_the_budget_is_a_setting() -> None:
    assert Settings(env_file=False).limits.otp_max_failures_per_day == 50
    assert Settings(env_file=False, otp_max_failures_per_day=7).limits.otp_max_failures_per_day == 7


async def test_giving_a_guess_back_never_recreates_an_ended_window(stack: Stack, otps: OtpStore) -> None:
    """On the in-process cache and on Redis alike: the window's count only goes back while it lasts."""
    cache = stack.apps["user"].state.cache
    email = unique_email("ended")
    key = FAILURES_PREFIX + email
    assert await otps.take_guess(email) == 0
    await cache.delete(key)  # the window ended between taking the guess and giving it back
    await otps.give_back_guess(email)
    assert await cache.exists(key) == 0
    # The full budget is there, not one guess more.
    assert [await otps.take_guess(email) for _ in range(otps.max_failures)] == [0] * otps.max_failures
    assert await otps.take_guess(email) > 0


async def test_giving_a_guess_back_keeps_the_window_and_stops_at_zero(stack: Stack, otps: OtpStore) -> None:
    cache = stack.apps["user"].state.cache
    email = unique_email("kept")
    key = FAILURES_PREFIX + email
    assert await otps.take_guess(email) == 0
    assert await otps.take_guess(email) == 0
    await otps.give_back_guess(email)
    assert await cache.get(key) == "1"
    assert 0 < await cache.ttl(key) <= FAILURE_WINDOW_SECONDS
    await otps.give_back_guess(email)
    await otps.give_back_guess(email)  # one more than was taken
    assert await cache.get(key) == "0"
