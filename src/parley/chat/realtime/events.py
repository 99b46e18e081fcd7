"""Every Socket.IO event of the chat service, described once.

:data:`EVENTS` lists each event with the pydantic model of its payload (and of its acknowledgement,
where it has one). The chat service builds the payloads it emits from these models, the real-time
layer validates what clients send through them, and :mod:`parley.chat.realtime.asyncapi` publishes
them as the AsyncAPI document ``GET /asyncapi.json``, from which the web app's event types are
generated (``make api-types``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from parley.chat.events import (
    CHAT_UPDATED,
    MESSAGE_UPDATED,
    MESSAGES_SEEN,
    NEW_CHAT,
    NEW_MESSAGE,
    REMOVED_FROM_CHAT,
)
from parley.chat.realtime.protocol import (
    GET_ONLINE_USER,
    JOIN_CHAT,
    LEAVE_CHAT,
    SEND_MESSAGE,
    STOP_TYPING,
    TYPING,
    USER_STOPPED_TYPING,
    USER_TYPING,
    ChatRef,
    OnlineUsers,
    SendMessageAck,
    TypingEvent,
)
from parley.chat.schemas import (
    ChatUpdatedEvent,
    MessageOut,
    MessagesSeenEvent,
    NewChatEvent,
    RemovedFromChatEvent,
    SendMessageIn,
)


@dataclass(frozen=True)
class EventSpec:
    """One event: its name, who sends it, its payload and, when the sender waits for one, the answer."""

    name: str
    sender: Literal["server", "client"]
    payload: type[BaseModel]
    summary: str
    ack: type[BaseModel] | None = None


EVENTS: tuple[EventSpec, ...] = (
    EventSpec(GET_ONLINE_USER, "server", OnlineUsers, "Who among your contacts is online (the whole list)."),
    EventSpec(
        NEW_MESSAGE, "server", MessageOut, "A new message, to every member (the sender's other tabs too)."
    ),
    EventSpec(MESSAGES_SEEN, "server", MessagesSeenEvent, "Messages were read, to their senders."),
    EventSpec(USER_TYPING, "server", TypingEvent, "A member started typing, to the other members."),
    EventSpec(USER_STOPPED_TYPING, "server", TypingEvent, "A member stopped typing, to the other members."),
    EventSpec(NEW_CHAT, "server", NewChatEvent, "You were added to a chat."),
    EventSpec(
        MESSAGE_UPDATED, "server", MessageOut, "A message after an edit, a deletion or a reaction change."
    ),
    EventSpec(CHAT_UPDATED, "server", ChatUpdatedEvent, "A group was renamed or its members changed."),
    EventSpec(
        REMOVED_FROM_CHAT,
        "server",
        RemovedFromChatEvent,
        "You were removed from a chat or left it; no event of that chat reaches you from now on.",
    ),
    EventSpec(TYPING, "client", ChatRef, "You are typing in a chat (ignored unless you are a member)."),
    EventSpec(STOP_TYPING, "client", ChatRef, "You stopped typing in a chat."),
    EventSpec(
        JOIN_CHAT, "client", ChatRef, "You opened a chat: while joined, its new messages count as seen."
    ),
    EventSpec(LEAVE_CHAT, "client", ChatRef, "You closed a chat."),
    EventSpec(
        SEND_MESSAGE,
        "client",
        SendMessageIn,
        "Send a text message: the same rules and limits as POST /api/v1/message.",
        ack=SendMessageAck,
    ),
)
