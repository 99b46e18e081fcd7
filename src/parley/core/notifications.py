"""The missed-message email's wire contract between the chat service and the user service.

The chat service knows who has read what and who muted which chat; the user service knows each
person's address, their ``emailNotifications`` setting and how to sign their unsubscribe link.
When a member left messages unseen for ``MISSED_MESSAGE_EMAIL_SECONDS``, the chat service claims
them and publishes one :class:`MissedMessagesEmail` to :data:`MISSED_MESSAGES_EMAIL_QUEUE`; the user
service turns it into a mail on the mail queue. See ``docs/notifications.md``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

# Consumed by the user service: one message per member and chat to email.
MISSED_MESSAGES_EMAIL_QUEUE = "user.missed-messages"
# How many messages one email quotes at most (the newest); the rest are counted.
MAX_QUOTED = 10
# How much of each message's text one email quotes at most.
PREVIEW_CHARS = 200


class _Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class MissedMessage(_Wire):
    """One unseen message, as the email quotes it."""

    sender_id: str = Field(max_length=32)
    # The start of the text ("" for an image without a caption).
    text: str = Field(max_length=PREVIEW_CHARS + 1)
    image: bool = False
    created_at: str


class MissedMessagesEmail(_Wire):
    """Email ``user_id`` about the messages of ``chat_id`` they left unseen."""

    # The same for every delivery of one claim: the user service sends each key once.
    key: str = Field(max_length=120)
    user_id: str = Field(max_length=32)
    chat_id: str = Field(max_length=24)
    is_group: bool
    chat_name: str | None = Field(None, max_length=100)
    # The newest unseen messages, oldest first (at most MAX_QUOTED).
    messages: list[MissedMessage] = Field(min_length=1, max_length=MAX_QUOTED)
    # How many messages are unseen in all (at least ``len(messages)``).
    total: int = Field(ge=1)
