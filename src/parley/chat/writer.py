"""Group commit: the process's message writer stores every message sent to it, many per transaction.

Senders hand a :class:`Draft` to :meth:`MessageWriter.submit` and wait. The writer takes what has
gathered (up to ``max_batch``; under load a batch grows by itself, because everything that
arrived while the previous one committed goes into the next) and stores it in one transaction
(see :mod:`parley.chat.batches`): it locks the batch's chats (in id order, so two instances'
writers cannot deadlock), reads their members and last sequence numbers, inserts the messages, each
numbered ``chat_seq`` = the chat's next number, and makes each chat's last one its latest. On
PostgreSQL that is one statement; on SQLite four.

Because each chat's row stays locked until the commit, a chat's numbers are handed out in commit
order and without gaps, on any number of instances; that is what lets every instance deliver a
chat's messages in order without a shared lock (see ``parley.chat.realtime``). After the commit,
the batch's events go to the event sink in one call (``newMessage`` in ``chat_seq`` order), members
who have the chat open read the new messages (on the same path as ``joinChat``), and only then is
each sender answered: an acknowledged message is stored.

Admission control: when ``max_pending`` sends are already waiting, or the oldest one has waited
longer than ``max_wait`` seconds, :meth:`submit` refuses at once with :class:`Overloaded` (503
with ``Retry-After``) rather than queueing the sender for seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from parley.chat import store
from parley.chat.batches import Batch, BatchStore, Repeats, RunAgain, Stored, batch_store_for
from parley.chat.documents import MediaLinks, message_document
from parley.chat.errors import ClientIdReused
from parley.chat.events import NEW_MESSAGE, Event, EventSink, emit_all
from parley.chat.schemas import MessageOut
from parley.chat.store import Message
from parley.core.database import Database
from parley.core.errors import ServiceUnavailable
from parley.core.metrics import MESSAGES_STORED

log = structlog.get_logger(__name__)


class Overloaded(ServiceUnavailable):
    """More sends are waiting than the writer can store in time: come back shortly."""

    code, message = "overloaded", "Too many messages are being sent right now, try again in a moment"

    def __init__(self, retry_after: int = 1) -> None:
        super().__init__(headers={"Retry-After": str(retry_after)})


@dataclass
class Draft:
    """A message to store, as the service checked it, and the future its sender awaits."""

    id: str
    chat_id: str
    sender_id: str
    text: str
    client_id: str | None
    created_at: datetime
    message_type: str = store.TYPE_TEXT
    image_key: str | None = None
    image_width: int | None = None
    image_height: int | None = None
    image_content_type: str | None = None
    reply_to: str | None = None
    # The message ``reply_to`` names, as the service found it (for the document's quote).
    reply: Message | None = None
    # The sender's token: looks up the members' read-receipt settings for read-on-arrival.
    token: str = field(default="", repr=False)
    enqueued: float = field(default_factory=time.monotonic)
    future: asyncio.Future[Sent] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    def row(self, chat_seq: int) -> dict[str, Any]:
        return {
            "id": self.id,
            "chat_id": self.chat_id,
            "sender_id": self.sender_id,
            "message_type": self.message_type,
            "text": self.text,
            "image_key": self.image_key,
            "image_width": self.image_width,
            "image_height": self.image_height,
            "image_content_type": self.image_content_type,
            "client_id": self.client_id,
            "created_at": self.created_at,
            "updated_at": self.created_at,
            "chat_seq": chat_seq,
            "reply_to": self.reply_to,
        }


@dataclass(frozen=True)
class Sent:
    """What a sender gets back: the message document, and False when its ``clientId`` was a repeat."""

    message: MessageOut
    created: bool


# Called once per stored batch, after its senders were answered, with {chat id: the batch's last
# message seq there} (the missed-message email's schedule).
AfterBatch = Callable[[dict[str, int]], Awaitable[None]]
# Who has each of these chats open right now (user ids), for read-on-arrival.
ViewersOf = Callable[[list[str]], Awaitable[dict[str, set[str]]]]
# Marks ``chat`` read up to ``seq`` for each (chat, reader, seq, sender's token); returns {message id: seen at}.
MarkRead = Callable[[list[tuple[str, str, int, str]]], Awaitable[dict[str, datetime]]]


class MessageWriter:
    """The process's one message writer; see the module's documentation."""

    def __init__(
        self,
        db: Database,
        links: MediaLinks,
        sink: Callable[[], EventSink],
        viewers_of: ViewersOf,
        mark_read: MarkRead,
        *,
        max_batch: int = 256,
        max_pending: int = 2000,
        max_wait: float = 1.0,
        after_batch: AfterBatch | None = None,
    ) -> None:
        self.db = db
        self.backend: BatchStore = batch_store_for(db)
        self.links = links
        self.sink = sink
        self.viewers_of = viewers_of
        self.mark_read = mark_read
        self.max_batch = max_batch
        self.max_pending = max_pending
        self.max_wait = max_wait
        self.after_batch = after_batch
        self.batches = 0  # committed transactions, for tests and metrics
        self._waiting: deque[Draft] = deque()
        self._pending = 0
        self._wakeup = asyncio.Event()
        # Committed batches, in commit order, for the delivery task (which stop() cancels: no sentinel).
        self._deliveries: asyncio.Queue[Batch] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def pending(self) -> int:
        """Sends submitted and not answered yet."""
        return self._pending

    @property
    def waiting(self) -> int:
        """Sends submitted and not yet taken into a batch."""
        return len(self._waiting)

    async def start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._write_loop(), name="message-writer"),
                asyncio.create_task(self._deliver_loop(), name="message-delivery"),
            ]

    async def stop(self, timeout: float = 5) -> None:
        """Store and answer what was submitted, then stop."""
        if not self._tasks:
            return
        deadline = time.monotonic() + timeout
        while (self._waiting or self._pending) and time.monotonic() < deadline:
            if any(task.done() for task in self._tasks):
                break
            await asyncio.sleep(0.01)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        # Batches committed but not delivered in time: their messages are stored, so answer them.
        while not self._deliveries.empty():
            batch = self._deliveries.get_nowait()
            self._answer(batch)
            await self._after(batch)
        for draft in self._waiting:
            if not draft.future.done():
                draft.future.set_exception(ServiceUnavailable("The chat service is stopping"))
        self._waiting.clear()

    async def submit(self, draft: Draft) -> Sent:
        """Store ``draft``; returns once it is committed (and announced), or raises why not."""
        if not self._tasks:
            await self.start()
        if self._pending >= self.max_pending or (
            self._waiting and time.monotonic() - self._waiting[0].enqueued > self.max_wait
        ):
            raise Overloaded()
        self._pending += 1
        try:
            self._waiting.append(draft)
            self._wakeup.set()
            return await asyncio.shield(draft.future)
        finally:
            self._pending -= 1

    # ---------------------------------------------------------------- writing

    async def _write_loop(self) -> None:
        """Takes what is waiting when it is free, stores it, hands it on."""
        while True:
            while not self._waiting:
                self._wakeup.clear()
                await self._wakeup.wait()
            drafts = [self._waiting.popleft() for _ in range(min(self.max_batch, len(self._waiting)))]
            try:
                batch = await self._commit(drafts)
            except asyncio.CancelledError:
                for draft in drafts:
                    if not draft.future.done():
                        draft.future.set_exception(ServiceUnavailable("The chat service is stopping"))
                raise
            except Exception as exc:
                log.error("chat.writer.failed", count=len(drafts), error=f"{type(exc).__name__}: {exc}")
                batch = Batch(failed=[(d, exc) for d in drafts])
            await self._deliveries.put(batch)

    async def _commit(self, drafts: list[Draft]) -> Batch:
        done = Batch()
        attempts = 0
        while drafts:
            attempts += 1
            try:
                drafts = await self._round(drafts, done, attempts)
            except Exception as exc:
                if not (done.stored or done.repeats or done.failed):
                    raise
                # Part of the batch is stored (or answered) already: only the rest fails.
                done.failed.extend((draft, exc) for draft in drafts)
                break
        self.batches += 1
        return done

    async def _round(self, drafts: list[Draft], done: Batch, attempts: int) -> list[Draft]:
        """Store ``drafts`` into ``done``; those to try again (a repeat, a deadlock, a chat that changed)."""
        try:
            batch = await self.backend.store(drafts)
        except Repeats:
            # Someone stored one of these clientIds meanwhile: answer those with it, store the rest.
            if attempts >= 5:
                # Still colliding after several rounds: busy, not a bug; the client tries again.
                raise Overloaded() from None
            return await self._answer_repeats(drafts, done)
        except RunAgain as exc:
            if attempts >= 5:
                raise Overloaded() from exc
            log.info("chat.writer.retry", code=str(exc))
            return drafts
        done.extend(batch)
        # Their chat changed (its members, maybe) while they waited for it: again, afresh.
        if batch.stale and attempts >= 5:
            done.failed.extend((draft, Overloaded()) for draft in batch.stale)
            return []
        return batch.stale

    async def _answer_repeats(self, drafts: list[Draft], done: Batch) -> list[Draft]:
        keyed = [d for d in drafts if d.client_id is not None]
        async with self.db.session() as session:
            earlier = await store.messages_by_client_ids(
                session, [(d.sender_id, d.client_id or "") for d in keyed]
            )
        rest = []
        for draft in drafts:
            found = earlier.get((draft.sender_id, draft.client_id or "")) if draft.client_id else None
            if found is None:
                rest.append(draft)
            else:
                done.repeats.append((draft, found))
        return rest

    # ---------------------------------------------------------------- after the commit

    async def _deliver_loop(self) -> None:
        while True:
            batch = await self._deliveries.get()
            try:
                await self._deliver(batch)
            except Exception as exc:  # the messages are stored; answer the senders regardless
                log.error("chat.delivery.failed", error=f"{type(exc).__name__}: {exc}")
            finally:
                self._answer(batch)
            await self._after(batch)

    async def _after(self, batch: Batch) -> None:
        """Hand the batch's chats to ``after_batch`` (once per batch; the senders already have their answer)."""
        if self.after_batch is None or not batch.stored:
            return
        latest: dict[str, int] = {}
        for stored in batch.stored:
            latest[stored.message.chat_id] = max(latest.get(stored.message.chat_id, 0), stored.message.seq)
        try:
            await self.after_batch(latest)
        except Exception as exc:
            log.error("chat.after_batch.failed", chats=len(latest), error=f"{type(exc).__name__}: {exc}")

    async def _deliver(self, batch: Batch) -> None:
        if not batch.stored:
            return
        for _ in batch.stored:
            MESSAGES_STORED.inc()
        documents = {
            s.message.id: message_document(s.message, self.links, reply=s.draft.reply) for s in batch.stored
        }
        events = [
            Event(NEW_MESSAGE, documents[s.message.id].model_dump(mode="json", by_alias=True), s.members)
            for s in sorted(batch.stored, key=lambda s: (s.message.chat_id, s.message.chat_seq or 0))
        ]
        await emit_all(self.sink(), events)
        log.debug(  # once per batch: hundreds a second under load (parley_messages_stored_total counts)
            "chat.messages.stored",
            count=len(batch.stored),
            chats=len({s.message.chat_id for s in batch.stored}),
        )
        seen = await self._read_by_viewers(batch)
        for stored in batch.stored:
            moment = seen.get(stored.message.id)
            document = documents[stored.message.id]
            if moment is not None:
                document = message_document(stored.message, self.links, moment, reply=stored.draft.reply)
            stored.draft.future.set_result(Sent(document, True))

    async def _read_by_viewers(self, batch: Batch) -> dict[str, datetime]:
        """Members who have a chat open read its new messages at once (``messagesSeen`` follows)."""
        latest: dict[str, Stored] = {}
        for stored in batch.stored:
            latest[stored.message.chat_id] = stored
        try:
            watching = await self.viewers_of(list(latest))
        except Exception as exc:  # who is watching is a nicety; the messages are stored either way
            log.warning("chat.viewers.failed", error=type(exc).__name__)
            return {}
        readers: list[tuple[str, str, int, str]] = []
        senders: dict[str, set[str]] = defaultdict(set)
        for stored in batch.stored:
            senders[stored.message.chat_id].add(stored.message.sender_id)
        for chat_id, stored in latest.items():
            members = set(stored.members)
            for reader in sorted(watching.get(chat_id, set()) & members):
                if senders[chat_id] == {reader}:
                    continue  # reading only one's own messages changes nothing
                readers.append((chat_id, reader, stored.message.seq, stored.draft.token))
        if not readers:
            return {}
        try:
            return await self.mark_read(readers)
        except Exception as exc:
            log.warning("chat.read_on_arrival.failed", error=f"{type(exc).__name__}: {exc}")
            return {}

    def _answer(self, batch: Batch) -> None:
        for stored in batch.stored:
            if not stored.draft.future.done():
                document = message_document(stored.message, self.links, reply=stored.draft.reply)
                stored.draft.future.set_result(Sent(document, True))
        for draft, earlier in batch.repeats:
            if draft.future.done():
                continue
            if earlier.chat_id != draft.chat_id:
                draft.future.set_exception(ClientIdReused())
            else:
                reply = (
                    draft.reply if draft.reply is not None and earlier.reply_to == draft.reply.id else None
                )
                draft.future.set_result(Sent(message_document(earlier, self.links, reply=reply), False))
        for draft, error in batch.failed:
            if not draft.future.done():
                draft.future.set_exception(error)
