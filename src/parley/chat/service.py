"""What the chat service does: chats, groups, messages, read state.

Every function works inside the caller's unit of work and never commits; events it queues leave
after the commit (see :mod:`parley.chat.events`). Access is checked first, through
:meth:`ChatService.access`, for every chat a caller names.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from limits.errors import StorageError
from pydantic import ValidationError
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from parley.chat import store
from parley.chat.blocks import BlockGuard
from parley.chat.documents import MediaLinks, chat_detail, chat_document, message_document
from parley.chat.errors import (
    ChatNotFound,
    ChatWithYourself,
    ClientIdReused,
    GroupTooLarge,
    GroupTooSmall,
    InvalidCursor,
    InvalidId,
    InvalidMessage,
    InvalidName,
    MemberNotFound,
    NotAGroup,
    NotAMember,
    NotAnAdmin,
    TooManyChats,
    TooManyMessages,
)
from parley.chat.events import MESSAGES_SEEN, NEW_CHAT
from parley.chat.media.images import new_media_key, process_upload
from parley.chat.media.storage import MediaStorage, StoredObject
from parley.chat.schemas import (
    ChatList,
    ChatListItem,
    ChatUpdated,
    ChatView,
    Done,
    History,
    MessageOut,
    MessagesSeenEvent,
    NewChatEvent,
    UserOut,
)
from parley.chat.store import Chat, Member, Message
from parley.chat.uow import UnitOfWork
from parley.chat.users import Profile, UserDirectory, sends_read_receipts, unknown_profile
from parley.chat.writer import Draft, MessageWriter
from parley.core import text as text_rules
from parley.core.auth import Identity
from parley.core.errors import NotFound
from parley.core.ids import is_id, new_id
from parley.core.ratelimit import RateLimiter

log = structlog.get_logger(__name__)

MAX_TEXT_LENGTH = 4000
MAX_NAME_LENGTH = 100
MAX_CLIENT_ID_LENGTH = 100
MAX_GROUP_MEMBERS = 256
DEFAULT_PAGE = 50
MAX_PAGE = 100

# --- checking input ---------------------------------------------------------------------------------------


def clean_text(raw: str) -> str:
    """Message text without control characters or surrounding whitespace; at most 4000 characters."""
    try:
        return text_rules.clean_text(raw, max_length=MAX_TEXT_LENGTH)
    except text_rules.TextRefused as exc:
        raise InvalidMessage(str(exc)) from None


def clean_name(raw: str) -> str:
    """A group name: trimmed, 1–100 characters, something visible, nothing hidden (see ``core.text``)."""
    try:
        return text_rules.clean_name(raw, max_length=MAX_NAME_LENGTH, what="a group name")
    except text_rules.TextRefused as exc:
        raise InvalidName(str(exc)) from None


def clean_client_id(client_id: str | None) -> str | None:
    """The sender's own message id (None when not given): 1–100 printable characters."""
    if client_id is None or not client_id.strip():
        return None
    cleaned = client_id.strip()
    if len(cleaned) > MAX_CLIENT_ID_LENGTH or not cleaned.isprintable():
        raise InvalidMessage(f"clientId must be 1–{MAX_CLIENT_ID_LENGTH} printable characters")
    return cleaned


def user_ids(values: list[str], field: str) -> list[str]:
    """Distinct user ids in the order given; :class:`InvalidId` for one that is not an id."""
    for value in values:
        if not is_id(value):
            raise InvalidId(f"{field} contains something that is not a user id")
    return list(dict.fromkeys(values))


