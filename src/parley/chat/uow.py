"""The unit of work: one transaction, the events it releases after commit, the locks it holds."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from parley.chat.events import EventSink, Outbox
from parley.core.database import Database

# A per-chat critical section held from a message's insert until its event has been emitted, so
# members receive a chat's messages in stored order (the real-time layer provides one that works
# across instances; in one process with one writer per chat, none is needed).
Ordering = Callable[[str], AbstractAsyncContextManager[Any]]


def no_ordering(chat_id: str) -> AbstractAsyncContextManager[None]:
    return contextlib.nullcontext()


@dataclass
class UnitOfWork:
    """What a service function works with: the session, and where to queue events."""

    session: AsyncSession
    outbox: Outbox
    holds: AsyncExitStack
    ordering: Ordering

    def emit(self, event: str, payload: BaseModel | dict[str, Any], *, to_users: list[str]) -> None:
        """Queue an event; it is emitted after the commit, or never if the work fails."""
        self.outbox.add(event, payload, to_users)

    def on_commit(self, callback: Callable[[], object]) -> None:
        self.outbox.on_commit(callback)

    async def in_order(self, chat_id: str) -> None:
        """Enter the chat's ordering section until this unit of work has emitted its events."""
        await self.holds.enter_async_context(self.ordering(chat_id))


@asynccontextmanager
async def unit_of_work(
    db: Database, sink: EventSink, ordering: Ordering = no_ordering
) -> AsyncIterator[UnitOfWork]:
    """Run a block in one transaction; on success commit, then emit its events, then release its locks."""
    outbox = Outbox()
    async with AsyncExitStack() as holds:
        try:
            async with db.session() as session:
                yield UnitOfWork(session=session, outbox=outbox, holds=holds, ordering=ordering)
        except BaseException:
            outbox.discard()
            raise
        await outbox.flush(sink)
