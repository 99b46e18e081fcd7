"""Missed-message emails, the user service's half: from the chat service's request to a queued mail.

The chat service decides *that* a member is emailed and about which messages (it knows who read
what, and mutes); this service decides *whether* and *where*: it owns the address, the
``emailNotifications`` setting and the signed unsubscribe link. Each request carries a ``key``
that is the same for every delivery of one claim; a key already handled is not mailed again.
See :mod:`parley.core.notifications` and ``docs/notifications.md``.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from pydantic import ValidationError
from redis.asyncio import Redis

from parley.core.bus import Bus, Envelope, PermanentFailure
from parley.core.database import Database
from parley.core.mail import MailRequest
from parley.core.notifications import MISSED_MESSAGES_EMAIL_QUEUE, MissedMessagesEmail
from parley.user import store
from parley.user.unsubscribe import UnsubscribeLinks

log = structlog.get_logger(__name__)

RETRY_DELAYS = (1.0, 5.0, 30.0, 120.0, 600.0)
# How long a handled key is remembered: far longer than any redelivery takes.
KEY_TTL_SECONDS = 7 * 24 * 3600
SUBJECT_MAX = 150
# ``kind`` of a missed-message mail on the mail queue.
MISSED_MESSAGES_KIND = "missed-messages"
SOMEONE = "Someone"
IMAGE = "[Image]"


def _in_words(seconds: float) -> str:
    if seconds < 90:
        whole = round(seconds)
        return f"{whole} second{'s' if whole != 1 else ''}"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} minutes"
    return f"{round(seconds / 3600)} hours"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def missed_messages_mail(
    request: MissedMessagesEmail,
    *,
    recipient: store.User,
    names: dict[str, str],
    chat_url: str,
    unsubscribe_url: str,
    delay_seconds: float,
) -> MailRequest:
    """The mail queue's message (``{to, subject, body, kind, actionUrl, unsubscribeUrl}``) for ``request``.

    Senders appear by name only: no one's address but the recipient's is in the mail.
    """
    senders = list(dict.fromkeys(names.get(m.sender_id, SOMEONE) for m in request.messages))
    count = f"{request.total} unread message{'s' if request.total != 1 else ''}"
    if request.is_group:
        where = f'"{request.chat_name or "a group"}"'
        subject = f"{count} in {request.chat_name or 'a group'}"
    else:
        where = f"your chat with {senders[0]}"
        subject = f"{count} from {senders[0]}"
    lines = []
    for message in request.messages:
        text = _one_line(message.text)
        if message.image:
            text = f"{IMAGE} {text}".strip()
        lines.append(f"{names.get(message.sender_id, SOMEONE)}: {text}")
    more = request.total - len(request.messages)
    if more > 0:
        lines.append(f"… and {more} more")
    body = "\n\n".join(
        [
            f"Hi {recipient.name},",
            f"You have {count} in {where} on Parley:",
            "\n".join(lines),
            f"Open the chat: {chat_url}",
            f"You get this email because messages waited unread for {_in_words(delay_seconds)}. "
            f"To stop these emails: {unsubscribe_url}",
        ]
    )
    return MailRequest(
        to=recipient.email,
        subject=_one_line(_short(f"Parley: {subject}", SUBJECT_MAX)),
        body=body,
        kind=MISSED_MESSAGES_KIND,
        action_url=chat_url,
        unsubscribe_url=unsubscribe_url,
    )


class MissedMessageMailer:
    """Consumes :data:`MISSED_MESSAGES_EMAIL_QUEUE`: ``await mailer(envelope)``."""

    def __init__(
        self,
        *,
        db: Database,
        cache: Redis,
        bus: Bus,
        links: UnsubscribeLinks,
        mail_queue: str,
        public_url: str,
        delay_seconds: float,
    ) -> None:
        self.db = db
        self.cache = cache
        self.bus = bus
        self.links = links
        self.mail_queue = mail_queue
        self.public_url = public_url.rstrip("/")
        self.delay_seconds = delay_seconds

    async def start(self, retry_delays: Sequence[float] = RETRY_DELAYS) -> None:
        await self.bus.consume(MISSED_MESSAGES_EMAIL_QUEUE, self, retry_delays=retry_delays, prefetch=4)

    async def __call__(self, envelope: Envelope) -> None:
        try:
            request = MissedMessagesEmail.model_validate(envelope.body)
        except ValidationError:
            raise PermanentFailure("invalid missed-messages request") from None
        done = f"missed-mail:sent:{request.key}"
        if await self.cache.exists(done):
            log.info("user.missed_mail.repeat", user_id=request.user_id, chat_id=request.chat_id)
            return
        async with self.db.session() as session:
            recipient = await store.get_user(session, request.user_id)
            if recipient is None or not recipient.email_notifications:
                log.info("user.missed_mail.skipped", user_id=request.user_id, chat_id=request.chat_id)
                return
            senders = await store.get_users(session, [m.sender_id for m in request.messages])
        mail = missed_messages_mail(
            request,
            recipient=recipient,
            names={user.id: user.name for user in senders},
            chat_url=f"{self.public_url}/chats?c={request.chat_id}",
            unsubscribe_url=self.links.url(recipient.id),
            delay_seconds=self.delay_seconds,
        )
        # Queued (confirmed by the broker) before the key is remembered: a crash between the two
        # can send it twice, never lose it.
        await self.bus.publish(self.mail_queue, mail.to_message())
        await self.cache.set(done, "1", ex=KEY_TTL_SECONDS)
        log.info(
            "user.missed_mail.queued", user_id=recipient.id, chat_id=request.chat_id, total=request.total
        )
