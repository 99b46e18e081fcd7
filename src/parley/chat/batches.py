"""How the message writer stores one batch: one transaction, a fixed number of statements.

Two ways to the same :class:`Batch`:

- :class:`PgBatches` (PostgreSQL): the whole batch is one statement (``store.STORE_BATCH_PG``) sent
  on a pooled connection's asyncpg driver, past SQLAlchemy's execute path: one round trip, and it is
  its own transaction.
- :class:`SqlBatches` (any database, used for SQLite): lock the chats and read their members, one
  multi-row ``INSERT``, one executemany ``UPDATE`` of the chats, and on SQLite the search index,
  through SQLAlchemy Core in one transaction.

Either way a chat's messages are numbered (``chat_seq``) while its row is locked, so numbers are
handed out in commit order and without gaps, and a send is refused when its chat is gone or its
sender is not a member. A ``(sender, clientId)`` that appears twice in one batch is stored once
(:func:`split_repeats`); one that was stored before fails the batch with :class:`Repeats`, and the
writer answers those sends with the earlier message and stores the rest.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import asyncpg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from parley.chat import store
from parley.chat.documents import MessageFields, preview_of
from parley.chat.errors import ChatNotFound, NotAMember
from parley.core.app import UNAVAILABLE_SQLSTATES, sqlstate
from parley.core.database import Database
from parley.core.errors import ServiceUnavailable

if TYPE_CHECKING:
    from parley.chat.writer import Draft

# PostgreSQL's "deadlock detected" and "could not serialize": the batch is simply run again.
RETRYABLE_SQLSTATES = {"40P01", "40001"}


class Repeats(Exception):
    """Nothing was stored: the batch holds a ``(sender, clientId)`` that is stored already."""


class RunAgain(Exception):
    """Nothing was stored: the database asks for the transaction to be run again (a deadlock)."""


@dataclass(slots=True)
class NewMessage:
    """A message the writer has just inserted, as its row now reads: what its document is made of
    (:class:`~parley.chat.documents.MessageFields`), without building an ORM entity per message."""

    seq: int
    id: str
    chat_id: str
    sender_id: str
    message_type: str
    text: str
    image_key: str | None
    image_width: int | None
    image_height: int | None
    image_content_type: str | None
    client_id: str | None
    created_at: datetime
    updated_at: datetime
    chat_seq: int
    reply_to: str | None
    seen_at: datetime | None = None
    edited_at: datetime | None = None
    deleted: bool = False
    system: str | None = None


@dataclass
class Stored:
    draft: Draft
    message: NewMessage
    members: list[str]


@dataclass
class Batch:
    stored: list[Stored] = field(default_factory=list)
    # Drafts answered with an earlier message (their clientId was a repeat), or refused.
    repeats: list[tuple[Draft, MessageFields]] = field(default_factory=list)
    failed: list[tuple[Draft, BaseException]] = field(default_factory=list)
    # Not stored, to be sent again: their chat changed while the batch waited for it (PostgreSQL).
    stale: list[Draft] = field(default_factory=list)

    def extend(self, other: Batch) -> None:
        self.stored.extend(other.stored)
        self.repeats.extend(other.repeats)
        self.failed.extend(other.failed)


class BatchStore(Protocol):
    async def store(self, drafts: list[Draft]) -> Batch:
        """Store ``drafts`` in one transaction (but those it answers ``stale``); raises
        :class:`Repeats` or :class:`RunAgain`, having stored nothing."""
        ...


def batch_store_for(db: Database) -> BatchStore:
    return SqlBatches(db) if db.is_sqlite else PgBatches(db)


def split_repeats(drafts: list[Draft]) -> tuple[list[Draft], list[tuple[Draft, Draft]]]:
    """The drafts to store, and (draft, the earlier draft of the batch with its clientId)."""
    firsts: dict[tuple[str, str], Draft] = {}
    unique: list[Draft] = []
    followers: list[tuple[Draft, Draft]] = []
    for draft in drafts:
        if draft.client_id is not None:
            key = (draft.sender_id, draft.client_id)
            first = firsts.get(key)
            if first is not None:
                followers.append((draft, first))
                continue
            firsts[key] = draft
        unique.append(draft)
    return unique, followers


def _settle_followers(batch: Batch, followers: list[tuple[Draft, Draft]]) -> Batch:
    """A repeat within the batch gets what its first got: the same message, or the same refusal."""
    if followers:
        stored = {s.draft.id: s.message for s in batch.stored}
        refused = {d.id: error for d, error in batch.failed}
        for draft, first in followers:
            if first.id in stored:
                batch.repeats.append((draft, stored[first.id]))
            elif first.id in refused:
                batch.failed.append((draft, refused[first.id]))
            else:
                batch.stale.append(draft)  # with its first, sent again
    return batch


# The draft's fields that ``store.STORE_BATCH_PG`` takes, one array each, in its parameters' order.
_COLUMNS = (
    "id",
    "chat_id",
    "sender_id",
    "message_type",
    "text",
    "image_key",
    "image_width",
    "image_height",
    "image_content_type",
    "client_id",
    "created_at",
    "reply_to",
)


class PgBatches:
    """PostgreSQL: a batch is one statement, ``store.STORE_BATCH_PG``, on the asyncpg driver."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.statements = 0  # sent, for tests

    async def store(self, drafts: list[Draft]) -> Batch:
        unique, followers = split_repeats(drafts)
        rows = await self._run(
            *([getattr(d, column) for d in unique] for column in _COLUMNS),
            [preview_of(d.text, d.image_key is not None) for d in unique],
            sorted({d.chat_id for d in unique}),
        )
        numbers: dict[str, tuple[int, int]] = {}
        members: dict[str, list[str]] = {}
        stale: set[str] = set()
        for key, seq, chat_seq, people, changed in rows:
            if people is None:
                numbers[key] = (seq, chat_seq)
            else:
                members[key] = people
                if changed:
                    stale.add(key)
        batch = Batch()
        for draft in unique:
            numbered = numbers.get(draft.id)
            if numbered is None:
                if draft.chat_id in stale:
                    batch.stale.append(draft)
                elif not members.get(draft.chat_id):
                    batch.failed.append((draft, ChatNotFound()))
                else:
                    batch.failed.append((draft, NotAMember()))
                continue
            seq, chat_seq = numbered
            message = NewMessage(seq, **draft.row(chat_seq))
            batch.stored.append(Stored(draft, message, members[draft.chat_id]))
        return _settle_followers(batch, followers)

    async def _run(self, *args: Any) -> list[Any]:
        async with self.db.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            driver: asyncpg.Connection = raw.driver_connection
            try:
                self.statements += 1
                rows: list[Any] = await driver.fetch(store.STORE_BATCH_PG, *args)
                return rows
            except asyncpg.UniqueViolationError:
                raise Repeats() from None
            except asyncpg.PostgresError as exc:
                # The server refused the statement (nothing was stored); the connection is fine
                # unless the server ended it (an administrator, a restart).
                if driver.is_closed():
                    await self._drop(connection, pool=True)
                state = sqlstate(exc) or ""
                if state in RETRYABLE_SQLSTATES:
                    raise RunAgain(state) from exc
                if state.startswith(UNAVAILABLE_SQLSTATES):
                    raise ServiceUnavailable(
                        "The database did not answer in time, try again shortly"
                    ) from exc
                raise  # a bug: answered 500 and logged
            except BaseException as exc:
                # Lost, timed out or interrupted half way: the connection's state is unknown, so it
                # is never handed out again; when it is closed, the server went away (a restart),
                # and so did the pool's other connections.
                await self._drop(connection, pool=driver.is_closed())
                if isinstance(exc, Exception):
                    raise ServiceUnavailable("The database is unavailable, try again shortly") from exc
                raise

    async def _drop(self, connection: AsyncConnection, *, pool: bool) -> None:
        """Close this connection for good, as SQLAlchemy's own execute path does with a lost one;
        with ``pool``, the pool's idle connections too (after a database restart they are all dead,
        and one batch fails instead of one per pooled connection)."""
        with contextlib.suppress(Exception):
            await connection.invalidate()
        if pool:
            with contextlib.suppress(Exception):
                await self.db.engine.dispose()


