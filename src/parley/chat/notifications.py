"""Missed-message emails, the chat service's half: schedule a check, find what is still unseen, claim it.

1. After the writer stores a batch, :meth:`MissedMessages.schedule` notes its chats and a
   background task publishes ONE delayed check for what gathered, ``{"chats": {chatId: seq of
   the last message there}}``, due after ``MISSED_MESSAGE_EMAIL_SECONDS`` (on RabbitMQ it waits,
   persisted, in a TTL queue). The writer never waits for the broker; while the broker is away the
   chats are kept and published once it is back; what a crash loses before it was published, the
   start-up :meth:`~MissedMessages.recover` checks again.
2. When it is due, the check (this class, consuming :data:`CHECK_QUEUE`) looks at each member of
   each chat: someone who still has not read another member's message up to that ``seq``, and has
   not been emailed about it, gets one email covering every message of others they have not read.
   A member who muted the chat is passed over (their claim moves on, so those messages never
   cause an email later either); one emailed less than the delay ago is checked again once it is.
3. The member's claim (``missed_mail_claims``) moves with a compare-and-set in the same
   transaction that publishes the request to the user service (publisher confirms), which then
   commits; the check is acknowledged only after that. A check delivered twice finds the claim
   moved and emails nobody; a crash before the commit leaves no claim, and the redelivered check
   does the work again (the request's ``key`` is the same, and the user service sends a key once).

The user service owns addresses and ``emailNotifications``; see :mod:`parley.core.notifications`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from parley.chat import store
from parley.chat.documents import iso
from parley.core.bus import Bus, Envelope, PermanentFailure
from parley.core.database import Database
from parley.core.ids import is_id
from parley.core.notifications import (
    MAX_QUOTED,
    MISSED_MESSAGES_EMAIL_QUEUE,
    PREVIEW_CHARS,
    MissedMessage,
    MissedMessagesEmail,
)

log = structlog.get_logger(__name__)

# The chat service's own queue of due checks.
CHECK_QUEUE = "chat.missed-messages"
# At most this many chats in one check message (a writer batch holds at most 256 messages).
MAX_CHATS = 1000
# How many of a chat's newest unseen messages one check reads.
LOAD_LIMIT = 200
RETRY_DELAYS = (1.0, 5.0, 30.0, 120.0, 600.0)
# Start-up recovery: how far back it looks at least, and how many chats it checks at most.
MIN_LOOKBACK_SECONDS = 600.0
MAX_RECOVERED = 5000
CHUNK = 500
# How long the scheduler waits before trying the broker again.
SCHEDULE_RETRY_SECONDS = 1.0
# After a publish, how long the scheduler gathers what the writer's next batches bring (at most).
PUBLISH_GATHER_SECONDS = 1.0


def _chunks(due: dict[str, int]) -> list[dict[str, int]]:
    items = list(due.items())
    return [dict(items[i : i + CHUNK]) for i in range(0, len(items), CHUNK)]


def parse_check(body: dict[str, Any]) -> dict[str, int]:
    """``{chatId: seq}`` of a check message; :class:`PermanentFailure` when it is not one."""
    chats = body.get("chats")
    if not isinstance(chats, dict) or len(chats) > MAX_CHATS:
        raise PermanentFailure("invalid check: chats must be an object")
    due: dict[str, int] = {}
    for chat_id, seq in chats.items():
        if not is_id(chat_id) or not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise PermanentFailure("invalid check: chats maps chat ids to message numbers")
        due[chat_id] = seq
    return due


def _quote(message: store.Message) -> MissedMessage:
    text = message.text if len(message.text) <= PREVIEW_CHARS else message.text[:PREVIEW_CHARS] + "…"
    return MissedMessage(
        sender_id=message.sender_id,
        text=text,
        image=message.image_key is not None,
        created_at=iso(message.created_at),
    )


class MissedMessages:
    """Schedules the checks after each batch, and runs them when due (``await checks(envelope)``)."""

    def __init__(self, db: Database, bus: Bus, delay: float) -> None:
        self.db = db
        self.bus = bus
        self.delay = delay
        # Chats to schedule a check for (the highest seq of each), not yet published.
        self._pending: dict[str, int] = {}
        self._wakeup = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._stopping = asyncio.Event()
        self._publisher: asyncio.Task[None] | None = None
        self.published = 0  # checks scheduled (confirmed by the broker), for tests and metrics
        # How long the publisher gathers after each publish: at most one a second, and a small
        # part of the delay.
        self.gather = min(PUBLISH_GATHER_SECONDS, delay / 20)

    async def start(self) -> None:
        await self.bus.consume(CHECK_QUEUE, self, retry_delays=RETRY_DELAYS, prefetch=4)
        self._stopping.clear()
        self._publisher = asyncio.create_task(self._publish_loop(), name="missed-mail-schedule")
        try:
            await self.recover()
        except Exception as exc:  # a nicety on top of the schedule; never a reason not to start
            log.warning("chat.missed_mail.recover_failed", error=f"{type(exc).__name__}: {exc}")

    async def stop(self, timeout: float = 5) -> None:
        """Publish what is still pending (for up to ``timeout`` seconds), then stop."""
        if self._publisher is None:
            return
        self._stopping.set()  # publish what is pending now, without gathering more
        if not self._drained.is_set() and not self._publisher.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), timeout)
        self._publisher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._publisher
        self._publisher = None
        if self._pending:
            # Start-up recovery checks these chats again (see recover()).
            log.warning("chat.missed_mail.unscheduled", chats=len(self._pending))

    async def recover(self, now: datetime | None = None) -> int:
        """Check again the chats with recent messages; how many chats it scheduled.

        A batch's check is published shortly after its commit; a process that died in between
        left those messages without one. Checking a chat again is harmless (the claims make it
        email nobody twice), so at start-up every chat active within the last
        :meth:`lookback` gets a check: at once if its newest message is already due, else after
        the delay.
        """
        now = now or datetime.now(UTC)
        async with self.db.session() as session:
            recent = await store.recently_active_chats(session, now - self.lookback(), MAX_RECOVERED)
        due_now = {cid: seq for cid, seq, at in recent if (now - at).total_seconds() >= self.delay}
        later = {cid: seq for cid, seq, at in recent if cid not in due_now}
        for chunk in _chunks(due_now):
            await self.bus.publish(CHECK_QUEUE, {"chats": chunk})
        for chunk in _chunks(later):
            await self.bus.publish_later(CHECK_QUEUE, {"chats": chunk}, self.delay)
        if recent:
            log.info("chat.missed_mail.recovered", chats=len(recent))
        return len(recent)

    @property
    def scheduled(self) -> bool:
        """Whether every check asked for so far is published (confirmed by the broker)."""
        return self._drained.is_set()

    def lookback(self) -> timedelta:
        return timedelta(seconds=max(2 * self.delay, MIN_LOOKBACK_SECONDS))

    async def schedule(self, due: dict[str, int]) -> None:
        """Check these chats (up to these ``seq``) once the delay has passed.

        Never waits for the broker: the writer calls it once per batch, and a background task
        publishes what gathered meanwhile as one delayed message, at most one every
        :attr:`gather` seconds; while the broker is away it keeps them and tries again.
        """
        for chat_id, seq in due.items():
            if seq > self._pending.get(chat_id, 0):
                self._pending[chat_id] = seq
        self._drained.clear()
        self._wakeup.set()

    async def _publish_loop(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                taken, self._pending = self._pending, {}
                try:
                    for chunk in _chunks(taken):
                        await self.bus.publish_later(CHECK_QUEUE, {"chats": chunk}, self.delay)
                        self.published += 1
                except Exception as exc:
                    # Put them back (a chunk published twice is checked twice: harmless) and wait
                    # for the broker; the robust connection comes back by itself.
                    for chat_id, seq in taken.items():
                        if seq > self._pending.get(chat_id, 0):
                            self._pending[chat_id] = seq
                    log.warning(
                        "chat.missed_mail.schedule_failed", chats=len(self._pending), error=type(exc).__name__
                    )
                    await asyncio.sleep(SCHEDULE_RETRY_SECONDS)
            self._drained.set()
            # Checks are due minutes from now: under load, gather a moment's batches into one
            # publish instead of one per batch (a check left unpublished by a crash in this moment
            # is made up at start, see recover()).
            # (asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow stop()'s cancel.)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.gather):
                    await self._stopping.wait()

    async def __call__(self, envelope: Envelope) -> None:
        for chat_id, due_seq in parse_check(envelope.body).items():
            wait = await self.check(chat_id, due_seq)
            if wait is not None:
                # Someone here was emailed less than the delay ago: look again once it has passed.
                # Always the one delay (one waiting queue on the broker, not one per wait).
                await self.bus.publish_later(CHECK_QUEUE, {"chats": {chat_id: due_seq}}, self.delay)

    async def check(self, chat_id: str, due_seq: int, now: datetime | None = None) -> float | None:
        """Email the members who left the chat's messages up to ``due_seq`` unseen; how long to wait
        before checking again (None: no need)."""
        now = now or datetime.now(UTC)
        window = timedelta(seconds=self.delay)
        wait: float | None = None
        async with self.db.session() as session:
            chat = (await store.chats_by_ids(session, [chat_id])).get(chat_id)
            if chat is None:
                return None
            members = await store.missed_mail_members(session, chat_id)
            todo = [m for m in members if max(m.last_read_seq, m.claimed_seq or 0) < due_seq]
            if not todo:
                return None
            loaded = await store.unseen_candidates(
                session, chat_id, after_seq=min(m.last_read_seq for m in todo), limit=LOAD_LIMIT
            )
            requests: list[MissedMessagesEmail] = []
            for member in todo:
                unseen = [m for m in loaded if m.seq > member.last_read_seq and m.sender_id != member.user_id]
                handled = max(member.last_read_seq, member.claimed_seq or 0)
                if not any(handled < m.seq <= due_seq for m in unseen):
                    continue  # read in time, only their own messages, or already emailed about
                up_to = unseen[-1].seq
                if member.muted_until is not None and member.muted_until > now:
                    await store.claim_missed_mail(
                        session,
                        chat_id,
                        member.user_id,
                        previous=member.claimed_seq,
                        up_to=up_to,
                        emailed_at=None,
                    )
                    continue
                if member.emailed_at is not None and now - member.emailed_at < window:
                    left = (member.emailed_at + window - now).total_seconds()
                    wait = max(wait or 0.0, left)
                    continue
                claimed = await store.claim_missed_mail(
                    session, chat_id, member.user_id, previous=member.claimed_seq, up_to=up_to, emailed_at=now
                )
                if not claimed:
                    continue  # another check got there first and emails them
                total = len(unseen)
                if len(loaded) == LOAD_LIMIT:
                    counts = await store.unseen_counts(session, member.user_id, chat_id)
                    total = max(total, counts.get(chat_id, 0))
                requests.append(
                    MissedMessagesEmail(
                        key=f"{chat_id}:{member.user_id}:{up_to}",
                        user_id=member.user_id,
                        chat_id=chat_id,
                        is_group=chat.is_group,
                        chat_name=chat.name if chat.is_group else None,
                        messages=[_quote(m) for m in unseen[-MAX_QUOTED:]],
                        total=total,
                    )
                )
            # Published before the claims commit: if a publish fails, nothing was claimed and the
            # check is tried again; if the commit fails, the same keys go out again and the user
            # service sends each once.
            await self._hand_over(requests)
        for request in requests:
            log.info(
                "chat.missed_mail.requested", chat_id=chat_id, user_id=request.user_id, total=request.total
            )
        return wait

    async def _hand_over(self, requests: Sequence[MissedMessagesEmail]) -> None:
        for request in requests:
            await self.bus.publish(
                MISSED_MESSAGES_EMAIL_QUEUE, request.model_dump(mode="json", by_alias=True)
            )
