"""The chat service's FastAPI dependencies, declared once as ``Annotated`` aliases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request

from parley.chat.documents import MediaLinks
from parley.chat.service import NO_LIMITS, ChatService
from parley.chat.uow import UnitOfWork, unit_of_work
from parley.chat.users import UserDirectory
from parley.core.deps import CurrentIdentity
from parley.core.media.storage import MediaStorage


def chat_service(state: Any, uow: UnitOfWork) -> ChatService:
    """The one way to build a :class:`ChatService`: for a unit of work, from the app's state."""
    return ChatService(
        uow=uow,
        users=state.users,
        links=state.media_links,
        storage=state.storage,
        writer=state.writer,
        limits=getattr(state, "usage_limits", NO_LIMITS),
        edit_window=state.settings.limits.edit_window_seconds if hasattr(state, "settings") else 3600,
        blocks=getattr(state, "blocks", None),
    )


async def get_unit_of_work(request: Request) -> AsyncIterator[UnitOfWork]:
    """The request's transaction; committed (and its events emitted) before the response is sent."""
    state = request.app.state
    async with unit_of_work(state.db, state.events) as uow:
        yield uow


async def get_users(request: Request) -> UserDirectory:
    users: UserDirectory = request.app.state.users
    return users


async def get_links(request: Request) -> MediaLinks:
    links: MediaLinks = request.app.state.media_links
    return links


async def get_storage(request: Request) -> MediaStorage:
    storage: MediaStorage = request.app.state.storage
    return storage


UnitOfWorkDep = Annotated[UnitOfWork, Depends(get_unit_of_work, scope="function")]
Users = Annotated[UserDirectory, Depends(get_users)]
Links = Annotated[MediaLinks, Depends(get_links)]
Storage = Annotated[MediaStorage, Depends(get_storage)]
CurrentUser = CurrentIdentity


async def get_chat_service(request: Request, uow: UnitOfWorkDep) -> ChatService:
    return chat_service(request.app.state, uow)


Chats = Annotated[ChatService, Depends(get_chat_service)]