class SqlBatches:
    """Any database (the embedded SQLite): the batch's statements through SQLAlchemy Core."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def store(self, drafts: list[Draft]) -> Batch:
        unique, followers = split_repeats(drafts)
        try:
            async with self.db.session() as session:
                batch = await self._store(session, unique)
        except DBAPIError as exc:
            state = sqlstate(exc)
            if state in RETRYABLE_SQLSTATES:
                raise RunAgain(state) from exc
            raise
        return _settle_followers(batch, followers)

    async def _store(self, session: AsyncSession, drafts: list[Draft]) -> Batch:
        batch = Batch()
        chats = await store.lock_chats_for_messages(session, sorted({d.chat_id for d in drafts}))
        next_seq = {chat_id: chat.last_seq for chat_id, chat in chats.items()}
        rows: list[dict[str, Any]] = []
        accepted: list[Draft] = []
        for draft in drafts:
            chat = chats.get(draft.chat_id)
            if chat is None:
                batch.failed.append((draft, ChatNotFound()))
                continue
            if draft.sender_id not in chat.members:
                batch.failed.append((draft, NotAMember()))
                continue
            next_seq[draft.chat_id] += 1
            rows.append(draft.row(next_seq[draft.chat_id]))
            accepted.append(draft)
        if not rows:
            return batch
        seqs = await store.insert_messages(session, rows)
        if len(seqs) < len(rows):
            raise Repeats()
        # Findable by search from the same commit (SQLite: one more statement per batch; PostgreSQL's
        # index follows the insert by itself).
        await store.index_messages(session, [(seqs[row["id"]], row["text"]) for row in rows])
        latest: dict[str, dict[str, Any]] = {}
        for draft, row in zip(accepted, rows, strict=True):
            message = NewMessage(seq=seqs[draft.id], **row)
            batch.stored.append(Stored(draft, message, chats[draft.chat_id].members))
            latest[draft.chat_id] = {
                "b_chat_id": draft.chat_id,
                "b_last_seq": row["chat_seq"],
                "b_latest_seq": message.seq,
                "b_text": preview_of(draft.text, draft.image_key is not None),
                "b_sender": draft.sender_id,
                "b_now": draft.created_at,
            }
        await store.set_latest_messages(session, list(latest.values()))
        return batch
