"""What the chat service does: chats, groups, messages, read state.

Every function works inside the caller's unit of work and never commits; events it queues leave
after the commit (see :mod:`parley.chat.events`). Access is checked first, through
:meth:`ChatService.access`, for every chat a caller names.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import emoji as emoji_data
import structlog
from limits.errors import StorageError
from pydantic import ValidationError
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from parley.chat import search, store
from parley.chat.blocks import BlockGuard
from parley.chat.documents import MediaLinks, chat_detail, chat_document, iso, message_document, preview_of
from parley.chat.errors import (
    ChatNotFound,
    ChatWithYourself,
    ClientIdReused,
    EditWindowPassed,
    GroupTooLarge,
    GroupTooSmall,
    InvalidCursor,
    InvalidEmoji,
    InvalidId,
    InvalidMessage,
    InvalidMute,
    InvalidName,
    MemberNotFound,
    MessageDeleted,
    MessageNotFound,
    NotAGroup,
    NotAMember,
    NotAnAdmin,
    NotTheSender,
    SystemMessage,
    TooManyChats,
    TooManyExports,
    TooManyMessages,
    TooManyReactions,
)
from parley.chat.events import (
    CHAT_UPDATED,
    MESSAGE_UPDATED,
    MESSAGES_SEEN,
    NEW_CHAT,
    NEW_MESSAGE,
    REMOVED_FROM_CHAT,
)
from parley.chat.export import Export, exported_now
from parley.chat.schemas import (
    ChatList,
    ChatListItem,
    ChatUpdated,
    ChatUpdatedEvent,
    ChatView,
    Done,
    History,
    MessageOut,
    MessagesSeenEvent,
    Muted,
    NewChatEvent,
    RemovedFromChatEvent,
    SearchChat,
    SearchResult,
    SearchResults,
    UserOut,
)
from parley.chat.store import Chat, Member, Message
from parley.chat.uow import UnitOfWork
from parley.chat.users import Profile, UserDirectory, sends_read_receipts, unknown_profile
from parley.chat.writer import Draft, MessageWriter, Overloaded, Sent
from parley.core import text as text_rules
from parley.core.auth import Identity
from parley.core.errors import NotFound
from parley.core.ids import is_id, new_id
from parley.core.media.images import new_media_key, process_upload
from parley.core.media.storage import MediaStorage, StoredObject
from parley.core.ratelimit import RateLimiter

log = structlog.get_logger(__name__)

MAX_TEXT_LENGTH = 4000
MAX_NAME_LENGTH = 100
MAX_CLIENT_ID_LENGTH = 100
MAX_GROUP_MEMBERS = 256
DEFAULT_PAGE = 50
MAX_PAGE = 100
MAX_REACTIONS = 20
MAX_EMOJI_LENGTH = 64

# The writer's answers that mean a draft was certainly not stored (its image may go).
_NOT_STORED = (ChatNotFound, NotAMember, ClientIdReused, Overloaded)
# Image deletions scheduled after a sender went away, kept referenced until they finish.
_CLEANUPS: set[asyncio.Task[None]] = set()

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


def clean_emoji(raw: str) -> str:
    """A reaction: exactly one emoji (an RGI emoji or emoji sequence); :class:`InvalidEmoji` otherwise."""
    if not raw or len(raw) > MAX_EMOJI_LENGTH or not emoji_data.is_emoji(raw):
        raise InvalidEmoji()
    return raw


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
    exports_per_minute: int = 5

    async def count_message(self, user_id: str) -> None:
        """Count one message; :class:`TooManyMessages` past the limit."""
        # Leased: a fast sender costs a cache call every few messages (see RateLimiter.hit_leased).
        wait = await self._hit("message", user_id, self.messages_per_minute, 60, leased=True)
        if wait:
            raise TooManyMessages(retry_after=wait)

    async def count_new_chat(self, user_id: str) -> None:
        """Count one new chat (1:1 or group); :class:`TooManyChats` past the limit."""
        wait = await self._hit("chat", user_id, self.chats_per_hour, 3600)
        if wait:
            raise TooManyChats(retry_after=wait)

    async def count_export(self, user_id: str) -> None:
        """Count one chat export; :class:`TooManyExports` past the limit."""
        wait = await self._hit("export", user_id, self.exports_per_minute, 60)
        if wait:
            raise TooManyExports(retry_after=wait)

    async def _hit(self, name: str, user_id: str, limit: int, seconds: int, *, leased: bool = False) -> int:
        if self.limiter is None:
            return 0
        try:
            if leased:
                wait = await self.limiter.hit_leased(name, user_id, limit, seconds)
            else:
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
    edit_window: int = 3600
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
        now = store.utcnow()
        await store.insert_group(
            self.session, chat_id=chat_id, name=name, creator=me.id, others=others, now=now
        )
        self.uow.emit(NEW_CHAT, NewChatEvent(chatId=chat_id), to_users=[me.id, *others])
        await self._system(chat_id, me.id, "created", others, name, [me.id, *others], now)
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
        profiles = await self._profiles(me, others.values()) if others else {}
        page = ChatList(
            chats=[
                ChatListItem(
                    user=user_document(profiles[others[chat.id]]) if chat.id in others else None,
                    chat=chat_document(chat, members.get(chat.id, []), unseen.get(chat.id, 0), me.id),
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
        profiles = await self._profiles(me, [m.user_id for m in members])
        return ChatView(
            chat=chat_detail(chat, members, unseen, me.id),
            members=[user_document(profiles[m.user_id]) for m in members],
        )

    async def _profiles(self, me: Identity, ids: Iterable[str]) -> dict[str, Profile]:
        """Profiles of ``ids`` as the caller may see them: an address only of those who took part
        in a chat with the caller (see :func:`store.address_contacts_of`).

        The profile cache is shared by every caller, so the address is cut here, per caller; it
        costs a query only when some profile carries someone else's address.
        """
        profiles = await self.users.profiles(ids, me.token)
        addressed = [uid for uid, p in profiles.items() if uid != me.id and p.get("email")]
        if addressed:
            shown = set(await store.address_contacts_of(self.session, me.id, among=addressed))
            for uid in addressed:
                if uid not in shown:
                    profiles[uid] = {**profiles[uid], "email": ""}
        return profiles

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
        now = store.utcnow()
        await store.rename_chat(self.session, chat, name, now)
        view = (await self._view(me, chat)).chat
        await self._system(chat.id, me.id, "renamed", [], name, view.users, now)
        self._chat_updated(view.id, view.name, view.users, view.admins)
        log.info("chat.renamed", chat_id=chat.id, by=me.id)
        return ChatUpdated(message="Group renamed", chat=view)

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
            now = store.utcnow()
            await store.touch_chat(self.session, chat, now)
            self.uow.emit(NEW_CHAT, NewChatEvent(chatId=chat.id), to_users=added)
            if added:
                view = (await self._view(me, chat)).chat
                await self._system(chat.id, me.id, "added", added, chat.name, view.users, now)
                self._chat_updated(view.id, view.name, view.users, view.admins)
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
        view = (await self._view(me, chat)).chat
        await self._system(chat.id, me.id, "removed", [user_id], chat.name, view.users, now)
        self._chat_updated(view.id, view.name, view.users, view.admins)
        self.uow.emit(REMOVED_FROM_CHAT, RemovedFromChatEvent(chatId=chat.id), to_users=[user_id])
        log.info("chat.members.removed", chat_id=chat.id, by=me.id, removed=user_id)
        return ChatUpdated(message="Member removed", chat=view)

    async def leave_group(self, me: Identity, chat_id: str) -> Done:
        """Leave a group; when the last admin leaves, the longest-standing member becomes admin."""
        chat, _ = await self._group(me, chat_id)
        now = store.utcnow()
        await store.remove_member(self.session, chat.id, me.id)
        promoted = await store.ensure_an_admin(self.session, chat.id)
        await store.refresh_seen(self.session, chat.id, now)
        await store.touch_chat(self.session, chat, now)
        members = (await store.members_by_chat(self.session, chat_id=chat.id)).get(chat.id, [])
        users = [m.user_id for m in members]
        await self._system(chat.id, me.id, "left", [me.id], chat.name, users, now)
        admins = [m.user_id for m in members if m.role == store.ROLE_ADMIN]
        self._chat_updated(chat.id, chat.name, users, admins)
        self.uow.emit(REMOVED_FROM_CHAT, RemovedFromChatEvent(chatId=chat.id), to_users=[me.id])
        log.info("chat.members.left", chat_id=chat.id, user=me.id, promoted=promoted)
        return Done(message="You left the group")

    async def _system(
        self,
        chat_id: str,
        actor: str,
        action: str,
        users: list[str],
        name: str | None,
        recipients: list[str],
        now: datetime,
    ) -> None:
        """A system message recording a group change, announced as ``newMessage`` after the commit.

        The caller holds the chat's row lock, so it is numbered in the chat's order like any message.
        """
        system = json.dumps({"action": action, "actor": actor, "users": users, "name": name})
        message = await store.insert_system_message(
            self.session, message_id=new_id(), chat_id=chat_id, actor=actor, system=system, now=now
        )
        self.uow.emit(NEW_MESSAGE, message_document(message, self.links), to_users=recipients)

    def _chat_updated(self, chat_id: str, name: str | None, users: list[str], admins: list[str]) -> None:
        self.uow.emit(
            CHAT_UPDATED,
            ChatUpdatedEvent(chatId=chat_id, name=name, users=users, admins=admins),
            to_users=users,
        )

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
        if not text and not image:
            raise InvalidMessage("A message needs text or an image")
        if not is_id(chat_id):
            raise InvalidId("chatId is not a valid chat id")
        reply = None
        if reply_to:
            # The one lookup a reply costs: the original, which must be a message of this chat.
            reply = await store.message_by_id(self.session, reply_to) if is_id(reply_to) else None
            if reply is None or reply.chat_id != chat_id or reply.message_type == store.TYPE_SYSTEM:
                raise InvalidMessage("replyTo is not a message of this chat")
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
            reply_to=reply.id if reply is not None else None,
            reply=reply,
            token=me.token,
        )
        if image:
            chat, _ = await self.access(chat_id, me.id)
            if client_id is not None:
                # A retried upload is answered before its image is processed again.
                earlier = await store.message_by_client_id(self.session, me.id, client_id)
                if earlier is not None:
                    return self._repeat(earlier, chat), False
            # Decoding, re-encoding and uploading take a while: hold no pooled connection meanwhile
            # (the writer stores the message with its own).
            await self.uow.release_connection()
            processed = await process_upload(image)
            draft.image_key = new_media_key(processed.extension)
            try:
                await self.storage.put(draft.image_key, processed.data, processed.content_type)
            except BaseException:
                await self._forget_image(draft.image_key)  # never submitted: nothing points to it
                raise
            draft.message_type = store.TYPE_IMAGE
            draft.image_width = processed.width
            draft.image_height = processed.height
            draft.image_content_type = processed.content_type
        try:
            sent = await self.writer.submit(draft)
        except asyncio.CancelledError:
            # The sender went away, but the writer stores the draft all the same (it may have
            # already): the image goes only once the writer says the message was not stored.
            if draft.image_key is not None:
                draft.future.add_done_callback(self._forget_image_unless_stored(draft.image_key))
            raise
        except _NOT_STORED:
            await self._forget_image(draft.image_key)
            raise
        # Any other failure (a database error, the writer stopping mid-batch) leaves it unknown
        # whether the message was stored: the image stays, as a stored message may point to it.
        if not sent.created:
            await self._forget_image(draft.image_key)
        return sent.message, sent.created

    async def _forget_image(self, key: str | None) -> None:
        if key is not None:
            with contextlib.suppress(Exception):
                await self.storage.delete(key)

    def _forget_image_unless_stored(self, key: str) -> Callable[[asyncio.Future[Sent]], None]:
        """A callback for a draft's answer: delete its image when the message was not stored."""

        def answered(future: asyncio.Future[Sent]) -> None:
            if future.cancelled():
                return
            error = future.exception()
            if error is None and future.result().created:
                return
            if error is not None and not isinstance(error, _NOT_STORED):
                return
            task = asyncio.get_running_loop().create_task(self._forget_image(key))
            _CLEANUPS.add(task)
            task.add_done_callback(_CLEANUPS.discard)

        return answered

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
        profiles = await self._profiles(me, [me.id] if other is None else [me.id, other])
        user = user_document(profiles[other]) if other is not None else None
        # With read receipts off (the caller's, or the other person's in a 1:1 chat), the caller's
        # own messages show as unseen.
        hide = not sends_read_receipts(profiles[me.id]) or (
            other is not None and not sends_read_receipts(profiles[other])
        )
        return History(
            messages=await self._documents(page, seen_now, hide_seen_of=me.id if hide else None), user=user
        )

    async def _documents(
        self,
        messages: list[Message],
        seen_now: dict[str, datetime] | None = None,
        *,
        hide_seen_of: str | None = None,
    ) -> list[MessageOut]:
        """Documents of ``messages`` with their quotes and reactions, in two queries at most.

        ``hide_seen_of``: that user's messages show as unseen (read receipts off).
        """
        quoted = [m.reply_to for m in messages if m.reply_to and not m.deleted]
        originals = await store.messages_by_ids(self.session, quoted) if quoted else {}
        reactions = await store.reactions_of(self.session, [m.id for m in messages if not m.deleted])
        seen_now = seen_now or {}
        return [
            message_document(
                m,
                self.links,
                seen_now.get(m.id),
                reply=originals.get(m.reply_to) if m.reply_to else None,
                reactions=reactions.get(m.id, []),
                hide_seen=hide_seen_of is not None and m.sender_id == hide_seen_of,
            )
            for m in messages
        ]

    # --- changing messages ------------------------------------------------------------------------------

    async def _changeable(
        self, me: Identity, message_id: str, *, lock: bool = False
    ) -> tuple[Message, Chat, Member]:
        """The message, its chat and the caller's membership; only members may change a chat's messages."""
        message = None
        if is_id(message_id):
            if lock:
                message = await store.lock_message(self.session, message_id)
            else:
                message = await store.message_by_id(self.session, message_id)
        if message is None:
            raise MessageNotFound()
        chat, member = await self.access(message.chat_id, me.id)
        if message.message_type == store.TYPE_SYSTEM:
            raise SystemMessage()
        return message, chat, member

    async def _announce_change(self, message: Message) -> MessageOut:
        """The message as it is now, sent to every member as ``messageUpdated`` after the commit."""
        await self.session.refresh(message)
        document = (await self._documents([message]))[0]
        members = await store.member_ids(self.session, message.chat_id)
        self.uow.emit(MESSAGE_UPDATED, document, to_users=members)
        return document

    async def edit_message(self, me: Identity, message_id: str, text: str) -> MessageOut:
        """The sender changes the text (or an image's caption) within the edit window."""
        text = clean_text(text)
        message, chat, _ = await self._changeable(me, message_id)
        if message.deleted:
            raise MessageDeleted()
        if message.sender_id != me.id:
            raise NotTheSender()
        now = store.utcnow()
        since = now - timedelta(seconds=self.edit_window)
        if message.created_at < since:
            raise EditWindowPassed()
        if not text and not message.image_key:
            raise InvalidMessage("A message needs text or an image")
        if not await store.edit_message(self.session, message.id, me.id, text, since=since, now=now):
            raise MessageDeleted()  # deleted meanwhile: the tombstone stays
        await store.reindex_message(self.session, message.seq, text)
        if chat.latest_message_seq == message.seq:
            preview = preview_of(text, message.image_key is not None)
            await store.set_latest_preview(self.session, chat.id, message.seq, preview)
        log.info("chat.message.edited", chat_id=chat.id, message_id=message.id)
        return await self._announce_change(message)

    async def delete_message(self, me: Identity, message_id: str) -> MessageOut:
        """Delete for everyone: the sender at any time, a group's admin any message of the group.

        The message becomes a tombstone and its image leaves the storage, so its links stop working.
        Deleting a tombstone again changes nothing.
        """
        message, chat, mine = await self._changeable(me, message_id)
        if message.sender_id != me.id and not (chat.is_group and mine.role == store.ROLE_ADMIN):
            raise NotTheSender("Only the sender or a group admin can delete this message")
        if message.deleted:
            return (await self._documents([message]))[0]
        image_key = message.image_key
        if not await store.tombstone_message(self.session, message.id, store.utcnow()):
            await self.session.refresh(message)  # someone deleted it a moment ago
            return (await self._documents([message]))[0]
        await store.unindex_message(self.session, message.seq)
        if chat.latest_message_seq == message.seq:
            await store.set_latest_preview(self.session, chat.id, message.seq, None)
        if image_key is not None:
            try:
                await self.storage.delete(image_key)
            except Exception as exc:
                log.warning("chat.media.delete_failed", error=type(exc).__name__)
        log.info("chat.message.deleted", chat_id=chat.id, message_id=message.id, by=me.id)
        return await self._announce_change(message)

    async def react(self, me: Identity, message_id: str, emoji: str, *, add: bool) -> MessageOut:
        """Add (or take back) the caller's reaction; at most 20 different emoji per message."""
        emoji = clean_emoji(emoji)
        # The message's row lock makes the 20-emoji check and the insert one step.
        message, chat, _ = await self._changeable(me, message_id, lock=True)
        if message.deleted:
            raise MessageDeleted()
        if add:
            used = await store.reaction_emoji(self.session, message.id)
            if emoji not in used and len(used) >= MAX_REACTIONS:
                raise TooManyReactions()
            changed = await store.add_reaction(self.session, message.id, emoji, me.id, store.utcnow())
        else:
            changed = await store.remove_reaction(self.session, message.id, emoji, me.id)
        if not changed:  # already so: nothing to tell anyone
            return (await self._documents([message]))[0]
        log.info("chat.message.reacted", chat_id=chat.id, message_id=message.id, added=add)
        return await self._announce_change(message)

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

    # --- search, mute, export ---------------------------------------------------------------------------

    async def search(
        self, me: Identity, query: str, *, chat_id: str | None, limit: int, cursor: str | None
    ) -> tuple[SearchResults, str | None]:
        """Messages of the caller's chats (or of ``chat_id``) matching ``query``, best first.

        See :mod:`parley.chat.search` for what matches and in which order. Returns the page and the
        cursor of the next one (None on the last page).
        """
        query = search.check_query(query)
        after = search.decode_cursor(cursor) if cursor else None
        if chat_id is not None:
            await self.access(chat_id, me.id)
        words = search.query_words(await store.fold_query(self.session, query))
        found = await store.search_candidates(self.session, me.id, words, chat_id=chat_id)
        ranked = sorted(
            (
                (place, message)
                for message, folded in found
                if (place := search.rank(words, folded, message.seq)) is not None
                and (after is None or place > after)
            ),
            key=lambda pair: pair[0],
        )
        page, more = ranked[:limit], len(ranked) > limit
        chats = await store.chats_by_ids(self.session, sorted({m.chat_id for _, m in page}))
        documents = await self._documents([message for _, message in page])
        results = SearchResults(
            results=[
                SearchResult(
                    message=document,
                    chat=SearchChat(
                        id=message.chat_id,
                        name=chats[message.chat_id].name if chats[message.chat_id].is_group else None,
                        isGroup=chats[message.chat_id].is_group,
                    ),
                )
                for (_, message), document in zip(page, documents, strict=True)
            ]
        )
        log.info("chat.searched", user=me.id, words=len(words), candidates=len(found), results=len(page))
        return results, (page[-1][0].cursor() if more else None)

    async def mute(self, me: Identity, chat_id: str, until: datetime | None) -> Muted:
        """Mute the chat for the caller until ``until`` (a time in the future), or unmute it (None)."""
        if until is not None:
            if until.tzinfo is None:
                until = until.replace(tzinfo=UTC)
            if until <= store.utcnow():
                raise InvalidMute("until must be a time in the future, or null to unmute")
        chat, _ = await self.access(chat_id, me.id)
        await store.set_muted_until(self.session, chat.id, me.id, until)
        log.info("chat.muted", chat_id=chat.id, user=me.id, muted=until is not None)
        return Muted(
            message="Chat muted" if until else "Chat unmuted",
            chatId=chat.id,
            mutedUntil=iso(until) if until else None,
        )

    async def prepare_export(self, me: Identity, chat_id: str) -> Export:
        """Check that the caller may export the chat (a member, within the limit); what to export."""
        chat, _ = await self.access(chat_id, me.id)
        await self.limits.count_export(me.id)
        view = await self._view(me, chat)
        other = store.other_in_direct(chat, me.id)
        names = {m.id: m.name for m in view.members}
        title = chat.name or ""
        if not chat.is_group:
            title = f"Chat with {names.get(other or '', 'someone')}"
        log.info("chat.exported", chat_id=chat.id, user=me.id)
        return Export(chat=view.chat, members=view.members, title=title, exported_at=exported_now())


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
