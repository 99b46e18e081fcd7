"""Paging back through a chat's history while new messages arrive: every message once, in order."""

from __future__ import annotations

import weakref

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.chat.helpers import direct_chat, history, send
from tests.fixtures.stack import Person, Stack

# One reader per stack, forgotten with it (a later stack may be allocated at the same address).
_readers: weakref.WeakKeyDictionary[Stack, Person] = weakref.WeakKeyDictionary()


async def reader(stack: Stack) -> Person:
    """The same reader in every example (logging in is the slow part)."""
    if stack not in _readers:
        _readers[stack] = await stack.login()
    return _readers[stack]


async def everything(person: Person, chat_id: str) -> list[str]:
    ids: list[str] = []
    params: dict[str, str | int] = {"limit": 100}
    while page := [m["_id"] for m in (await history(person, chat_id, **params))["messages"]]:
        ids = page + ids
        params["before"] = page[0]
    return ids


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    existing=st.integers(min_value=0, max_value=25),
    page_sizes=st.lists(st.integers(min_value=1, max_value=30), min_size=1, max_size=10),
    arriving=st.lists(st.integers(min_value=0, max_value=3), min_size=1, max_size=10),
)
async def test_paging_back_yields_every_message_exactly_once(
    stack: Stack, existing: int, page_sizes: list[int], arriving: list[int]
) -> None:
    alice = await reader(stack)
    other = await stack.login()  # a fresh 1:1 chat per example
    chat_id = await direct_chat(alice, other)
    senders = [alice, other]
    sent = [(await send(senders[i % 2], chat_id, f"old {i}"))["_id"] for i in range(existing)]
    arrived: list[str] = []

    collected: list[str] = []
    before: str | None = None
    for step in range(existing + 2):
        size = page_sizes[step % len(page_sizes)]
        params: dict[str, str | int] = {"limit": size}
        if before is not None:
            params["before"] = before
        page = [m["_id"] for m in (await history(alice, chat_id, **params))["messages"]]
        if before is None:
            assert page == sent[-size:]  # the first page is the newest
        assert len(page) <= size
        collected = page + collected
        if len(page) < size:
            break
        before = page[0]
        for _ in range(arriving[step % len(arriving)]):
            arrived.append((await send(senders[len(arrived) % 2], chat_id, "new"))["_id"])

    assert collected == sent
    assert await everything(other, chat_id) == sent + arrived
