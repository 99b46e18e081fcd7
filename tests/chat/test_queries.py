"""Hot paths use a fixed number of queries, however many chats a user has."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event

from parley.chat.users import CACHE_PREFIX
from tests.chat.helpers import chat_list, direct_chat, group_chat, send
from tests.fixtures.stack import Person, Stack


@contextmanager
def counting_statements(chat_app: Any) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = chat_app.state.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


@contextmanager
def counting_user_calls(chat_app: Any) -> Iterator[list[httpx.Request]]:
    calls: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        calls.append(request)

    hooks = chat_app.state.users.client.event_hooks["request"]
    hooks.append(record)
    try:
        yield calls
    finally:
        hooks.remove(record)


async def forget_profiles(chat_app: Any, people: list[Person]) -> None:
    await chat_app.state.cache.delete(*(CACHE_PREFIX + p.id for p in people))


async def listing_cost(person: Person, chat_app: Any, others: list[Person]) -> tuple[int, int, int]:
    """(statements, user-service calls, chats listed) for one /chat/all with a cold profile cache."""
    await forget_profiles(chat_app, others)
    with counting_statements(chat_app) as statements, counting_user_calls(chat_app) as calls:
        chats = await chat_list(person)
    return len(statements), len(calls), len(chats)


async def test_chat_list_costs_the_same_for_3_or_30_chats(stack: Stack, chat_app: Any) -> None:
    few, many = await stack.login(), await stack.login()
    friends = [await stack.login() for _ in range(10)]

    await send(friends[0], await direct_chat(few, friends[0]), "hi")
    await group_chat(few, friends[0], friends[1])
    await send(friends[1], await group_chat(few, friends[1], friends[2]), "hi")

    for friend in friends:
        chat_id = await direct_chat(many, friend)
        await send(friend, chat_id, f"hi from {friend.name}")
    for i in range(20):
        chat_id = await group_chat(many, friends[i % 10], friends[(i + 1) % 10], name=f"Group {i}")
        if i % 3 == 0:
            await send(friends[i % 10], chat_id, "hello group")

    small = await listing_cost(few, chat_app, friends)
    large = await listing_cost(many, chat_app, friends)
    assert small[2] == 3
    assert large[2] == 30
    assert small[0] == large[0], "listing chats must not query per chat"
    # The chats, their members, unread counts, and whose address the caller may see.
    assert large[0] <= 5
    # One batched call for all the 1:1 partners' profiles, and none when they are cached.
    assert small[1] == large[1] == 1
    with counting_user_calls(chat_app) as calls:
        await chat_list(many)
    assert calls == []


async def test_sending_and_reading_cost_a_fixed_number_of_queries(
    alice: Person, bob: Person, chat_app: Any
) -> None:
    chat_id = await direct_chat(alice, bob)
    # A first read fetches Alice's profile (and the user service asks who Bob's contacts are):
    # warm the profile cache so the counts below are the chat's own.
    assert (await bob.client.get(f"/api/v1/message/{chat_id}")).status_code == 200
    costs = []
    for n in (1, 5):
        for i in range(n):
            await send(alice, chat_id, f"m{i}")
        with counting_statements(chat_app) as sending:
            await send(alice, chat_id, "counted")
        with counting_statements(chat_app) as reading:
            response = await bob.client.get(f"/api/v1/message/{chat_id}")
            assert response.status_code == 200
        costs.append((len(sending), len(reading)))
    assert costs[0] == costs[1]
