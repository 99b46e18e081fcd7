"""The user service's HTTP API (``/api/v1``): parse, call one service function, answer."""

from __future__ import annotations

import html
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, File, Path, Query, Request, Response, UploadFile
from fastapi.responses import HTMLResponse

from parley.core.auth import Identity
from parley.core.ids import is_id
from parley.user import service
from parley.user.avatars import IMMUTABLE_CACHE, REVALIDATE_CACHE, AvatarSize
from parley.user.contacts import ChatContacts
from parley.user.cookies import clear_session_cookies, set_session_cookies
from parley.user.deps import (
    AvatarsDep,
    ClientIP,
    ContactsDep,
    CurrentUser,
    LoginDep,
    PublicUrl,
    SessionDep,
    TokensDep,
    UserAgent,
)
from parley.user.schemas import (
    AuthResponse,
    BatchRequest,
    BlockRelations,
    BlockRelationsRequest,
    ErrorResponse,
    LoginRequest,
    LoginResponse,
    MessageResponse,
    ProfileChanged,
    ProfileDocument,
    SessionDocument,
    SettingsDocument,
    SettingsPatch,
    UpdateUserRequest,
    UserDocument,
    UsersResponse,
    VerifyRequest,
)
from parley.user.store import User
from parley.user.unsubscribe import UnsubscribeLinks

NEXT_CURSOR_HEADER = "X-Next-Cursor"


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorResponse} for status in statuses}


auth = APIRouter(prefix="/api/v1", tags=["auth"])
users = APIRouter(prefix="/api/v1", tags=["user"])
wellknown = APIRouter(tags=["auth"])


@auth.post(
    "/login",
    summary="Email a one-time login code",
    description=(
        "Sends a 6-digit code to the address; it works once, for `expiresIn` seconds. "
        "The same address may ask again after `resendIn` seconds (429 with `Retry-After` until then)."
    ),
    responses=errors(400, 429, 503),
)
async def login(body: LoginRequest, login: LoginDep, ip: ClientIP) -> LoginResponse:
    await login.request_code(body.email, ip)
    return LoginResponse(
        message="OTP sent to your email", expiresIn=login.otps.ttl, resendIn=login.otps.resend_seconds
    )


@auth.post(
    "/verify",
    summary="Exchange the emailed code for a token",
    description=(
        "Creates the user on their first login (named after the part of the address before `@`). "
        "The token is in the answer (for API clients) and in the browser's `parley_session` cookie "
        "(HttpOnly), with a `parley_csrf` cookie whose value cookie-authenticated writes repeat in "
        "the `X-CSRF-Token` header."
    ),
    responses=errors(400, 429, 503),
    response_model_exclude_none=True,
)
async def verify(
    body: VerifyRequest,
    login: LoginDep,
    session: SessionDep,
    ip: ClientIP,
    request: Request,
    response: Response,
    public_url: PublicUrl,
    agent: UserAgent,
) -> AuthResponse:
    user, token = await login.verify(session, body.email, body.otp, ip, agent)
    set_session_cookies(response, request, token, max_age=login.tokens.ttl, public_url=public_url)
    return AuthResponse(message="Login successful", user=UserDocument.of(user), token=token)


@auth.post(
    "/logout",
    summary="Log out: this session's tokens are refused from now on, by every service",
    responses=errors(401, 403),
)
async def logout(
    identity: CurrentUser,
    session: SessionDep,
    tokens: TokensDep,
    request: Request,
    response: Response,
    public_url: PublicUrl,
) -> MessageResponse:
    await service.logout(session, tokens, identity)
    clear_session_cookies(response, request, public_url=public_url)
    return MessageResponse(message="Logged out")


@auth.post(
    "/logout/all",
    summary="Log out everywhere: every token of the caller is refused from now on",
    responses=errors(401, 403),
)
async def logout_all(
    identity: CurrentUser,
    session: SessionDep,
    tokens: TokensDep,
    request: Request,
    response: Response,
    public_url: PublicUrl,
) -> MessageResponse:
    await service.logout_everywhere(session, tokens, identity)
    clear_session_cookies(response, request, public_url=public_url)
    return MessageResponse(message="Logged out everywhere")


