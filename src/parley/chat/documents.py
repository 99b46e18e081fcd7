"""Rows to API documents: timestamps as the seed wrote them, images as fresh signed links."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from datetime import UTC, datetime

from parley.chat.media.images import sign_media_path, verify_media_signature
from parley.chat.schemas import ChatDetail, ChatOut, ImageOut, LatestMessage, MessageOut
from parley.chat.store import ROLE_ADMIN, TYPE_IMAGE, TYPE_TEXT, Chat, Member, Message
from parley.core.settings import Settings

IMAGE_PREVIEW = "📷 Image"


def iso(moment: datetime) -> str:
    """``2026-11-25T10:00:00.000Z``: UTC, milliseconds, as the seed app's documents."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def preview_of(text: str, has_image: bool) -> str:
    """What the chat list shows as the latest message."""
    return text if text or not has_image else IMAGE_PREVIEW


class MediaLinks:
    """Signs and checks the links that hand images out to chat members."""

    def __init__(self, secret: bytes, public_url: str, ttl: int) -> None:
        self.secret = secret
        self.public_url = public_url.rstrip("/")
        self.ttl = ttl

    @classmethod
    def from_settings(cls, settings: Settings) -> MediaLinks:
        # A key of its own, derived from the token secret: a media link can never be turned into
        # anything that verifies as a token, and rotating JWT_SECRET invalidates old links too.
        key = hmac.new(settings.jwt_secret().encode(), b"parley.chat.media-links", hashlib.sha256).digest()
        return cls(key, settings.app.public_url, settings.media.media_url_ttl_seconds)

    def url(self, key: str) -> str:
        return self.public_url + sign_media_path(key, self.secret, ttl=self.ttl)

    def verify(self, key: str, exp: str | None, sig: str | None) -> None:
        """Raise :class:`Forbidden` unless the link is authentic and unexpired."""
        verify_media_signature(key, exp, sig, self.secret)


def message_document(
    message: Message, links: MediaLinks, seen_at: datetime | None = None, *, hide_seen: bool = False
) -> MessageOut:
    """The message document; ``seen_at`` overrides the row's when it was just marked seen.

    ``hide_seen``: shown as unseen (read receipts are off for the one who sees it, or its reader).
    """
    seen = None if hide_seen else (seen_at or message.seen_at)
    image = None
    if message.image_key:
        image = ImageOut(
            url=links.url(message.image_key),
            publicId=message.image_key,
            width=message.image_width or 0,
            height=message.image_height or 0,
        )
    return MessageOut(
        id=message.id,
        chatId=message.chat_id,
        sender=message.sender_id,
        text=message.text,
        image=image,
        messageType=TYPE_IMAGE if message.message_type == TYPE_IMAGE else TYPE_TEXT,
        seen=seen is not None,
        seenAt=iso(seen) if seen else None,
        createdAt=iso(message.created_at),
        updatedAt=iso(message.updated_at),
        clientId=message.client_id,
        seq=message.chat_seq,
    )


def _latest(chat: Chat) -> LatestMessage | None:
    if chat.latest_message_seq is None or chat.latest_message_sender is None:
        return None
    return LatestMessage(text=chat.latest_message_text or "", sender=chat.latest_message_sender)


def chat_document(chat: Chat, members: Sequence[Member], unseen: int) -> ChatOut:
    return ChatOut(
        id=chat.id,
        users=[m.user_id for m in members],
        name=chat.name if chat.is_group else None,
        isGroup=chat.is_group,
        latestMessage=_latest(chat),
        unseenCount=unseen,
        createdAt=iso(chat.created_at),
        updatedAt=iso(chat.updated_at),
    )


def chat_detail(chat: Chat, members: Sequence[Member], unseen: int) -> ChatDetail:
    base = chat_document(chat, members, unseen)
    return ChatDetail(
        **base.model_dump(by_alias=False), admins=[m.user_id for m in members if m.role == ROLE_ADMIN]
    )
