"""The user service's dependencies, declared once as ``Annotated`` aliases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from parley.core.auth import Identity, Tokens
from parley.core.database import Database
from parley.core.deps import client_ip, current_identity, get_tokens
from parley.core.settings import Settings
from parley.user.avatars import Avatars
from parley.user.contacts import ChatContacts
from parley.user.service import Login, SessionTouches


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work; it commits before the answer is sent."""
    db: Database = request.app.state.db
    async with db.session() as session:
        yield session


async def get_public_url(request: Request) -> str:
    settings: Settings = request.app.state.settings
    return settings.app.public_url


async def get_login(request: Request) -> Login:
    login: Login = request.app.state.login
    return login


# scope="function": the session closes (and commits) when the route returns, before the response.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def current_user(
    request: Request,
    identity: Annotated[Identity, Depends(current_identity)],
    session: Annotated[AsyncSession, Depends(get_session, scope="function")],
) -> Identity:
    """The caller (see :func:`parley.core.deps.current_identity`); their session's use is recorded."""
    touches: SessionTouches = request.app.state.session_touches
    await touches.touch(session, identity)
    return identity


async def get_contacts(request: Request) -> ChatContacts:
    contacts: ChatContacts = request.app.state.contacts
    return contacts


async def get_avatars(request: Request) -> Avatars:
    avatars: Avatars = request.app.state.avatars
    return avatars


async def user_agent(request: Request) -> str:
    return request.headers.get("user-agent", "")


CurrentUser = Annotated[Identity, Depends(current_user)]
UserAgent = Annotated[str, Depends(user_agent)]
ContactsDep = Annotated[ChatContacts, Depends(get_contacts)]
AvatarsDep = Annotated[Avatars, Depends(get_avatars)]
TokensDep = Annotated[Tokens, Depends(get_tokens)]
LoginDep = Annotated[Login, Depends(get_login)]
ClientIP = Annotated[str, Depends(client_ip)]
PublicUrl = Annotated[str, Depends(get_public_url)]