@auth.get(
    "/sessions",
    summary="The caller's signed-in sessions",
    description="One per login, most recently used first; `current` marks the one making this request.",
    responses=errors(401),
)
async def list_sessions(identity: CurrentUser, session: SessionDep) -> list[SessionDocument]:
    rows = await service.list_sessions(session, identity)
    return [SessionDocument.of(row, identity.session) for row in rows]


@auth.delete(
    "/sessions/{session_id}",
    summary="Sign one of the caller's sessions out",
    description="Its tokens are refused from then on, by every service. Another user's session: 404.",
    responses=errors(401, 403, 404),
)
async def end_session(
    session_id: str, identity: CurrentUser, session: SessionDep, tokens: TokensDep
) -> MessageResponse:
    await service.end_session(session, tokens, identity, session_id)
    return MessageResponse(message="Session signed out")


@users.get("/me", summary="The caller's own profile", responses=errors(401), response_model_exclude_none=True)
async def me(identity: CurrentUser, session: SessionDep) -> UserDocument:
    return UserDocument.of(await service.current_user(session, identity))


@users.get("/me/settings", summary="The caller's settings", responses=errors(401))
async def get_settings(identity: CurrentUser, session: SessionDep) -> SettingsDocument:
    return SettingsDocument.of(await service.current_user(session, identity))


@users.patch(
    "/me/settings",
    summary="Change the caller's settings",
    description="Only the settings in the body change; an empty body changes nothing.",
    responses=errors(401, 422),
)
async def update_settings(
    body: SettingsPatch, identity: CurrentUser, session: SessionDep
) -> SettingsDocument:
    user = await service.update_settings(
        session, identity, email_notifications=body.email_notifications, read_receipts=body.read_receipts
    )
    return SettingsDocument.of(user)


@users.post(
    "/update/user",
    summary="Change the caller's name",
    description="Answers with a fresh token that carries the new name (also as the session cookie).",
    responses=errors(400, 401, 403),
    response_model_exclude_none=True,
)
async def update_user(
    body: UpdateUserRequest,
    identity: CurrentUser,
    session: SessionDep,
    tokens: TokensDep,
    request: Request,
    response: Response,
    public_url: PublicUrl,
) -> AuthResponse:
    user, token = await service.rename(session, tokens, identity, body.name)
    set_session_cookies(response, request, token, max_age=tokens.ttl, public_url=public_url)
    return AuthResponse(message="User updated", user=UserDocument.of(user), token=token)


@users.post(
    "/user/avatar",
    summary="Set the caller's avatar from a picture (JPEG, PNG, GIF or WebP up to 5 MB)",
    description=(
        "The picture is checked by its content, cut to a centred square and stored in two sizes "
        "(about 256 and 64 pixels) as new files without any of its metadata (EXIF, GPS …); an "
        "animation keeps its first frame. The user then carries `avatar: {url, thumbUrl}`; a new "
        "upload replaces the previous avatar and its files. A few uploads an hour per user "
        "(429 with `Retry-After` beyond)."
    ),
    responses=errors(400, 401, 403, 413, 415, 422, 429, 503),
    response_model_exclude_none=True,
)
async def upload_avatar(
    image: Annotated[UploadFile, File(description="JPEG, PNG, GIF or WebP, at most 5 MB")],
    identity: CurrentUser,
    session: SessionDep,
    avatars: AvatarsDep,
    background: BackgroundTasks,
) -> ProfileChanged:
    user, previous = await avatars.upload(session, identity, await image.read())
    # After the answer, so after the commit: until then the row still names the old files.
    background.add_task(avatars.discard, previous)
    return ProfileChanged(message="Avatar updated", user=UserDocument.of(user))


@users.delete(
    "/user/avatar",
    summary="Remove the caller's avatar",
    description="Its files are deleted and its URLs answer 404. Without an avatar nothing changes.",
    responses=errors(401, 403),
    response_model_exclude_none=True,
)
async def remove_avatar(
    identity: CurrentUser, session: SessionDep, avatars: AvatarsDep, background: BackgroundTasks
) -> ProfileChanged:
    user, previous = await avatars.remove(session, identity)
    background.add_task(avatars.discard, previous)
    return ProfileChanged(message="Avatar removed", user=UserDocument.of(user))


