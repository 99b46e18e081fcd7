"""The unit of work: one transaction, and the events it releases after the commit."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from parley.chat.events import EventSink, Outbox
from parley.core.database import Database


@dataclass
class UnitOfWork:
    """What a service function works with: the session, and where to queue events."""

    session: AsyncSession
    outbox: Outbox

    def emit(self, event: str, payload: BaseModel | dict[str, Any], *, to_users: list[str]) -> None:
        """Queue an event; it is emitted after the commit, or never if the work fails."""
        self.outbox.add(event, payload, to_users)

    async def release_connection(self) -> None:
        """Give the session's connection back to the pool before slow work that needs no database.

        Only for work that has merely read so far: the transaction ends here (anything written
        would be lost). Objects already loaded stay readable, and the session takes a fresh
        connection if it is used again.
        """
        await self.session.close()

    def on_commit(self, callback: Callable[[], object]) -> None:
        self.outbox.on_commit(callback)


@asynccontextmanager
async def unit_of_work(db: Database, sink: EventSink) -> AsyncIterator[UnitOfWork]:
    """Run a block in one transaction; on success commit, then emit its events."""
    outbox = Outbox()
    try:
        async with db.session() as session:
            yield UnitOfWork(session=session, outbox=outbox)
    except BaseException:
        outbox.discard()
        raise
    await outbox.flush(sink)
