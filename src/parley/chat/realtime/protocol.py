"""The Socket.IO protocol of the chat service: event names, payloads, limits, acknowledgements, and what
the real-time layer asks the chat service (:class:`Directory`)."""

from __future__ import annotations

import time
from typing import Any, Literal, Protocol

import structlog
from pydantic import BaseModel, ConfigDict, Field, RootModel

from parley.chat.schemas import ErrorOut, MessageOut
from parley.core.auth import Identity
from parley.core.errors import AppError

log = structlog.get_logger(__name__)


# Server → client events.
GET_ONLINE_USER = "getOnlineUser"
USER_TYPING = "userTyping"
USER_STOPPED_TYPING = "userStoppedTyping"
# Client → server events.
TYPING = "typing"
STOP_TYPING = "stopTyping"
JOIN_CHAT = "joinChat"
LEAVE_CHAT = "leaveChat"
SEND_MESSAGE = "sendMessage"

NAMESPACE = "/"
# One publish carrying a whole batch of events ``[[event, payload, rooms], …]``; never reaches clients.
BATCH_EVENT = "parley:batch"
# A socket may have this many chats joined at once; joining one more forgets the oldest.
MAX_JOINED_CHATS = 16
# Packets waiting for a client before it counts as stalled and is dropped (it may reconnect).
MAX_PENDING_PACKETS = 2000


def error_ack(error: AppError) -> dict[str, Any]:
    """The acknowledgement of a refused ``sendMessage`` (:class:`SendMessageFailed`)."""
    return SendMessageFailed(error=ErrorOut(message=error.message, code=error.code)).model_dump(mode="json")


def user_room(user_id: str) -> str:
    """The room every socket of a user is in."""
    return f"user:{user_id}"


class Directory(Protocol):
    """What the real-time layer asks the chat service (which answers from its store)."""

    async def is_member(self, chat_id: str, user_id: str) -> bool: ...

    async def contacts(self, user_id: str) -> list[str]:
        """Ids of everyone who shares a chat with the user."""
        ...

    async def chat_members(self, chat_id: str) -> list[str]: ...

    async def mark_seen_on_join(self, chat_id: str, user_id: str, token: str | None = None) -> None:
        """The user opened the chat: mark it read (the chat service emits ``messagesSeen``)."""
        ...

    async def blocks_of(self, identity: Identity, user_ids: list[str]) -> tuple[set[str], set[str]]:
        """Among ``user_ids``: those the identity blocked, and those who blocked the identity.

        Blocked people see neither the blocker's presence nor their typing.
        """
        ...

    async def send_message(self, identity: Identity, payload: Any) -> dict[str, Any]:
        """Store a message from the socket's user (the payload of ``sendMessage``); its document.

        Raises :class:`~parley.core.errors.AppError` with the same rules as ``POST /message``.
        """
        ...


class ChatRef(BaseModel):
    """The payload of ``typing``, ``stopTyping``, ``joinChat`` and ``leaveChat``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    chat_id: str = Field(alias="chatId", pattern=r"^[0-9a-f]{24}$")


class OnlineUsers(RootModel[list[str]]):
    """The payload of ``getOnlineUser``: the full current list, never a change."""

    root: list[str] = Field(description="Ids of the online users among the people who share a chat with you.")


class TypingEvent(BaseModel):
    """The payload of ``userTyping`` and ``userStoppedTyping``."""

    model_config = ConfigDict(frozen=True)

    chatId: str
    userId: str = Field(description="Who is typing, or stopped.")


class SendMessageStored(BaseModel):
    """``sendMessage`` stored the message (or had stored it already, for the same ``clientId``)."""

    message: MessageOut


class SendMessageFailed(BaseModel):
    """``sendMessage`` was refused, for the same reasons and with the same codes as ``POST /message``."""

    error: ErrorOut


class SendMessageAck(RootModel[SendMessageStored | SendMessageFailed]):
    """The acknowledgement of ``sendMessage``."""


class TokenBucket:
    """``rate`` events a second with bursts of ``burst``; says when a client floods for ``grace`` s.

    A flood ends once the client has slowed down enough for the bucket to be half full again.
    """

    __slots__ = ("burst", "flooding_since", "grace", "rate", "tokens", "updated")

    def __init__(self, rate: float, burst: int, grace: float) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.grace = grace
        self.tokens = float(burst)
        self.updated = time.monotonic()
        self.flooding_since: float | None = None

    def take(self) -> Literal["ok", "drop", "abuse"]:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            if self.tokens >= self.burst / 2:
                self.flooding_since = None
            return "ok"
        if self.flooding_since is None:
            self.flooding_since = now
        elif now - self.flooding_since >= self.grace:
            return "abuse"
        return "drop"