@users.get(
    "/user/avatar/{user_id}/{size}",
    summary="A user's avatar picture (WebP), for any signed-in caller",
    description=(
        "The URLs are in the user's `avatar`. Their `v` names the avatar: while it is the current "
        "one the answer may be cached for good (a new avatar has a new URL); an older `v` gets the "
        "current picture, uncached. No avatar: 404."
    ),
    response_class=Response,
    responses={200: {"content": {"image/webp": {}}}, **errors(401, 404, 422)},
)
async def get_avatar(
    user_id: str,
    size: Annotated[AvatarSize, Path(description="256 or 64 (pixels)")],
    identity: CurrentUser,
    session: SessionDep,
    avatars: AvatarsDep,
    v: Annotated[str | None, Query(max_length=64, description="The avatar's version, from its URL")] = None,
) -> Response:
    avatar = await avatars.file(session, user_id, size, v)
    return Response(
        avatar.found.data,
        media_type=avatar.found.content_type,
        headers={
            "Cache-Control": IMMUTABLE_CACHE if avatar.current else REVALIDATE_CACHE,
            "X-Content-Type-Options": "nosniff",
        },
    )


# A paged list of users: the next page's cursor in a header, addresses only where they may be seen.
PAGED_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "headers": {
            NEXT_CURSOR_HEADER: {"description": "The next page's cursor", "schema": {"type": "string"}}
        }
    },
    **errors(400, 401),
}


async def _user_page(
    response: Response,
    contacts: ChatContacts,
    identity: Identity,
    found: list[User],
    next_cursor: str | None,
    query: str | None = None,
) -> list[UserDocument]:
    if next_cursor:
        response.headers[NEXT_CURSOR_HEADER] = next_cursor
    shown = await service.emails_shown(contacts, identity, found, query)
    return [UserDocument.of(user, show_email=user.id in shown) for user in found]


@users.get(
    "/user/all",
    summary="Find people to chat with",
    description=(
        "Users whose name contains `q` (case-insensitive) or whose email is `q`, ordered by name. "
        "The caller is never in the list: it is for finding someone else. A user's `email` is "
        "present only when the caller shares a chat in which they took part (started it or sent something) "
        "or `q` is exactly that address. "
        f"When there are more, the `{NEXT_CURSOR_HEADER}` header carries the cursor of the next page."
    ),
    responses=PAGED_RESPONSES,
    response_model_exclude_none=True,
)
async def list_users(
    identity: CurrentUser,
    session: SessionDep,
    contacts: ContactsDep,
    response: Response,
    q: Annotated[str | None, Query(max_length=100, description="Part of a name or email")] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = service.DEFAULT_PAGE,
    cursor: Annotated[str | None, Query(max_length=1000, description="From `X-Next-Cursor`")] = None,
) -> list[UserDocument]:
    found, next_cursor = await service.search(session, identity, query=q, limit=limit, cursor=cursor)
    return await _user_page(response, contacts, identity, found, next_cursor, q)


@users.post(
    "/user/batch",
    summary="Profiles of many users at once",
    description=(
        "Unknown and malformed ids are simply absent from the answer. As everywhere, a user's "
        "`email` is present only for the caller and the people who took part in a chat they share with the caller. "
        "Each profile carries its `readReceipts` setting."
    ),
    responses=errors(401, 422),
    response_model_exclude_none=True,
)
async def batch_users(
    body: BatchRequest, identity: CurrentUser, session: SessionDep, contacts: ContactsDep
) -> UsersResponse:
    found = await service.find_users(session, body.ids)
    shown = await service.emails_shown(contacts, identity, found)
    return UsersResponse(
        users=[ProfileDocument.of_profile(user, show_email=user.id in shown) for user in found]
    )


@users.post(
    "/user/block-relations",
    summary="Who blocked whom, between the caller and each of some users",
    description=(
        "For services acting for the caller (the chat service enforces blocks with it). "
        "Unknown and malformed ids are in neither list."
    ),
    responses=errors(401, 422),
)
async def block_relations(
    body: BlockRelationsRequest, identity: CurrentUser, session: SessionDep
) -> BlockRelations:
    blocking, blocked_by = await service.block_relations(session, identity, body.ids)
    return BlockRelations(blocking=blocking, blocked_by=blocked_by)


