"""The unit of work: one transaction, and the events it releases after the commit."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from parley.chat.events import EventSink, Outbox
from parley.core.database import Database


class UnitOfWork:
    """What a service function works with: the session, and where to queue events.

    The session is opened on first use: work that needs no database (a text message, which the
    writer stores in a batch of its own) costs no session, no transaction and no commit.
    """

    def __init__(self, db: Database, outbox: Outbox) -> None:
        self.db = db
        self.outbox = outbox
        self._session: AsyncSession | None = None

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            self._session = self.db.sessions()
        return self._session

    def emit(self, event: str, payload: BaseModel | dict[str, Any], *, to_users: list[str]) -> None:
        """Queue an event; it is emitted after the commit, or never if the work fails."""
        self.outbox.add(event, payload, to_users)

    async def release_connection(self) -> None:
        """Give the session's connection back to the pool before slow work that needs no database.

        Only for work that has merely read so far: the transaction ends here (anything written
        would be lost). Objects already loaded stay readable, and the session takes a fresh
        connection if it is used again.
        """
        if self._session is not None:
            await self._session.close()

    def on_commit(self, callback: Callable[[], object]) -> None:
        self.outbox.on_commit(callback)

    async def _end(self, *, commit: bool) -> None:
        """Commit (or roll back) and close the session, if the work opened one."""
        session, self._session = self._session, None
        if session is None:
            return
        try:
            await (session.commit() if commit else session.rollback())
        finally:
            await session.close()


@asynccontextmanager
async def unit_of_work(db: Database, sink: EventSink) -> AsyncIterator[UnitOfWork]:
    """Run a block in one transaction; on success commit, then emit its events."""
    uow = UnitOfWork(db, Outbox())
    try:
        yield uow
        await uow._end(commit=True)
    except BaseException:
        uow.outbox.discard()
        await uow._end(commit=False)
        raise
    await uow.outbox.flush(sink)
