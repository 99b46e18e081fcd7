"""Per-user limits: messages a minute and new chats an hour, then 429 with ``Retry-After``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from parley.chat.service import UsageLimits
from parley.core.settings import Settings
from tests.chat.helpers import direct_chat, group_chat, history, send
from tests.fixtures.stack import Person, Stack


@pytest.fixture
def tight(chat_app: Any, stack: Stack) -> Iterator[UsageLimits]:
    """The service's own limiter (memory or Redis), with limits small enough to reach in a test."""
    configured: UsageLimits = chat_app.state.usage_limits
    assert configured.messages_per_minute == stack.settings.limits.message_rate_per_minute == 300
    assert configured.chats_per_hour == stack.settings.limits.chat_rate_per_hour == 60
    chat_app.state.usage_limits = UsageLimits(configured.limiter, messages_per_minute=3, chats_per_hour=2)
    try:
        yield chat_app.state.usage_limits
    finally:
        chat_app.state.usage_limits = configured


def assert_limited(response: Any, code: str, at_most: int) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["code"] == code
    assert response.json()["message"]
    assert 1 <= int(response.headers["Retry-After"]) <= at_most


async def test_messages_beyond_the_limit_are_429_and_not_stored(
    tight: UsageLimits, alice: Person, bob: Person
) -> None:
    chat_id = await direct_chat(alice, bob)
    for i in range(3):
        await send(alice, chat_id, f"m{i}")
    refused = await alice.client.post("/api/v1/message", data={"chatId": chat_id, "text": "one too many"})
    assert_limited(refused, "too_many_messages", 60)
    assert [m["text"] for m in (await history(bob, chat_id))["messages"]] == ["m0", "m1", "m2"]
    # The limit is per person: bob still talks.
    await send(bob, chat_id, "my turn")


async def test_new_chats_beyond_the_limit_are_429(
    tight: UsageLimits, alice: Person, bob: Person, carol: Person, dave: Person
) -> None:
    first = await direct_chat(alice, bob)
    await group_chat(alice, bob, carol)
    one_to_one = await alice.client.post("/api/v1/chat/new", json={"otherUserId": carol.id})
    assert_limited(one_to_one, "too_many_chats", 3600)
    group = await alice.client.post("/api/v1/chat/group", json={"name": "G", "userIds": [bob.id, dave.id]})
    assert_limited(group, "too_many_chats", 3600)
    # Finding a chat that exists starts nothing and is never refused.
    assert await direct_chat(alice, bob) == first
    listed = (await alice.client.get("/api/v1/chat/all")).json()["chats"]
    assert len(listed) == 2
    # Others are not limited by alice's count.
    await direct_chat(carol, dave)


def test_the_limits_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESSAGE_RATE_PER_MINUTE", "120")
    monkeypatch.setenv("CHAT_RATE_PER_HOUR", "10")
    limits = Settings(env_file=False).limits
    assert (limits.message_rate_per_minute, limits.chat_rate_per_hour) == (120, 10)
    monkeypatch.delenv("MESSAGE_RATE_PER_MINUTE")
    monkeypatch.delenv("CHAT_RATE_PER_HOUR")
    limits = Settings(env_file=False).limits
    assert (limits.message_rate_per_minute, limits.chat_rate_per_hour) == (300, 60)


class BrokenLimiter:
    async def hit_within(self, name: str, key: str, limit: int, seconds: int) -> int:
        raise ConnectionError("cache is down")

    async def hit_leased(self, name: str, key: str, limit: int, seconds: int) -> int:
        raise ConnectionError("cache is down")


async def test_a_cache_outage_does_not_stop_messages(chat_app: Any, alice: Person, bob: Person) -> None:
    configured = chat_app.state.usage_limits
    chat_app.state.usage_limits = UsageLimits(BrokenLimiter(), 1, 1)  # type: ignore[arg-type]
    try:
        chat_id = await direct_chat(alice, bob)
        await send(alice, chat_id, "one")
        await send(alice, chat_id, "two")
    finally:
        chat_app.state.usage_limits = configured