@users.get(
    "/user/blocked",
    summary="The people the caller has blocked",
    description=f"Ordered by name. When there are more, the `{NEXT_CURSOR_HEADER}` header carries the next page's cursor.",
    responses=PAGED_RESPONSES,
    response_model_exclude_none=True,
)
async def list_blocked(
    identity: CurrentUser,
    session: SessionDep,
    contacts: ContactsDep,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = service.DEFAULT_PAGE,
    cursor: Annotated[str | None, Query(max_length=1000, description="From `X-Next-Cursor`")] = None,
) -> list[UserDocument]:
    found, next_cursor = await service.blocked(session, identity, limit=limit, cursor=cursor)
    return await _user_page(response, contacts, identity, found, next_cursor)


@users.post(
    "/user/{user_id}/block",
    summary="Block a user",
    description=(
        "They can no longer start a 1:1 chat with the caller or write in it, and no longer see "
        f"the caller online or typing. Blocking someone already blocked changes nothing; at most "
        f"{service.MAX_BLOCKS} people (409 beyond)."
    ),
    responses=errors(400, 401, 404, 409),
)
async def block_user(
    request: Request, user_id: str, identity: CurrentUser, session: SessionDep
) -> MessageResponse:
    await service.block(session, identity, user_id)
    await service.announce_block_change(session, request.app.state.cache, identity.id, user_id)
    return MessageResponse(message="User blocked")


@users.delete(
    "/user/{user_id}/block",
    summary="Unblock a user",
    description="Unblocking someone who is not blocked changes nothing.",
    responses=errors(401, 404),
)
async def unblock_user(
    request: Request, user_id: str, identity: CurrentUser, session: SessionDep
) -> MessageResponse:
    await service.unblock(session, identity, user_id)
    await service.announce_block_change(session, request.app.state.cache, identity.id, user_id)
    return MessageResponse(message="User unblocked")


_UNSUBSCRIBE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Parley email notifications</title></head>
<body style="font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem">
<h1 style="font-size:1.3rem">{heading}</h1><p>{text}</p>{form}</body></html>"""


def _unsubscribe_page(heading: str, text: str, form: str = "", status: int = 200) -> HTMLResponse:
    return HTMLResponse(_UNSUBSCRIBE_PAGE.format(heading=heading, text=text, form=form), status_code=status)


@users.get(
    "/user/unsubscribe",
    summary="The page an unsubscribe link opens",
    description=(
        "No login. Shows one button that turns email notifications off (a POST to the same link), "
        "so that mail scanners opening links change nothing."
    ),
    response_class=HTMLResponse,
    responses=errors(400),
)
async def unsubscribe_page(request: Request, user: str = "", sig: str = "") -> HTMLResponse:
    links: UnsubscribeLinks = request.app.state.unsubscribe_links
    if not is_id(user) or not links.valid(user, sig):
        return _unsubscribe_page("Link not valid", "This unsubscribe link is not valid.", status=400)
    action = html.escape(links.url(user))
    form = (
        f'<form method="post" action="{action}"><input type="hidden" name="List-Unsubscribe" '
        'value="One-Click"><button type="submit">Stop emails about unread messages</button></form>'
    )
    return _unsubscribe_page(
        "Email notifications", "Parley emails you about messages you have not seen for a while.", form
    )


@users.post(
    "/user/unsubscribe",
    summary="Turn email notifications off through a signed link (RFC 8058 one-click)",
    description=(
        "No login: the link's `user` and `sig` are the credential, good for that one user only. "
        "Using it again changes nothing. A forged or altered link: 400 `invalid_unsubscribe_link`."
    ),
    responses=errors(400),
)
async def unsubscribe(
    request: Request, session: SessionDep, user: str = "", sig: str = ""
) -> MessageResponse:
    await service.unsubscribe(session, request.app.state.unsubscribe_links, user, sig)
    return MessageResponse(message="Email notifications are off")


@users.get(
    "/user/{user_id}",
    summary="One user's profile",
    description="`email` is present only when the caller shares a chat in which they took part.",
    responses=errors(401, 404),
    response_model_exclude_none=True,
)
async def get_user(
    user_id: str, identity: CurrentUser, session: SessionDep, contacts: ContactsDep
) -> UserDocument:
    user = await service.find_user(session, user_id)
    shown = await service.emails_shown(contacts, identity, [user])
    return UserDocument.of(user, show_email=user.id in shown)


@wellknown.get("/.well-known/jwks.json", summary="The public keys that verify tokens")
async def jwks(tokens: TokensDep) -> dict[str, Any]:
    return tokens.jwks()


routers = (auth, users, wellknown)
