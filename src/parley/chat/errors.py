"""The chat service's errors; each maps to its HTTP status through :class:`AppError`."""

from __future__ import annotations

from parley.core.errors import BadRequest, Conflict, Forbidden, NotFound, RateLimited, ServiceUnavailable
from parley.core.media.images import ImagesBusy as ImagesBusy  # raised by the shared image pipeline


class ChatNotFound(NotFound):
    code, message = "chat_not_found", "Chat not found"


class NotAMember(Forbidden):
    code, message = "not_a_member", "You are not a member of this chat"


class NotAnAdmin(Forbidden):
    code, message = "not_an_admin", "Only group admins can do that"


class NotAGroup(BadRequest):
    code, message = "not_a_group", "This is not a group chat"


class UserNotFound(NotFound):
    code, message = "user_not_found", "User not found"


class MemberNotFound(NotFound):
    code, message = "member_not_found", "That user is not a member of this chat"


class InvalidId(BadRequest):
    code, message = "invalid_id", "Invalid id"


class InvalidCursor(BadRequest):
    code, message = "invalid_cursor", "The cursor is not valid"


class InvalidName(BadRequest):
    code, message = "invalid_name", "Invalid name"


class InvalidMessage(BadRequest):
    code, message = "invalid_message", "Invalid message"


class ChatWithYourself(BadRequest):
    code, message = "chat_with_yourself", "You cannot start a chat with yourself"


class GroupTooSmall(BadRequest):
    code, message = "group_too_small", "A group needs at least two other people"


class GroupTooLarge(BadRequest):
    code, message = "group_too_large", "A group can have at most 256 members"


class ClientIdReused(Conflict):
    code, message = "client_id_reused", "This clientId was already used for a message in another chat"


class UserServiceUnavailable(ServiceUnavailable):
    code, message = "user_service_unavailable", "The user service is unavailable, try again shortly"


class TooManyMessages(RateLimited):
    code, message = "too_many_messages", "You are sending messages too fast; wait a moment and try again"


class TooManyChats(RateLimited):
    code, message = "too_many_chats", "You have started too many chats recently; try again later"


class InvalidSearch(BadRequest):
    code, message = "invalid_search", "Invalid search"


class InvalidMute(BadRequest):
    code, message = "invalid_mute", "Invalid mute time"


class TooManyExports(RateLimited):
    code, message = "too_many_exports", "You have exported too many chats recently; try again in a minute"


class MessageNotFound(NotFound):
    code, message = "message_not_found", "Message not found"


class NotTheSender(Forbidden):
    code, message = "not_the_sender", "Only the sender can do that"


class EditWindowPassed(Forbidden):
    code, message = "edit_window_passed", "This message can no longer be edited"


class MessageDeleted(Forbidden):
    code, message = "message_deleted", "This message was deleted"


class SystemMessage(Forbidden):
    code, message = "system_message", "System messages cannot be changed"


class InvalidEmoji(BadRequest):
    code, message = "invalid_emoji", "A reaction is one emoji"


class TooManyReactions(BadRequest):
    code, message = "too_many_reactions", "A message can have at most 20 different reactions"


class Blocked(Forbidden):
    code, message = "blocked", "You cannot message this person"
