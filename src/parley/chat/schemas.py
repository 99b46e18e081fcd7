"""The chat API's documents and request bodies (camelCase and ``_id``, as the seed app's)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Document(BaseModel):
    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True, validate_by_alias=True)


def _absent_if_none(value: object) -> bool:
    return value is None


# --- documents ------------------------------------------------------------------------------------------


class ImageOut(BaseModel):
    url: str = Field(description="A signed link to the image, valid for an hour; fresh in every response.")
    publicId: str = Field(description="The image's storage key.")
    width: int
    height: int


class ReplyOut(Document):
    """The message a reply quotes, as it is now."""

    id: str = Field(alias="_id")
    sender: str
    text: str = Field(description="At most 200 characters of the quoted message; empty once it is deleted.")
    messageType: Literal["text", "image", "system"]
    deleted: bool


class ReactionOut(BaseModel):
    emoji: str
    users: list[str] = Field(description="Who reacted with it, in the order they did.")


class SystemOut(BaseModel):
    """What a system message records: a change to the group."""

    action: Literal["created", "added", "removed", "left", "renamed"]
    actor: str = Field(description="Who made the change.")
    users: list[str] = Field(description="Who was added or removed, or who left.")
    name: str | None = Field(description="The group's name after the change.")


class MessageOut(Document):
    id: str = Field(alias="_id")
    chatId: str
    sender: str = Field(description="The sender's user id (for a system message: who made the change).")
    text: str
    image: ImageOut | None = Field(None, exclude_if=_absent_if_none)
    messageType: Literal["text", "image", "system"]
    system: SystemOut | None = Field(None, exclude_if=_absent_if_none, description="System messages only.")
    seen: bool = Field(description="Every other member has read it (in a 1:1 chat: the other person).")
    seenAt: str | None
    createdAt: str
    updatedAt: str
    clientId: str | None = Field(None, exclude_if=_absent_if_none)
    seq: int | None = Field(
        None,
        exclude_if=_absent_if_none,
        description="The message's number in its chat: 1, 2, 3 … in the order the messages were stored.",
    )
    editedAt: str | None = Field(None, description="When the text was last edited; null until then.")
    deleted: bool = Field(False, description="A tombstone: text empty, no image, reply or reactions.")
    replyTo: ReplyOut | None = Field(None, description="The message this one answers.")
    reactions: list[ReactionOut] = Field(
        default_factory=list, description="In the order each emoji was first used."
    )


class LatestMessage(BaseModel):
    text: str
    sender: str
    deleted: bool | None = Field(
        None, exclude_if=_absent_if_none, description="Present (true) when the latest message was deleted."
    )


class ChatOut(Document):
    id: str = Field(alias="_id")
    users: list[str] = Field(description="The members' user ids, longest-standing first.")
    name: str | None = Field(None, exclude_if=_absent_if_none, description="Groups only.")
    isGroup: bool
    latestMessage: LatestMessage | None
    unseenCount: int = Field(description="Messages of others you have not read yet.")
    createdAt: str
    updatedAt: str


class ChatDetail(ChatOut):
    admins: list[str]


class UserOut(Document):
    """A user document as the user service returns it."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(alias="_id")
    name: str
    email: str


class ChatListItem(BaseModel):
    user: UserOut | None = Field(description="The other person of a 1:1 chat; null for groups.")
    chat: ChatOut


class ChatList(BaseModel):
    chats: list[ChatListItem]


class ChatCreated(BaseModel):
    message: str
    chatId: str


class ChatExists(BaseModel):
    message: str
    chatId: str
    chat: str = Field(description="The chat's id again, as the seed app answered.")


class ChatView(BaseModel):
    chat: ChatDetail
    members: list[UserOut]


class ChatUpdated(BaseModel):
    message: str
    chat: ChatDetail


class Done(BaseModel):
    message: str


class MessageSent(BaseModel):
    message: MessageOut
    sender: str


class History(BaseModel):
    messages: list[MessageOut] = Field(description="Oldest first within the page.")
    user: UserOut | None = Field(description="The other person of a 1:1 chat; null for groups.")


# --- requests -------------------------------------------------------------------------------------------


class NewChatIn(BaseModel):
    otherUserId: str


class NewGroupIn(BaseModel):
    name: str = Field(description="1–100 visible characters.")
    userIds: list[str] = Field(max_length=255, description="At least two other people.")


class RenameIn(BaseModel):
    name: str = Field(description="1–100 visible characters.")


class AddMembersIn(BaseModel):
    userIds: list[str] = Field(min_length=1, max_length=255)


class SendMessageIn(BaseModel):
    """A text message, as the JSON body of ``POST /message`` and the payload of ``sendMessage``."""

    chatId: str = Field(description="The chat's id.")
    text: str = Field("", description="At most 4000 characters; trimmed.")
    clientId: str | None = Field(None, description="Your own id for this message (idempotency).")
    replyTo: str | None = Field(None, description="The id of the message of the same chat this one answers.")


class EditMessageIn(BaseModel):
    text: str = Field(description="The new text: at most 4000 characters; trimmed.")


class MessageChanged(BaseModel):
    message: MessageOut


# --- events ---------------------------------------------------------------------------------------------


class NewChatEvent(BaseModel):
    chatId: str


class ChatUpdatedEvent(BaseModel):
    chatId: str
    name: str | None
    users: list[str]
    admins: list[str]


class RemovedFromChatEvent(BaseModel):
    chatId: str


class MessagesSeenEvent(BaseModel):
    chatId: str
    seenBy: str
    messageIds: list[str]


class ErrorOut(BaseModel):
    message: str
    code: str
