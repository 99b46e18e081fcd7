"""Fixtures of the chat service's tests (on top of the shared stack)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tests.chat.helpers import CapturingSink
from tests.chat.live_helpers import Live, Served, serve
from tests.fixtures.stack import Person, Stack, unique_email


@pytest.fixture
def chat_app(stack: Stack) -> Any:
    """The chat service's app inside the stack (its state holds the engine, the sink …)."""
    return stack.apps["chat"]


@pytest.fixture
def events(chat_app: Any) -> Iterator[CapturingSink]:
    """Capture what the chat service emits during the test."""
    sink = CapturingSink()
    previous = chat_app.state.events
    chat_app.state.events = sink
    try:
        yield sink
    finally:
        chat_app.state.events = previous


@pytest.fixture
async def dave(stack: Stack) -> Person:
    return await stack.login(unique_email("dave"))


@pytest.fixture(scope="session")
async def served(stack: Stack) -> AsyncIterator[Served]:
    """The session's stack (every service, already started) behind a real server."""
    running = await serve(stack.app, lifespan=False)
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def live(stack: Stack, served: Served) -> AsyncIterator[Live]:
    made = Live(stack, served)
    try:
        yield made
    finally:
        await made.close()
