"""What the real-time layer asks the chat service: memberships, contacts, and "I have it open"."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from parley.chat import store
from parley.chat.events import EventSink
from parley.chat.schemas import SendMessageIn
from parley.chat.service import ChatService
from parley.chat.uow import UnitOfWork, unit_of_work
from parley.chat.users import UserDirectory
from parley.core.auth import Identity
from parley.core.database import Database
from parley.core.errors import AppError
from parley.core.ids import is_id


class ChatDirectory:
    """Answers membership questions from the store; marks chats read for open sockets.

    ``service`` builds a :class:`ChatService` for a unit of work; ``sink`` returns the current
    event sink (read at call time, so a sink installed later is used).
    """

    def __init__(
        self,
        db: Database,
        sink: Callable[[], EventSink],
        service: Callable[[UnitOfWork], ChatService],
        users: UserDirectory | None = None,
    ) -> None:
        self.db = db
        self.sink = sink
        self.service = service
        self.users = users

    async def blocks_of(self, identity: Identity, user_ids: list[str]) -> tuple[set[str], set[str]]:
        if self.users is None or not user_ids:
            return set(), set()
        found = await self.users.block_relations(user_ids, identity.token)
        return set(found.blocking), set(found.blocked_by)

    async def is_member(self, chat_id: str, user_id: str) -> bool:
        if not is_id(chat_id):
            return False
        async with self.db.session() as session:
            found = await store.load_membership(session, chat_id, user_id)
        return found is not None and found[1] is not None

    async def contacts(self, user_id: str) -> list[str]:
        async with self.db.session() as session:
            return await store.contacts_of(session, user_id)

    async def address_contacts(self, user_id: str) -> list[str]:
        """Whose email address ``user_id`` may see (see :func:`store.address_contacts_of`)."""
        async with self.db.session() as session:
            return await store.address_contacts_of(session, user_id)

    async def chat_members(self, chat_id: str) -> list[str]:
        if not is_id(chat_id):
            return []
        async with self.db.session() as session:
            return await store.member_ids(session, chat_id)

    async def mark_seen_on_join(self, chat_id: str, user_id: str, token: str | None = None) -> None:
        """The user opened the chat: everything in it is read (``messagesSeen`` goes to the senders)."""
        async with unit_of_work(self.db, self.sink()) as uow:
            await self.service(uow).mark_all_read(user_id, chat_id, token)

    async def send_message(self, identity: Identity, payload: Any) -> dict[str, Any]:
        """A text message sent over a socket: the same service call as ``POST /message``."""
        try:
            body = SendMessageIn.model_validate(payload)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            raise AppError(
                f"{where}: {first.get('msg')}" if where else "Invalid message", status=422, code="invalid"
            ) from None
        async with unit_of_work(self.db, self.sink()) as uow:
            message, _ = await self.service(uow).send_message(
                identity, body.chatId, body.text, None, body.clientId, body.replyTo
            )
        return message.model_dump(mode="json", by_alias=True)
