"""The chat API under ``/api/v1`` (tags ``chat`` and ``message``) and the image links (``/media``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile as StarletteUploadFile

from parley.chat import export, search
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
    EditMessageIn,
    ErrorOut,
    History,
    MessageChanged,
    MessageSent,
    Muted,
    MuteIn,
    NewChatIn,
    NewGroupIn,
    RenameIn,
    SearchResults,
    SendMessageIn,
)
from parley.chat.service import DEFAULT_PAGE, MAX_PAGE, fetch_media


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorOut} for status in statuses}


router = APIRouter(prefix="/api/v1", responses=_errors(401, 422))
media_router = APIRouter(tags=["media"])

ChatId = Annotated[str, Path(description="The chat's id.")]
NEXT_CURSOR_HEADER = "X-Next-Cursor"


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


@router.get(
    "/chat/all",
    tags=["chat"],
    summary="Your chats, latest activity first",
    description=(
        "A page of `limit` chats. When there are more, the "
        f"`{NEXT_CURSOR_HEADER}` header carries the cursor of the next page."
    ),
    responses={
        200: {
            "headers": {
                NEXT_CURSOR_HEADER: {"description": "The next page's cursor", "schema": {"type": "string"}}
            }
        },
        **_errors(400),
    },
)
async def list_chats(
    me: CurrentUser,
    chats: Chats,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    cursor: Annotated[str | None, Query(max_length=200, description="From `X-Next-Cursor`.")] = None,
) -> ChatList:
    page, next_cursor = await chats.list_chats(me, limit=limit, cursor=cursor)
    if next_cursor:
        response.headers[NEXT_CURSOR_HEADER] = next_cursor
    return page


@router.get(
    "/chat/contacts",
    tags=["chat"],
    summary="The ids of the people whose email address you may see",
    description=(
        "Everyone who shares a chat with you in which they took part: they started it or sent "
        "something in it. Asked by the user service to decide whose email address the caller may see."
    ),
)
async def list_contacts(me: CurrentUser, request: Request) -> dict[str, list[str]]:
    directory: ChatDirectory = request.app.state.directory
    return {"users": await directory.address_contacts(me.id)}


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
    summary="Add people to a group (admins only)",
    description="Newcomers can read the group's history from before they joined; none of it counts as unread.",
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
    "/chat/{chatId}/mute",
    tags=["chat"],
    summary="Mute a chat for yourself until a time, or unmute it",
    description=(
        "`until` is a time in the future (mute for good with a far-future time such as "
        "`9999-12-31T23:59:59Z`) or null to unmute. `/chat/all` shows it as `mutedUntil`."
    ),
    responses=_errors(400, 403, 404),
)
async def mute_chat(me: CurrentUser, chats: Chats, chatId: ChatId, body: MuteIn) -> Muted:
    return await chats.mute(me, chatId, body.until)


@router.get(
    "/chat/{chatId}/export",
    tags=["chat"],
    summary="Download the whole conversation as JSON or as a self-contained HTML page",
    description=(
        "JSON `{chat, members, messages}` (messages oldest first) or an HTML page without scripts, "
        "images as links. A few exports a minute per user (429 with `Retry-After` beyond)."
    ),
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/json": {}, "text/html": {}}},
        **_errors(400, 403, 404, 429),
    },
)
async def export_chat(
    me: CurrentUser,
    chats: Chats,
    request: Request,
    chatId: ChatId,
    format: Annotated[export.Format, Query(description="`json` (the default) or `html`.")] = "json",
) -> StreamingResponse:
    prepared = await chats.prepare_export(me, chatId)
    state = request.app.state
    headers = {
        "Content-Disposition": f'attachment; filename="{export.filename(prepared, format)}"',
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    if format == "html":
        headers["Content-Security-Policy"] = export.CONTENT_SECURITY_POLICY
        body = export.as_html(prepared, state.db, state.media_links)
        return StreamingResponse(body, media_type="text/html; charset=utf-8", headers=headers)
    body = export.as_json(prepared, state.db, state.media_links)
    return StreamingResponse(body, media_type="application/json", headers=headers)


@router.get(
    "/search",
    tags=["message"],
    summary="Search the messages of your chats",
    description=(
        "Case- and accent-insensitive; finds parts of words; a word of five or more letters also "
        "finds words one wrong, missing or extra letter away. Best match first, then newest. "
        "Only chats you are a member of now; never deleted or system messages. Looks at the "
        f"{search.MAX_CANDIDATES} newest messages that may match. When there are more results, the "
        f"`{NEXT_CURSOR_HEADER}` header carries the cursor of the next page."
    ),
    responses={
        200: {
            "headers": {
                NEXT_CURSOR_HEADER: {"description": "The next page's cursor", "schema": {"type": "string"}}
            }
        },
        **_errors(400, 403, 404),
    },
)
async def search_messages(
    me: CurrentUser,
    chats: Chats,
    response: Response,
    q: Annotated[str, Query(description="1–200 characters.")],
    chatId: Annotated[str | None, Query(description="Only this chat.")] = None,
    limit: Annotated[int, Query(ge=1, le=search.MAX_LIMIT)] = search.DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=200, description="From `X-Next-Cursor`.")] = None,
) -> SearchResults:
    results, next_cursor = await chats.search(me, q, chat_id=chatId or None, limit=limit, cursor=cursor)
    if next_cursor:
        response.headers[NEXT_CURSOR_HEADER] = next_cursor
    return results


_MESSAGE_FORM = {
    "type": "object",
    "required": ["chatId"],
    "properties": {
        "chatId": {"type": "string", "description": "The chat's id."},
        "text": {"type": "string", "description": "At most 4000 characters; trimmed."},
        "image": {
            "type": "string",
            "format": "binary",
            "description": "JPEG, PNG, GIF or WebP, at most 5 MB.",
        },
        "clientId": {"type": "string", "description": "Your own id for this message (idempotency)."},
        "replyTo": {
            "type": "string",
            "description": "The id of the message of the same chat this one answers (else 400).",
        },
    },
}


@router.post(
    "/message",
    tags=["message"],
    status_code=201,
    summary="Send a message: text (JSON or a form), an image (JPEG, PNG, GIF or WebP up to 5 MB), or both",
    description=(
        "The sender is always the caller. A text message may come as JSON `{chatId, text, clientId?, replyTo?}` or "
        "as a multipart form; an image needs the form. Sending the same `clientId` again returns the "
        "message stored the first time (with status 200) instead of storing it twice. When the service "
        "has more messages waiting than it can store in time it answers 503 with `Retry-After`."
    ),
    responses={
        200: {"model": MessageSent, "description": "A repeated clientId: the message stored before"},
        **_errors(400, 403, 404, 409, 413, 415, 503),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": SendMessageIn.model_json_schema()},
                "multipart/form-data": {"schema": _MESSAGE_FORM},
            },
        }
    },
)
async def send_message(me: CurrentUser, chats: Chats, request: Request, response: Response) -> MessageSent:
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type == "application/json":
        body = _validated(await request.body())
        data = None
    else:
        async with request.form() as form:
            fields = {
                name: value
                for name in ("chatId", "text", "clientId", "replyTo")
                if isinstance(value := form.get(name), str) and value != ""
            }
            body = _validated(fields)
            image = form.get("image")
            if isinstance(image, str) and image != "":
                raise RequestValidationError(
                    [
                        {
                            "type": "value_error",
                            "loc": ("body", "image"),
                            "msg": "must be a file",
                            "input": None,
                        }
                    ]
                )
            data = await image.read() if isinstance(image, StarletteUploadFile) else None
    message, created = await chats.send_message(
        me, body.chatId, body.text, data or None, body.clientId, body.replyTo
    )
    if not created:
        response.status_code = 200
    return MessageSent(message=message, sender=me.id)


def _validated(raw: bytes | dict[str, str]) -> SendMessageIn:
    try:
        if isinstance(raw, bytes):
            return SendMessageIn.model_validate_json(raw)
        return SendMessageIn.model_validate(raw)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e.get("loc", ()))} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None


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


MessageId = Annotated[str, Path(description="The message's id.")]


@router.patch(
    "/message/{messageId}",
    tags=["message"],
    summary="Edit your message's text (or an image's caption) within the edit window",
    description=(
        "Only the sender, only within `EDIT_WINDOW_SECONDS` of sending (else 403); sets `editedAt`. "
        "A deleted or system message cannot be edited. Every member gets `messageUpdated`."
    ),
    responses=_errors(400, 403, 404),
)
async def edit_message(
    me: CurrentUser, chats: Chats, messageId: MessageId, body: EditMessageIn
) -> MessageChanged:
    return MessageChanged(message=await chats.edit_message(me, messageId, body.text))


@router.delete(
    "/message/{messageId}",
    tags=["message"],
    summary="Delete a message for everyone, leaving a tombstone",
    description=(
        "The sender at any time, a group admin any message of the group, anyone else 403. The answer "
        "is the tombstone (`deleted: true`, text empty, no image, reply or reactions); the image "
        "file leaves the storage, so its links stop working. Every member gets `messageUpdated`."
    ),
    responses=_errors(403, 404),
)
async def delete_message(me: CurrentUser, chats: Chats, messageId: MessageId) -> MessageChanged:
    return MessageChanged(message=await chats.delete_message(me, messageId))


Emoji = Annotated[str, Path(description="One emoji, URL-encoded.")]


@router.put(
    "/message/{messageId}/reactions/{emoji}",
    tags=["message"],
    summary="React to a message with one emoji",
    description="Idempotent. At most 20 different emoji per message (else 400); anything but one emoji: 400.",
    responses=_errors(400, 403, 404),
)
async def add_reaction(me: CurrentUser, chats: Chats, messageId: MessageId, emoji: Emoji) -> MessageChanged:
    return MessageChanged(message=await chats.react(me, messageId, emoji, add=True))


@router.delete(
    "/message/{messageId}/reactions/{emoji}",
    tags=["message"],
    summary="Take your reaction back",
    responses=_errors(400, 403, 404),
)
async def remove_reaction(
    me: CurrentUser, chats: Chats, messageId: MessageId, emoji: Emoji
) -> MessageChanged:
    return MessageChanged(message=await chats.react(me, messageId, emoji, add=False))


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
