"""Rows to API documents: timestamps as the seed wrote them, images as fresh signed links."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

from parley.chat.schemas import (
    ChatDetail,
    ChatOut,
    ImageOut,
    LatestMessage,
    MessageOut,
    ReactionOut,
    ReplyOut,
    SystemOut,
)
from parley.chat.store import ROLE_ADMIN, TYPE_IMAGE, TYPE_SYSTEM, TYPE_TEXT, Chat, Member, Message
from parley.core.media.images import sign_media_path, verify_media_signature
from parley.core.settings import Settings

IMAGE_PREVIEW = "📷 Image"
REPLY_QUOTE_LENGTH = 200


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


class MessageFields(Protocol):
    """What a message document is made of: a stored row (:class:`~parley.chat.store.Message`), or
    the writer's plain copy of a row it has just inserted (no ORM bookkeeping on the send path)."""

    @property
    def id(self) -> str: ...
    @property
    def chat_id(self) -> str: ...
    @property
    def sender_id(self) -> str: ...
    @property
    def message_type(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def image_key(self) -> str | None: ...
    @property
    def image_width(self) -> int | None: ...
    @property
    def image_height(self) -> int | None: ...
    @property
    def client_id(self) -> str | None: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...
    @property
    def seen_at(self) -> datetime | None: ...
    @property
    def chat_seq(self) -> int | None: ...
    @property
    def edited_at(self) -> datetime | None: ...
    @property
    def deleted(self) -> bool: ...
    @property
    def reply_to(self) -> str | None: ...
    @property
    def system(self) -> str | None: ...


def message_type(message: MessageFields) -> str:
    if message.message_type in (TYPE_IMAGE, TYPE_SYSTEM):
        return message.message_type
    return TYPE_TEXT


def reply_document(original: Message) -> ReplyOut:
    """The quote of ``original`` a reply carries: as it is now (a deleted one shows as deleted)."""
    return ReplyOut(
        id=original.id,
        sender=original.sender_id,
        text="" if original.deleted else original.text[:REPLY_QUOTE_LENGTH],
        messageType=message_type(original),
        deleted=bool(original.deleted),
    )


def system_document(raw: str | None) -> SystemOut | None:
    if not raw:
        return None
    return SystemOut.model_validate(json.loads(raw))


def message_document(
    message: MessageFields,
    links: MediaLinks,
    seen_at: datetime | None = None,
    *,
    reply: Message | None = None,
    reactions: Sequence[tuple[str, list[str]]] = (),
    hide_seen: bool = False,
) -> MessageOut:
    """The message document; ``seen_at`` overrides the row's when it was just marked seen.

    ``reply`` is the message it answers (loaded by the caller), ``reactions`` its reactions.
    ``hide_seen``: shown as unseen (read receipts are off for the one who sees it, or its reader).
    """
    seen = None if hide_seen else (seen_at or message.seen_at)
    deleted = bool(message.deleted)
    image = None
    if message.image_key and not deleted:
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
        text="" if deleted else message.text,
        image=image,
        messageType=message_type(message),
        system=system_document(message.system),
        seen=seen is not None,
        seenAt=iso(seen) if seen else None,
        createdAt=iso(message.created_at),
        updatedAt=iso(message.updated_at),
        clientId=message.client_id,
        seq=message.chat_seq,
        editedAt=iso(message.edited_at) if message.edited_at else None,
        deleted=deleted,
        replyTo=reply_document(reply) if reply is not None and not deleted and message.reply_to else None,
        reactions=[] if deleted else [ReactionOut(emoji=e, users=list(u)) for e, u in reactions],
    )


def _latest(chat: Chat) -> LatestMessage | None:
    if chat.latest_message_seq is None or chat.latest_message_sender is None:
        return None
    # A deleted latest message keeps its place, without a preview.
    deleted = True if chat.latest_message_text is None else None
    return LatestMessage(
        text=chat.latest_message_text or "", sender=chat.latest_message_sender, deleted=deleted
    )


def muted_until(member: Member | None, now: datetime) -> str | None:
    """When the member's mute of the chat ends; None when it is not muted (or no longer)."""
    if member is None or member.muted_until is None or member.muted_until <= now:
        return None
    return iso(member.muted_until)


def chat_document(chat: Chat, members: Sequence[Member], unseen: int, viewer: str | None = None) -> ChatOut:
    """The chat as ``viewer`` sees it (their unseen count and mute)."""
    mine = next((m for m in members if m.user_id == viewer), None)
    return ChatOut(
        id=chat.id,
        users=[m.user_id for m in members],
        name=chat.name if chat.is_group else None,
        isGroup=chat.is_group,
        latestMessage=_latest(chat),
        unseenCount=unseen,
        mutedUntil=muted_until(mine, datetime.now(UTC)),
        createdAt=iso(chat.created_at),
        updatedAt=iso(chat.updated_at),
    )


def chat_detail(chat: Chat, members: Sequence[Member], unseen: int, viewer: str | None = None) -> ChatDetail:
    base = chat_document(chat, members, unseen, viewer)
    return ChatDetail(
        **base.model_dump(by_alias=False), admins=[m.user_id for m in members if m.role == ROLE_ADMIN]
    )
