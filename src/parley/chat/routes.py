"""The chat API under ``/api/v1`` (tags ``chat`` and ``message``) and the image links (``/media``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Query, Request, Response, UploadFile

from parley.chat.deps import Chats, CurrentUser, Links, Storage
from parley.chat.directory import ChatDirectory
from parley.chat.schemas import (
    AddMembersIn,
    ChatCreated,
    ChatExists,
    ChatList,
    ChatUpdated,
    ChatView,
    Done,
    ErrorOut,
    History,
    MessageSent,
    NewChatIn,
    NewGroupIn,
    RenameIn,
)
from parley.chat.service import DEFAULT_PAGE, MAX_PAGE, fetch_media


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorOut} for status in statuses}


router = APIRouter(prefix="/api/v1", responses=_errors(401, 422))
media_router = APIRouter(tags=["media"])

ChatId = Annotated[str, Path(description="The chat's id.")]


@router.post(
    "/chat/new",
    tags=["chat"],
    status_code=201,
    response_model=ChatCreated | ChatExists,
    summary="Start a 1:1 chat, or find the one that exists",
    responses={
        200: {"model": ChatExists, "description": "The chat already exists"},
        **_errors(400, 404, 503),
    },
)
async def start_chat(
    me: CurrentUser, chats: Chats, body: NewChatIn, response: Response
) -> ChatCreated | ChatExists:
    chat_id, created = await chats.start_direct_chat(me, body.otherUserId)
    if created:
        return ChatCreated(message="Chat created", chatId=chat_id)
    response.status_code = 200
    return ChatExists(message="Chat already exists", chatId=chat_id, chat=chat_id)


@router.post(
    "/chat/group",
    tags=["chat"],
    status_code=201,
    summary="Create a group with you as its admin",
    responses=_errors(400, 404, 503),
)
async def create_group(me: CurrentUser, chats: Chats, body: NewGroupIn) -> ChatCreated:
    chat_id = await chats.create_group(me, body.name, body.userIds)
    return ChatCreated(message="Group created", chatId=chat_id)


@router.get("/chat/all", tags=["chat"], summary="Your chats, latest activity first")
async def list_chats(me: CurrentUser, chats: Chats) -> ChatList:
    return await chats.list_chats(me)


@router.get(
    "/chat/contacts",
    tags=["chat"],
    summary="The ids of everyone who shares a chat with you",
    description="Asked by the user service to decide whose email address the caller may see.",
)
async def list_contacts(me: CurrentUser, request: Request) -> dict[str, list[str]]:
    directory: ChatDirectory = request.app.state.directory
    return {"users": await directory.contacts(me.id)}


@router.get(
    "/chat/{chatId}",
    tags=["chat"],
    summary="A chat with its admins and members",
    responses=_errors(403, 404),
)
async def get_chat(me: CurrentUser, chats: Chats, chatId: ChatId) -> ChatView:
    return await chats.view_chat(me, chatId)


@router.post(
    "/chat/{chatId}/rename",
    tags=["chat"],
    summary="Rename a group (any member)",
    responses=_errors(400, 403, 404),
)
async def rename_group(me: CurrentUser, chats: Chats, chatId: ChatId, body: RenameIn) -> ChatUpdated:
    return await chats.rename_group(me, chatId, body.name)


@router.post(
    "/chat/{chatId}/members",
    tags=["chat"],
    summary="Add people to a group (any member)",
    responses=_errors(400, 403, 404, 503),
)
async def add_members(me: CurrentUser, chats: Chats, chatId: ChatId, body: AddMembersIn) -> ChatUpdated:
    return await chats.add_members(me, chatId, body.userIds)


@router.delete(
    "/chat/{chatId}/members/{userId}",
    tags=["chat"],
    summary="Remove someone from a group (admins only)",
    responses=_errors(400, 403, 404),
)
async def remove_member(
    me: CurrentUser,
    chats: Chats,
    chatId: ChatId,
    userId: Annotated[str, Path(description="The member's user id.")],
) -> ChatUpdated:
    return await chats.remove_member(me, chatId, userId)


@router.post(
    "/chat/{chatId}/leave",
    tags=["chat"],
    summary="Leave a group; if the last admin leaves, the longest-standing member becomes admin",
    responses=_errors(400, 403, 404),
)
async def leave_group(me: CurrentUser, chats: Chats, chatId: ChatId) -> Done:
    return await chats.leave_group(me, chatId)


@router.post(
    "/message",
    tags=["message"],
    status_code=201,
    summary="Send a message: text, an image (JPEG, PNG, GIF or WebP up to 5 MB), or both",
    description=(
        "The sender is always the caller. Sending the same `clientId` again returns the message "
        "stored the first time (with status 200) instead of storing it twice."
    ),
    responses={
        200: {"model": MessageSent, "description": "A repeated clientId: the message stored before"},
        **_errors(400, 403, 404, 409, 413, 415),
    },
)
async def send_message(
    me: CurrentUser,
    chats: Chats,
    response: Response,
    chatId: Annotated[str, Form(description="The chat's id.")],
    text: Annotated[str, Form(description="At most 4000 characters; trimmed.")] = "",
    image: Annotated[UploadFile | None, File(description="JPEG, PNG, GIF or WebP, at most 5 MB.")] = None,
    clientId: Annotated[str | None, Form(description="Your own id for this message (idempotency).")] = None,
) -> MessageSent:
    data = await image.read() if image is not None else None
    message, created = await chats.send_message(me, chatId, text, data or None, clientId)
    if not created:
        response.status_code = 200
    return MessageSent(message=message, sender=me.id)


@router.get(
    "/message/{chatId}",
    tags=["message"],
    summary="A page of a chat's messages, oldest first; marks them read",
    description=(
        "Without `before`, the newest messages; with it, the ones just before that message. "
        "Fetching marks the other members' messages as seen."
    ),
    responses=_errors(400, 403, 404),
)
async def get_messages(
    me: CurrentUser,
    chats: Chats,
    chatId: ChatId,
    before: Annotated[str | None, Query(description="A message id: return the messages before it.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
) -> History:
    return await chats.history(me, chatId, before, limit)


@media_router.get(
    "/media/{key}",
    summary="An image, through the signed link a message carries",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}, "image/png": {}, "image/gif": {}, "image/webp": {}}},
        **_errors(403, 404),
    },
)
async def get_media(
    links: Links,
    storage: Storage,
    key: Annotated[str, Path(description="The image's storage key.")],
    exp: Annotated[str | None, Query(description="When the link expires (Unix time).")] = None,
    sig: Annotated[str | None, Query(description="The link's signature.")] = None,
) -> Response:
    found, max_age = await fetch_media(links, storage, key, exp, sig)
    return Response(
        found.data,
        media_type=found.content_type,
        headers={"Cache-Control": f"private, max-age={max_age}", "X-Content-Type-Options": "nosniff"},
    )
