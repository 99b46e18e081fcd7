"""Missed-message emails, the chat service's half: schedule a check, find what is still unseen, claim it.

1. After the writer stores a batch, :meth:`MissedMessages.schedule` publishes ONE delayed check
   for the batch, ``{"chats": {chatId: seq of the batch's last message there}}``, due after
   ``MISSED_MESSAGE_EMAIL_SECONDS`` (on RabbitMQ it waits, persisted, in a TTL queue).
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

    async def start(self) -> None:
        await self.bus.consume(CHECK_QUEUE, self, retry_delays=RETRY_DELAYS, prefetch=4)

    async def schedule(self, due: dict[str, int]) -> None:
        """Check these chats (up to these ``seq``) once the delay has passed: one publish."""
        if due:
            await self.bus.publish_later(CHECK_QUEUE, {"chats": due}, self.delay)

    async def __call__(self, envelope: Envelope) -> None:
        for chat_id, due_seq in parse_check(envelope.body).items():
            wait = await self.check(chat_id, due_seq)
            if wait is not None:
                # Someone here was emailed less than the delay ago: look again when that has passed.
                await self.bus.publish_later(CHECK_QUEUE, {"chats": {chat_id: due_seq}}, wait)

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