def encode_chat_cursor(chat: Chat) -> str:
    """An opaque cursor for the page of chats after ``chat`` (its last activity and id)."""
    key = [chat.last_activity_at.astimezone(UTC).isoformat(), chat.id]
    raw = json.dumps(key, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_chat_cursor(cursor: str) -> tuple[datetime, str]:
    """What a chat-list cursor continues after; :class:`InvalidCursor` for anything we did not make."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw.decode())
        if not isinstance(key, list) or len(key) != 2 or not all(isinstance(k, str) for k in key):
            raise InvalidCursor()
        at = datetime.fromisoformat(key[0])
    except (binascii.Error, ValueError):
        raise InvalidCursor() from None
    if at.tzinfo is None or not is_id(key[1]):
        raise InvalidCursor()
    return at, key[1]


def user_document(profile: Profile) -> UserOut:
    try:
        return UserOut.model_validate(profile)
    except ValidationError:
        return UserOut.model_validate(unknown_profile(str(profile.get("_id", ""))))


# --- per-user limits --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UsageLimits:
    """How many messages a minute and new chats an hour each user may send or start."""

    limiter: RateLimiter | None = None
    messages_per_minute: int = 300
    chats_per_hour: int = 60

    async def count_message(self, user_id: str) -> None:
        """Count one message; :class:`TooManyMessages` past the limit."""
        wait = await self._hit("message", user_id, self.messages_per_minute, 60)
        if wait:
            raise TooManyMessages(retry_after=wait)

    async def count_new_chat(self, user_id: str) -> None:
        """Count one new chat (1:1 or group); :class:`TooManyChats` past the limit."""
        wait = await self._hit("chat", user_id, self.chats_per_hour, 3600)
        if wait:
            raise TooManyChats(retry_after=wait)

    async def _hit(self, name: str, user_id: str, limit: int, seconds: int) -> int:
        if self.limiter is None:
            return 0
        try:
            wait = await self.limiter.hit_within(name, user_id, limit, seconds)
        except (StorageError, RedisError, OSError) as exc:
            # The limits guard against abuse; a cache outage does not stop people from chatting.
            log.warning("chat.ratelimit.unavailable", limit=name, error=type(exc).__name__)
            return 0
        if wait:
            log.info("chat.ratelimit.refused", limit=name, user=user_id)
        return wait


NO_LIMITS = UsageLimits()


# --- the service ------------------------------------------------------------------------------------------


@dataclass
class ChatService:
    """The chat service's operations for one unit of work."""

    uow: UnitOfWork
    users: UserDirectory
    links: MediaLinks
    storage: MediaStorage
    writer: MessageWriter
    limits: UsageLimits = NO_LIMITS
    blocks: BlockGuard | None = None

    @property
    def session(self) -> AsyncSession:
        return self.uow.session

    async def access(self, chat_id: str, user_id: str, *, lock: bool = False) -> tuple[Chat, Member]:
        """The chat and the caller's membership: :class:`ChatNotFound` or :class:`NotAMember` otherwise."""
        if not is_id(chat_id):
            raise ChatNotFound()
        found = await store.load_membership(self.session, chat_id, user_id, lock=lock)
        if found is None:
            raise ChatNotFound()
        chat, member = found
        if member is None:
            raise NotAMember()
        return chat, member

    # --- chats ------------------------------------------------------------------------------------------

    async def start_direct_chat(self, me: Identity, other_id: str) -> tuple[str, bool]:
        """The 1:1 chat between the caller and ``other_id``: its id, and whether it is new."""
        if not is_id(other_id):
            raise InvalidId("otherUserId is not a valid user id")
        if other_id == me.id:
            raise ChatWithYourself()
        existing = await store.find_direct_chat(self.session, me.id, other_id)
        if existing is not None:
            return existing.id, False
        await self.users.require([other_id], me.token)
        if self.blocks is not None:
            await self.blocks.check_new_chat(me, other_id)
        await self.limits.count_new_chat(me.id)
        chat_id = new_id()
        created = await store.insert_direct_chat(
            self.session, chat_id=chat_id, a=me.id, b=other_id, now=store.utcnow()
        )
        if not created:  # someone else created it a moment ago
            existing = await store.find_direct_chat(self.session, me.id, other_id)
            if existing is None:  # pragma: no cover - the unique key just said it exists
                raise ChatNotFound()
            return existing.id, False
        self.uow.emit(NEW_CHAT, NewChatEvent(chatId=chat_id), to_users=[me.id, other_id])
        log.info("chat.created", chat_id=chat_id, group=False)
        return chat_id, True

    async def create_group(self, me: Identity, name: str, member_ids: list[str]) -> str:
        """A new group with the caller as its admin and at least two other people."""
        name = clean_name(name)
        others = [uid for uid in user_ids(member_ids, "userIds") if uid != me.id]
        if len(others) < 2:
            raise GroupTooSmall()
        if len(others) + 1 > MAX_GROUP_MEMBERS:
            raise GroupTooLarge()
        await self.users.require(others, me.token)
        await self.limits.count_new_chat(me.id)
        chat_id = new_id()
        await store.insert_group(
            self.session, chat_id=chat_id, name=name, creator=me.id, others=others, now=store.utcnow()
        )
        self.uow.emit(NEW_CHAT, NewChatEvent(chatId=chat_id), to_users=[me.id, *others])
        log.info("chat.created", chat_id=chat_id, group=True, members=len(others) + 1)
        return chat_id

    async def list_chats(
        self, me: Identity, *, limit: int = DEFAULT_PAGE, cursor: str | None = None
    ) -> tuple[ChatList, str | None]:
        """A page of the caller's chats, latest activity first, in a fixed number of queries.

        Returns the page and the cursor of the next one (None on the last page).
        """
        after = decode_chat_cursor(cursor) if cursor else None  # an empty cursor: the first page
        found = await store.list_chats(self.session, me.id, limit=limit + 1, after=after)
        chats, more = found[:limit], len(found) > limit
        ids = [chat.id for chat in chats]
        members = await store.members_by_chat(self.session, chat_ids=ids) if ids else {}
        unseen = await store.unseen_counts(self.session, me.id, chat_ids=ids) if ids else {}
        others = {chat.id: other for chat in chats if (other := store.other_in_direct(chat, me.id))}
        profiles = await self.users.profiles(others.values(), me.token) if others else {}
        page = ChatList(
            chats=[
                ChatListItem(
                    user=user_document(profiles[others[chat.id]]) if chat.id in others else None,
                    chat=chat_document(chat, members.get(chat.id, []), unseen.get(chat.id, 0)),
                )
                for chat in chats
            ]
        )
        next_cursor = encode_chat_cursor(chats[-1]) if more else None
        return page, next_cursor

    async def view_chat(self, me: Identity, chat_id: str) -> ChatView:
        """The chat with its admins and every member's profile."""
        chat, _ = await self.access(chat_id, me.id)
        return await self._view(me, chat)

    async def _view(self, me: Identity, chat: Chat) -> ChatView:
        members = (await store.members_by_chat(self.session, chat_id=chat.id)).get(chat.id, [])
        unseen = (await store.unseen_counts(self.session, me.id, chat.id)).get(chat.id, 0)
        profiles = await self.users.profiles([m.user_id for m in members], me.token)
        return ChatView(
            chat=chat_detail(chat, members, unseen),
            members=[user_document(profiles[m.user_id]) for m in members],
        )

    # --- groups -----------------------------------------------------------------------------------------

    async def _group(self, me: Identity, chat_id: str) -> tuple[Chat, Member]:
        chat, member = await self.access(chat_id, me.id, lock=True)
        if not chat.is_group:
            raise NotAGroup()
        return chat, member

    async def rename_group(self, me: Identity, chat_id: str, name: str) -> ChatUpdated:
        """Any member may rename a group."""
        name = clean_name(name)
        chat, _ = await self._group(me, chat_id)
        if name == chat.name:  # nothing changes: no write, no event
            return ChatUpdated(message="Group renamed", chat=(await self._view(me, chat)).chat)
        await store.rename_chat(self.session, chat, name, store.utcnow())
        log.info("chat.renamed", chat_id=chat.id, by=me.id)
        return ChatUpdated(message="Group renamed", chat=(await self._view(me, chat)).chat)

    async def add_members(self, me: Identity, chat_id: str, member_ids: list[str]) -> ChatUpdated:
        """Admins add people; those already in the group are left as they are.

        Only admins, so that someone an admin removed cannot be brought back by another member.
        Newcomers can read the group's whole history, as the admin who adds them decides.
        """
        wanted = user_ids(member_ids, "userIds")
        chat, mine = await self._group(me, chat_id)
        if mine.role != store.ROLE_ADMIN:
            raise NotAnAdmin()
        current = set(await store.member_ids(self.session, chat.id))
        new = [uid for uid in wanted if uid not in current]
        if len(current) + len(new) > MAX_GROUP_MEMBERS:
            raise GroupTooLarge()
        if new:
            await self.users.require(new, me.token)
            # Newcomers can read the history, but it does not count as unread for them.
            added = await store.add_members(
                self.session,
                chat.id,
                new,
                role=store.ROLE_MEMBER,
                now=store.utcnow(),
                read_seq=chat.latest_message_seq or 0,
            )
            await store.touch_chat(self.session, chat, store.utcnow())
            self.uow.emit(NEW_CHAT, NewChatEvent(chatId=chat.id), to_users=added)
            log.info("chat.members.added", chat_id=chat.id, by=me.id, count=len(added))
        return ChatUpdated(message="Members added", chat=(await self._view(me, chat)).chat)

    async def remove_member(self, me: Identity, chat_id: str, user_id: str) -> ChatUpdated:
        """Admins may remove anyone else; to leave, members use :meth:`leave_group`."""
        chat, mine = await self._group(me, chat_id)
        if mine.role != store.ROLE_ADMIN:
            raise NotAnAdmin()
        if user_id == me.id:
            raise InvalidId("To leave the group, use leave instead")
        if not is_id(user_id) or user_id not in await store.member_ids(self.session, chat.id):
            raise MemberNotFound()
        now = store.utcnow()
        await store.remove_member(self.session, chat.id, user_id)
        await store.refresh_seen(self.session, chat.id, now)
        await store.touch_chat(self.session, chat, now)
        log.info("chat.members.removed", chat_id=chat.id, by=me.id, removed=user_id)
        return ChatUpdated(message="Member removed", chat=(await self._view(me, chat)).chat)

    async def leave_group(self, me: Identity, chat_id: str) -> Done:
        """Leave a group; when the last admin leaves, the longest-standing member becomes admin."""
        chat, _ = await self._group(me, chat_id)
        now = store.utcnow()
        await store.remove_member(self.session, chat.id, me.id)
        promoted = await store.ensure_an_admin(self.session, chat.id)
        await store.refresh_seen(self.session, chat.id, now)
        await store.touch_chat(self.session, chat, now)
        log.info("chat.members.left", chat_id=chat.id, user=me.id, promoted=promoted)
        return Done(message="You left the group")

    # --- messages ---------------------------------------------------------------------------------------

    async def send_message(
        self,
        me: Identity,
        chat_id: str,
        text: str,
        image: bytes | None,
        client_id: str | None,
        reply_to: str | None = None,
    ) -> tuple[MessageOut, bool]:
        """Store a message from the caller; the document, and False when ``client_id`` was a repeat.

        Text goes straight to the process's :class:`~parley.chat.writer.MessageWriter`, which checks
        membership under the chat's lock, stores it with others in one transaction and answers once
        it is committed and announced. An image is checked and stored first.
        """
        text = clean_text(text)
        client_id = clean_client_id(client_id)
        if reply_to is not None and reply_to != "":
            raise InvalidMessage("Replies are not supported yet")
        if not text and not image:
            raise InvalidMessage("A message needs text or an image")
        if not is_id(chat_id):
            raise InvalidId("chatId is not a valid chat id")
        if self.blocks is not None:
            # Groups cost nothing here; a 1:1 chat one cache read (see parley.chat.blocks).
            await self.blocks.check_send(me, chat_id)
        await self.limits.count_message(me.id)
        draft = Draft(
            id=new_id(),
            chat_id=chat_id,
            sender_id=me.id,
            text=text,
            client_id=client_id,
            created_at=store.utcnow(),
            token=me.token,
        )
        if image:
            chat, _ = await self.access(chat_id, me.id)
            if client_id is not None:
                # A retried upload is answered before its image is processed again.
                earlier = await store.message_by_client_id(self.session, me.id, client_id)
                if earlier is not None:
                    return self._repeat(earlier, chat), False
            processed = await process_upload(image)
            draft.image_key = new_media_key(processed.extension)
            await self.storage.put(draft.image_key, processed.data, processed.content_type)
            draft.message_type = store.TYPE_IMAGE
            draft.image_width = processed.width
            draft.image_height = processed.height
            draft.image_content_type = processed.content_type
        try:
            sent = await self.writer.submit(draft)
        except BaseException:
            await self._forget_image(draft.image_key)
            raise
        if not sent.created:
            await self._forget_image(draft.image_key)
        return sent.message, sent.created

    async def _forget_image(self, key: str | None) -> None:
        if key is not None:
            with contextlib.suppress(Exception):
                await self.storage.delete(key)

    async def read_on_arrival(self, readers: list[tuple[str, str, int, str]]) -> dict[str, datetime]:
        """Each ``(chat, reader, seq, token)``: the reader has the chat open and reads up to ``seq``.

        ``token`` is the sender's, to look up the members' read-receipt settings.
        """
        seen: dict[str, datetime] = {}
        for chat_id, reader, seq, token in readers:
            found = await store.load_membership(self.session, chat_id, reader)
            if found is None or found[1] is None:
                continue
            seen.update(await self._mark_read(found[0], reader, seq, token))
        return seen

    def _repeat(self, earlier: Message, chat: Chat) -> MessageOut:
        if earlier.chat_id != chat.id:
            raise ClientIdReused()
        return message_document(earlier, self.links)

    async def history(self, me: Identity, chat_id: str, before: str | None, limit: int) -> History:
        """A page of messages (oldest first) before ``before`` or the newest; marks them read."""
        chat, mine = await self.access(chat_id, me.id)
        before_seq = None
        if before is not None:
            anchor = await store.message_by_id(self.session, before) if is_id(before) else None
            if anchor is None or anchor.chat_id != chat.id:
                raise InvalidId("before is not a message of this chat")
            before_seq = anchor.seq
        page = await store.history_page(self.session, chat.id, before_seq=before_seq, limit=limit)
        seen_now: dict[str, datetime] = {}
        if page and page[-1].seq > mine.last_read_seq:
            seen_now = await self._mark_read(chat, me.id, page[-1].seq, me.token)
        other = store.other_in_direct(chat, me.id)
        profiles = await self.users.profiles([me.id] if other is None else [me.id, other], me.token)
        user = user_document(profiles[other]) if other is not None else None
        # With read receipts off (the caller's, or the other person's in a 1:1 chat), the caller's
        # own messages show as unseen.
        hide = not sends_read_receipts(profiles[me.id]) or (
            other is not None and not sends_read_receipts(profiles[other])
        )
        return History(
            messages=[
                message_document(m, self.links, seen_now.get(m.id), hide_seen=hide and m.sender_id == me.id)
                for m in page
            ],
            user=user,
        )

    async def mark_all_read(self, user_id: str, chat_id: str, token: str | None = None) -> None:
        """Mark everything in the chat read by ``user_id`` (who has it open); nothing if not a member."""
        if not is_id(chat_id):
            return
        found = await store.load_membership(self.session, chat_id, user_id)
        if found is None:
            return
        chat, mine = found
        if mine is None:
            return
        if chat.latest_message_seq is not None and chat.latest_message_seq > mine.last_read_seq:
            await self._mark_read(chat, user_id, chat.latest_message_seq, token)

    async def _mark_read(
        self, chat: Chat, reader: str, up_to: int, token: str | None = None
    ) -> dict[str, datetime]:
        """Move the reader's position to ``up_to``; tell each sender which of theirs were read.

        Read receipts (``messagesSeen``) go only from a reader who sends them to senders who see
        them (each person's ``readReceipts`` setting, asked with ``token``); the read position,
        and so unread counts, moves regardless. Returns when each newly read message was seen, for
        messages whose sender may see that.
        """
        # The chat's row lock keeps two members' receipts in a group from passing each other
        # unseen: each would wait for the other's read position otherwise.
        found = await store.load_membership(self.session, chat.id, reader, lock=chat.is_group)
        if found is None or found[1] is None:
            return {}
        mine = found[1]
        if up_to <= mine.last_read_seq:
            return {}
        newly_read, seen = await store.advance_read_position(
            self.session, chat.id, reader, from_seq=mine.last_read_seq, to_seq=up_to, now=store.utcnow()
        )
        by_sender: dict[str, list[str]] = defaultdict(list)
        for message_id, sender in newly_read:
            by_sender[sender].append(message_id)
        receipts = await self.users.receipts_of([reader, *by_sender], token) if by_sender else {}
        for sender, ids in by_sender.items():
            if not (receipts.get(reader) and receipts.get(sender)):
                for message_id in ids:
                    seen.pop(message_id, None)
                continue
            self.uow.emit(
                MESSAGES_SEEN,
                MessagesSeenEvent(chatId=chat.id, seenBy=reader, messageIds=ids),
                to_users=[sender],
            )
        if newly_read:
            log.info("chat.messages.read", chat_id=chat.id, reader=reader, count=len(newly_read))
        return seen


# --- media ------------------------------------------------------------------------------------------------


async def fetch_media(
    links: MediaLinks, storage: MediaStorage, key: str, exp: str | None, sig: str | None
) -> tuple[StoredObject, int]:
    """The image behind a signed link and how long it may be cached; 403 unless the link holds."""
    links.verify(key, exp, sig)
    found = await storage.get(key)
    if found is None:
        raise NotFound("Image not found")
    remaining = int(exp or 0) - int(time.time())
    return found, max(0, min(remaining, links.ttl))
