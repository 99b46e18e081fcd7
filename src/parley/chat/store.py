"""The chat service's tables and the statements that read and write them.

Who may see what is written once: :func:`is_member` is the membership condition, and
:func:`membership_of`, :func:`chats_visible_to` and :func:`chat_ids_visible_to` build every
statement that reads a user's chats from it.

Messages are ordered by ``seq``, an integer the database hands out in increasing order; history
pages and read positions are expressed in it. A member's read position is the ``seq`` of the last
message they have read; a message is *seen* once every other member has read past it, and that
moment is kept in ``seen_at``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    Select,
    String,
    Text,
    UniqueConstraint,
    and_,
    bindparam,
    delete,
    exists,
    false,
    func,
    or_,
    select,
    update,
)
from sqlalchemy import (
    text as sql_text,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, aliased, mapped_column
from sqlalchemy.sql import column, table

from parley.chat.search import MAX_CANDIDATES, fold, fts_query, like_pattern, needs_middle_variants
from parley.core.database import UTCDateTime, make_base

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

Base = make_base()

ROLE_ADMIN = "admin"
ROLE_MEMBER = "member"
TYPE_TEXT = "text"
TYPE_IMAGE = "image"
TYPE_SYSTEM = "system"

# BIGINT on PostgreSQL; SQLite only autoincrements an INTEGER PRIMARY KEY (which is 64-bit there).
Seq = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Chat(Base):  # type: ignore[misc,valid-type]
    """A 1:1 chat (``direct_key`` set, no name) or a group (named, ``direct_key`` NULL)."""

    __tablename__ = "chats"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    is_group: Mapped[bool] = mapped_column(Boolean, nullable=False)
    name: Mapped[str | None] = mapped_column(String(100))
    # "<smaller id>:<larger id>" for 1:1 chats: unique, so two people racing to start the same
    # chat end up in one.
    direct_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    created_by: Mapped[str] = mapped_column(String(32), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # When the chat last saw a message (its creation until then): the chat list's order.
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # The latest message, kept here so the chat list needs no query per chat.
    latest_message_seq: Mapped[int | None] = mapped_column(Seq)
    latest_message_text: Mapped[str | None] = mapped_column(Text)
    latest_message_sender: Mapped[str | None] = mapped_column(String(32))
    # The chat's last message sequence number (``Message.chat_seq``): 1, 2, 3 … in commit order.
    last_seq: Mapped[int] = mapped_column(Seq, nullable=False, default=0, server_default="0")


class Member(Base):  # type: ignore[misc,valid-type]
    """A user in a chat, with their role and read position. Leaving deletes the row."""

    __tablename__ = "chat_members"
    __table_args__ = (Index("ix_chat_members_user_id_chat_id", "user_id", "chat_id"),)

    chat_id: Mapped[str] = mapped_column(
        String(24), ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    role: Mapped[str] = mapped_column(String(10), nullable=False)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_read_seq: Mapped[int] = mapped_column(Seq, nullable=False, default=0)
    last_read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Until when the member muted the chat (no notifications); None when not muted.
    muted_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Message(Base):  # type: ignore[misc,valid-type]
    """One message: text, an image, or both."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("sender_id", "client_id"),
        Index("ix_messages_chat_id_seq", "chat_id", "seq"),
        Index("ix_messages_chat_id_sender_id", "chat_id", "sender_id"),
        Index("uq_messages_chat_id_chat_seq", "chat_id", "chat_seq", unique=True),
        {"sqlite_autoincrement": True},
    )

    seq: Mapped[int] = mapped_column(Seq, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(24), unique=True, nullable=False)
    chat_id: Mapped[str] = mapped_column(
        String(24), ForeignKey("chats.id", ondelete="CASCADE"), nullable=False
    )
    sender_id: Mapped[str] = mapped_column(String(32), nullable=False)
    message_type: Mapped[str] = mapped_column(String(10), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    image_key: Mapped[str | None] = mapped_column(String(100))
    image_width: Mapped[int | None] = mapped_column(Integer)
    image_height: Mapped[int | None] = mapped_column(Integer)
    image_content_type: Mapped[str | None] = mapped_column(String(50))
    # The sender's own id for the message, so a retried send stores it once.
    client_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The message's number within its chat, without gaps and in commit order (see the writer).
    chat_seq: Mapped[int | None] = mapped_column(Seq)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A tombstone: text "", no image, no reply, no reactions.
    deleted: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())
    # The id of the message this one answers (of the same chat).
    reply_to: Mapped[str | None] = mapped_column(String(24))
    # A system message's JSON ``{action, actor, users, name}`` (``message_type`` "system").
    system: Mapped[str | None] = mapped_column(Text)


class Reaction(Base):  # type: ignore[misc,valid-type]
    """One user's reaction with one emoji to one message."""

    __tablename__ = "message_reactions"

    message_id: Mapped[str] = mapped_column(
        String(24), ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    emoji: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class MissedMailClaim(Base):  # type: ignore[misc,valid-type]
    """How far a member has been dealt with by missed-message emails in a chat.

    ``up_to_seq``: messages up to this ``seq`` never cause another email (emailed, or passed over
    while the chat was muted); ``emailed_at``: when the last email was handed on. Claimed with a
    compare-and-set, so two checks of the same messages can never both email.
    """

    __tablename__ = "missed_mail_claims"

    chat_id: Mapped[str] = mapped_column(
        String(24), ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    up_to_seq: Mapped[int] = mapped_column(Seq, nullable=False)
    emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def direct_key(a: str, b: str) -> str:
    """The one key of the 1:1 chat between ``a`` and ``b``, whoever starts it."""
    first, second = sorted((a, b))
    return f"{first}:{second}"


def other_in_direct(chat: Chat, user_id: str) -> str | None:
    """The other person of a 1:1 chat (from its key, without a query); None for groups."""
    if chat.direct_key is None:
        return None
    first, _, second = chat.direct_key.partition(":")
    return second if first == user_id else first


# --- who may see what ---------------------------------------------------------------------------------


def is_member(user_id: str) -> ColumnElement[bool]:
    """The membership condition: ``user_id`` belongs to the chat in the statement."""
    return and_(Member.chat_id == Chat.id, Member.user_id == user_id)


def membership_of(chat_id: str, user_id: str) -> Select[Chat, Member]:
    """The chat and, when ``user_id`` belongs to it, their membership (else None): one row or none."""
    return select(Chat, Member).outerjoin(Member, is_member(user_id)).where(Chat.id == chat_id)


def chats_visible_to(user_id: str) -> Select[Chat]:
    """Every chat ``user_id`` belongs to."""
    return select(Chat).join(Member, is_member(user_id))


def chat_ids_visible_to(user_id: str) -> Select[str]:
    """The ids of every chat ``user_id`` belongs to (for use as a subquery)."""
    return select(Member.chat_id).where(Member.user_id == user_id)


# --- reading --------------------------------------------------------------------------------------------


async def load_membership(
    session: AsyncSession, chat_id: str, user_id: str, *, lock: bool = False
) -> tuple[Chat, Member | None] | None:
    """The chat and the caller's membership; None when there is no such chat.

    ``lock`` takes the chat's row lock (PostgreSQL) until the transaction ends, for changes that
    must not interleave with another member's (read receipts in groups, membership changes). It is
    ``FOR NO KEY UPDATE``: senders' foreign-key checks (``KEY SHARE``) never wait for it, so a
    sender holding one and then updating the chat's latest message cannot deadlock with it.
    """
    stmt = membership_of(chat_id, user_id)
    if lock:
        # Re-read the rows once the lock is held: what an earlier query loaded may be stale by then.
        stmt = stmt.with_for_update(of=Chat, key_share=True).execution_options(populate_existing=True)
    row = (await session.execute(stmt)).one_or_none()
    if row is None:
        return None
    return row[0], row[1]


async def find_direct_chat(session: AsyncSession, a: str, b: str) -> Chat | None:
    return await session.scalar(select(Chat).where(Chat.direct_key == direct_key(a, b)))


async def list_chats(
    session: AsyncSession,
    user_id: str,
    *,
    limit: int | None = None,
    after: tuple[datetime, str] | None = None,
) -> Sequence[Chat]:
    """The user's chats, latest activity first: up to ``limit`` of them, those after ``after``.

    ``after`` is the (last activity, id) of the last chat of the previous page.
    """
    stmt = chats_visible_to(user_id).order_by(Chat.last_activity_at.desc(), Chat.id.desc())
    if after is not None:
        at, chat_id = after
        stmt = stmt.where(
            or_(Chat.last_activity_at < at, and_(Chat.last_activity_at == at, Chat.id < chat_id))
        )
    if limit is not None:
        stmt = stmt.limit(limit)
    return (await session.scalars(stmt)).all()


async def members_by_chat(
    session: AsyncSession,
    *,
    user_id: str | None = None,
    chat_id: str | None = None,
    chat_ids: Sequence[str] | None = None,
) -> dict[str, list[Member]]:
    """Members (oldest first) of every chat of ``user_id``, of the one chat ``chat_id``, or of ``chat_ids``."""
    stmt = select(Member).order_by(Member.chat_id, Member.joined_at, Member.user_id)
    if user_id is not None:
        stmt = stmt.where(Member.chat_id.in_(chat_ids_visible_to(user_id)))
    if chat_id is not None:
        stmt = stmt.where(Member.chat_id == chat_id)
    if chat_ids is not None:
        stmt = stmt.where(Member.chat_id.in_(chat_ids))
    found: dict[str, list[Member]] = defaultdict(list)
    for member in (await session.scalars(stmt)).all():
        found[member.chat_id].append(member)
    return found


async def unseen_counts(
    session: AsyncSession, user_id: str, chat_id: str | None = None, *, chat_ids: Sequence[str] | None = None
) -> dict[str, int]:
    """How many messages of others each of the user's chats holds past the user's read position.

    One grouped query for all chats (``chat_id`` narrows it to one, ``chat_ids`` to those).
    """
    stmt = (
        select(Message.chat_id, func.count())
        .join(Member, and_(Member.chat_id == Message.chat_id, Member.user_id == user_id))
        .where(
            Message.seq > Member.last_read_seq,
            Message.sender_id != user_id,
            Message.message_type != TYPE_SYSTEM,
            Message.deleted.is_(False),
        )
        .group_by(Message.chat_id)
    )
    if chat_id is not None:
        stmt = stmt.where(Message.chat_id == chat_id)
    if chat_ids is not None:
        stmt = stmt.where(Message.chat_id.in_(chat_ids))
    return {str(cid): int(count) for cid, count in (await session.execute(stmt)).all()}


async def member_ids(session: AsyncSession, chat_id: str) -> list[str]:
    stmt = select(Member.user_id).where(Member.chat_id == chat_id).order_by(Member.joined_at, Member.user_id)
    return [str(uid) for uid in (await session.scalars(stmt)).all()]


async def contacts_of(session: AsyncSession, user_id: str) -> list[str]:
    """Everyone who shares at least one chat with ``user_id``."""
    stmt = (
        select(Member.user_id)
        .where(Member.chat_id.in_(chat_ids_visible_to(user_id)), Member.user_id != user_id)
        .distinct()
    )
    return sorted(str(uid) for uid in (await session.scalars(stmt)).all())


async def address_contacts_of(
    session: AsyncSession, user_id: str, among: Sequence[str] | None = None
) -> list[str]:
    """Those (of ``among``) whose email address ``user_id`` may see.

    Everyone who shares a chat with ``user_id`` in which they took part: they started it (the 1:1
    chat, the group) or sent something in it (a message, or a group change of theirs). Being
    put into a chat by someone else shows that person nothing, so a stranger cannot collect
    addresses by starting chats or groups with people.
    """
    spoke = (
        select(Message.seq)
        .where(Message.chat_id == Member.chat_id, Message.sender_id == Member.user_id)
        .exists()
    )
    stmt = (
        select(Member.user_id)
        .join(Chat, Chat.id == Member.chat_id)
        .where(
            Member.chat_id.in_(chat_ids_visible_to(user_id)),
            Member.user_id != user_id,
            or_(Chat.created_by == Member.user_id, spoke),
        )
        .distinct()
    )
    if among is not None:
        stmt = stmt.where(Member.user_id.in_(list(among)))
    return sorted(str(uid) for uid in (await session.scalars(stmt)).all())


async def message_by_id(session: AsyncSession, message_id: str) -> Message | None:
    return await session.scalar(select(Message).where(Message.id == message_id))


async def message_by_client_id(session: AsyncSession, sender_id: str, client_id: str) -> Message | None:
    stmt = select(Message).where(Message.sender_id == sender_id, Message.client_id == client_id)
    return await session.scalar(stmt)


async def history_page(
    session: AsyncSession, chat_id: str, *, before_seq: int | None, limit: int
) -> list[Message]:
    """Up to ``limit`` messages before ``before_seq`` (or the newest), oldest first."""
    stmt = select(Message).where(Message.chat_id == chat_id)
    if before_seq is not None:
        stmt = stmt.where(Message.seq < before_seq)
    newest_first = (await session.scalars(stmt.order_by(Message.seq.desc()).limit(limit))).all()
    return list(reversed(newest_first))


# --- writing --------------------------------------------------------------------------------------------


def _insert_ignoring_conflicts(
    session: AsyncSession,
    model: type[Any],
    values: dict[str, Any] | list[dict[str, Any]],
    conflict: list[str],
) -> Any:
    """``INSERT … ON CONFLICT (conflict) DO NOTHING`` (one row or several) in the session's dialect."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    return insert(model).values(values).on_conflict_do_nothing(index_elements=conflict)


async def insert_direct_chat(session: AsyncSession, *, chat_id: str, a: str, b: str, now: datetime) -> bool:
    """Create the 1:1 chat of ``a`` and ``b`` with both as members; False if it already exists.

    The unique ``direct_key`` decides races: the loser's insert does nothing (after waiting for
    the winner's commit), and the caller then loads the winner's chat.
    """
    values = {
        "id": chat_id,
        "is_group": False,
        "name": None,
        "direct_key": direct_key(a, b),
        "created_by": a,
        "created_at": now,
        "updated_at": now,
        "last_activity_at": now,
    }
    stmt = _insert_ignoring_conflicts(session, Chat, values, ["direct_key"]).returning(Chat.id)
    if (await session.execute(stmt)).scalar_one_or_none() is None:
        return False
    await add_members(session, chat_id, [a, b], role=ROLE_MEMBER, now=now, read_seq=0)
    return True


async def insert_group(
    session: AsyncSession, *, chat_id: str, name: str, creator: str, others: Iterable[str], now: datetime
) -> None:
    session.add(
        Chat(
            id=chat_id,
            is_group=True,
            name=name,
            direct_key=None,
            created_by=creator,
            created_at=now,
            updated_at=now,
            last_activity_at=now,
        )
    )
    await session.flush()
    await add_members(session, chat_id, [creator], role=ROLE_ADMIN, now=now, read_seq=0)
    await add_members(session, chat_id, list(others), role=ROLE_MEMBER, now=now, read_seq=0)


async def add_members(
    session: AsyncSession, chat_id: str, user_ids: Sequence[str], *, role: str, now: datetime, read_seq: int
) -> list[str]:
    """Add members who start having read up to ``read_seq``; the ids of those who were not members yet."""
    if not user_ids:
        return []
    rows = [
        {"chat_id": chat_id, "user_id": uid, "role": role, "joined_at": now, "last_read_seq": read_seq}
        for uid in user_ids
    ]
    stmt = _insert_ignoring_conflicts(session, Member, rows, ["chat_id", "user_id"]).returning(Member.user_id)
    added = {str(uid) for uid in (await session.execute(stmt)).scalars().all()}
    return [uid for uid in user_ids if uid in added]


async def remove_member(session: AsyncSession, chat_id: str, user_id: str) -> None:
    await session.execute(delete(Member).where(Member.chat_id == chat_id, Member.user_id == user_id))


async def ensure_an_admin(session: AsyncSession, chat_id: str) -> str | None:
    """When no admin is left, make the longest-standing member one; their id, or None."""
    has_admin = await session.scalar(
        select(exists().where(Member.chat_id == chat_id, Member.role == ROLE_ADMIN))
    )
    if has_admin:
        return None
    oldest = await session.scalar(
        select(Member).where(Member.chat_id == chat_id).order_by(Member.joined_at, Member.user_id).limit(1)
    )
    if oldest is None:
        return None
    await session.execute(
        update(Member)
        .where(Member.chat_id == chat_id, Member.user_id == oldest.user_id)
        .values(role=ROLE_ADMIN)
        .execution_options(synchronize_session=False)
    )
    return str(oldest.user_id)


async def rename_chat(session: AsyncSession, chat: Chat, name: str, now: datetime) -> None:
    chat.name = name
    chat.updated_at = now
    await session.flush()


async def touch_chat(session: AsyncSession, chat: Chat, now: datetime) -> None:
    """Record that the chat changed (its members, its name)."""
    chat.updated_at = now
    await session.flush()


async def insert_message(session: AsyncSession, values: dict[str, Any]) -> int | None:
    """Store a message; its ``seq``, or None when the sender already sent this ``client_id``."""
    stmt = _insert_ignoring_conflicts(session, Message, values, ["sender_id", "client_id"]).returning(
        Message.seq
    )
    seq = (await session.execute(stmt)).scalar_one_or_none()
    return int(seq) if seq is not None else None


@dataclass
class LockedChat:
    """A chat locked for a batch of messages: its last sequence number and its members."""

    last_seq: int
    members: list[str]


async def lock_chats_for_messages(session: AsyncSession, chat_ids: list[str]) -> dict[str, LockedChat]:
    """Lock the chats' rows until the transaction ends (in id order) and read their members.

    The lock (``FOR NO KEY UPDATE``, as membership changes take) hands each chat's sequence
    numbers out in commit order. On PostgreSQL the members are those of the statement's snapshot:
    one that waited for the lock may read members a change committed meanwhile has replaced (the
    writer's own one-statement path, ``STORE_BATCH_PG``, checks for that); on SQLite a write takes
    the database's lock first.
    """
    chats = Chat.__table__
    members = Member.__table__
    if not _is_postgres(session):
        # SQLite has no row locks, and reads outside a transaction: a write first takes the
        # database's write lock (waiting for a writer such as a membership change to commit),
        # so that the members read next are the ones at commit time.
        await session.execute(update(chats).where(chats.c.id.in_(chat_ids)).values(last_seq=chats.c.last_seq))
    stmt = (
        select(chats.c.id, chats.c.last_seq, members.c.user_id)
        .join(members, members.c.chat_id == chats.c.id)
        .where(chats.c.id.in_(chat_ids))
        .order_by(chats.c.id)
        .with_for_update(of=chats, key_share=True)
    )
    found: dict[str, LockedChat] = {}
    for chat_id, last_seq, user_id in (await session.execute(stmt)).all():
        locked = found.get(chat_id)
        if locked is None:
            locked = found[chat_id] = LockedChat(int(last_seq), [])
        locked.members.append(str(user_id))
    return found


async def insert_messages(session: AsyncSession, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Store messages in one statement; ``{id: seq}`` of those stored (a repeated clientId is not).

    The rows go as parameters of one statement, not as ``.values(rows)``: SQLAlchemy compiles the
    statement once and caches it, then sends the rows as one multi-row ``INSERT … RETURNING``
    ("insertmanyvalues"). A ``VALUES`` list built into the statement was compiled afresh for every
    batch, which cost more CPU than the rest of the store.
    """
    dialect = session.get_bind().dialect.name
    stmt = _INSERT_MESSAGES[dialect] if dialect in _INSERT_MESSAGES else _insert_messages(dialect)
    result = await session.execute(stmt, rows)
    return {str(mid): int(seq) for mid, seq in result.all()}


_INSERT_MESSAGES: dict[str, Any] = {}


def _insert_messages(dialect: str) -> Any:
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    messages = Message.__table__
    stmt = (
        insert(messages)
        .on_conflict_do_nothing(index_elements=["sender_id", "client_id"])
        .returning(messages.c.id, messages.c.seq)
    )
    _INSERT_MESSAGES[dialect] = stmt
    return stmt


async def set_latest_messages(session: AsyncSession, latest: list[dict[str, Any]]) -> None:
    """Each chat's new latest message and sequence number, in one round trip (executemany)."""
    chats = Chat.__table__
    stmt = (
        update(chats)
        .where(chats.c.id == bindparam("b_chat_id"))
        .values(
            last_seq=bindparam("b_last_seq"),
            latest_message_seq=bindparam("b_latest_seq"),
            latest_message_text=bindparam("b_text"),
            latest_message_sender=bindparam("b_sender"),
            last_activity_at=bindparam("b_now"),
            updated_at=bindparam("b_now"),
        )
    )
    await session.execute(stmt, latest)


# The whole of a batch on PostgreSQL, as one statement run on its own (its own transaction): lock
# the batch's chats in id order; read their members; number each message whose sender is a member
# (the chat's last number + its place among the batch's messages there); insert those; make each
# chat's last one its latest. One round trip instead of five (BEGIN, lock, INSERT, UPDATE, COMMIT).
#
# Every part reads the statement's snapshot, except the locked chats' rows: a row another
# transaction changed while this one waited for its lock is read as that transaction left it
# (READ COMMITTED), so ``last_seq`` is always the latest. The members, though, would be those of
# the snapshot: a membership change commits (with the chat's row, see ``touch_chat``) while the
# batch waits. So a chat whose row is not the snapshot's any more stores nothing here and is
# answered ``stale``; the writer sends its messages again, in a statement with a fresh snapshot.
# A repeated ``(sender, clientId)`` fails the whole statement (a unique violation; nothing is
# stored), so that no number is skipped.
# The answer: a row per stored message (id, seq, chat_seq) and a row per chat (id, members, stale).
STORE_BATCH_PG = """
WITH input AS (
    SELECT * FROM unnest(
        $1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[],
        $8::int[], $9::text[], $10::text[], $11::timestamptz[], $12::text[], $13::text[]
    ) WITH ORDINALITY AS i(id, chat_id, sender_id, message_type, text, image_key, image_width,
                           image_height, image_content_type, client_id, created_at, reply_to,
                           preview, ord)
),
locked AS MATERIALIZED (
    SELECT c.id, c.last_seq, c.xmin AS version FROM chats c WHERE c.id = ANY($14::text[])
    ORDER BY c.id FOR NO KEY UPDATE
),
current AS MATERIALIZED (
    SELECT l.id, l.last_seq FROM locked l JOIN chats s ON s.id = l.id AND s.xmin = l.version
),
accepted AS MATERIALIZED (
    SELECT i.*, c.last_seq + row_number() OVER (PARTITION BY i.chat_id ORDER BY i.ord) AS chat_seq
    FROM input i JOIN current c ON c.id = i.chat_id
    WHERE EXISTS (SELECT 1 FROM chat_members m WHERE m.chat_id = i.chat_id AND m.user_id = i.sender_id)
),
inserted AS (
    INSERT INTO messages (id, chat_id, sender_id, message_type, text, image_key, image_width,
                          image_height, image_content_type, client_id, created_at, updated_at,
                          chat_seq, reply_to)
    SELECT id, chat_id, sender_id, message_type, text, image_key, image_width, image_height,
           image_content_type, client_id, created_at, created_at, chat_seq, reply_to
    FROM accepted ORDER BY ord
    RETURNING id, seq, chat_seq
),
latest AS (
    SELECT DISTINCT ON (a.chat_id) a.chat_id, a.chat_seq, n.seq, a.preview, a.sender_id, a.created_at
    FROM accepted a JOIN inserted n ON n.id = a.id
    ORDER BY a.chat_id, a.chat_seq DESC
),
updated AS (
    UPDATE chats c SET last_seq = l.chat_seq, latest_message_seq = l.seq,
        latest_message_text = l.preview, latest_message_sender = l.sender_id,
        last_activity_at = l.created_at, updated_at = l.created_at
    FROM latest l WHERE c.id = l.chat_id
)
SELECT id, seq, chat_seq, NULL::text[] AS members, NULL::boolean AS stale FROM inserted
UNION ALL
SELECT l.id, NULL, NULL,
       ARRAY(SELECT m.user_id::text FROM chat_members m WHERE m.chat_id = l.id),
       NOT EXISTS (SELECT 1 FROM current c WHERE c.id = l.id)
FROM locked l
"""


async def messages_by_client_ids(
    session: AsyncSession, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], Message]:
    """The stored messages of these ``(sender, clientId)`` pairs."""
    if not keys:
        return {}
    stmt = select(Message).where(
        Message.sender_id.in_({k[0] for k in keys}), Message.client_id.in_({k[1] for k in keys})
    )
    wanted = set(keys)
    return {
        (m.sender_id, m.client_id or ""): m
        for m in (await session.scalars(stmt)).all()
        if (m.sender_id, m.client_id or "") in wanted
    }


async def set_latest_message(
    session: AsyncSession, chat_id: str, *, seq: int, preview: str, sender: str, now: datetime
) -> None:
    """Make ``seq`` the chat's latest message unless a later one already is (concurrent sends)."""
    await session.execute(
        update(Chat)
        .where(Chat.id == chat_id, or_(Chat.latest_message_seq.is_(None), Chat.latest_message_seq < seq))
        .values(
            latest_message_seq=seq,
            latest_message_text=preview,
            latest_message_sender=sender,
            last_activity_at=now,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )


async def advance_read_position(
    session: AsyncSession, chat_id: str, user_id: str, *, from_seq: int, to_seq: int, now: datetime
) -> tuple[list[tuple[str, str]], dict[str, datetime]]:
    """Move ``user_id``'s read position in the chat from ``from_seq`` up to ``to_seq``.

    Returns the ``(message id, sender id)`` of the others' messages the user has now read, and
    ``{message id: seen_at}`` for those that became *seen*: read by every member but the sender.
    Nothing happens when the position is already there (another request moved it first).
    """
    moved = await session.execute(
        update(Member)
        .where(Member.chat_id == chat_id, Member.user_id == user_id, Member.last_read_seq < to_seq)
        .values(last_read_seq=to_seq, last_read_at=now)
        .execution_options(synchronize_session=False)
    )
    if not moved.rowcount:  # type: ignore[attr-defined]
        return [], {}
    in_range = and_(
        Message.chat_id == chat_id,
        Message.seq > from_seq,
        Message.seq <= to_seq,
        Message.sender_id != user_id,
        Message.message_type != TYPE_SYSTEM,
    )
    read = await session.execute(select(Message.id, Message.sender_id).where(in_range).order_by(Message.seq))
    newly_read = [(str(mid), str(sender)) for mid, sender in read.all()]
    if not newly_read:
        return [], {}
    seen = await _mark_seen(session, and_(in_range, Message.seen_at.is_(None)), now)
    return newly_read, seen


async def refresh_seen(session: AsyncSession, chat_id: str, now: datetime) -> None:
    """Mark seen what became seen because a member who had not read it left."""
    await _mark_seen(session, and_(Message.chat_id == chat_id, Message.seen_at.is_(None)), now)


async def _mark_seen(session: AsyncSession, where: ColumnElement[bool], now: datetime) -> dict[str, datetime]:
    reader = aliased(Member)
    someone_behind = exists().where(
        reader.chat_id == Message.chat_id,
        reader.user_id != Message.sender_id,
        reader.last_read_seq < Message.seq,
    )
    result = await session.execute(
        update(Message)
        .where(where, ~someone_behind)
        .values(seen_at=now)
        .returning(Message.id)
        .execution_options(synchronize_session=False)
    )
    return {str(mid): now for mid in result.scalars().all()}


# --- muting ---------------------------------------------------------------------------------------------


async def set_muted_until(session: AsyncSession, chat_id: str, user_id: str, until: datetime | None) -> None:
    await session.execute(
        update(Member)
        .where(Member.chat_id == chat_id, Member.user_id == user_id)
        .values(muted_until=until)
        .execution_options(synchronize_session=False)
    )


# --- messages that change ---------------------------------------------------------------------------------


async def messages_by_ids(session: AsyncSession, message_ids: Iterable[str]) -> dict[str, Message]:
    """The messages of these ids (those that exist)."""
    ids = list(dict.fromkeys(message_ids))
    if not ids:
        return {}
    found = (await session.scalars(select(Message).where(Message.id.in_(ids)))).all()
    return {m.id: m for m in found}


async def lock_message(session: AsyncSession, message_id: str) -> Message | None:
    """The message, its row locked until the transaction ends (PostgreSQL), re-read under the lock."""
    stmt = (
        select(Message)
        .where(Message.id == message_id)
        .with_for_update(of=Message)
        .execution_options(populate_existing=True)
    )
    return await session.scalar(stmt)


async def edit_message(
    session: AsyncSession, message_id: str, sender_id: str, text: str, *, since: datetime, now: datetime
) -> bool:
    """Set the text of the sender's message if it is not deleted and was sent at ``since`` or later.

    One conditional row update, so an edit racing with a deletion or another edit cannot resurrect
    a tombstone; False when the conditions no longer held.
    """
    result = await session.execute(
        update(Message)
        .where(
            Message.id == message_id,
            Message.sender_id == sender_id,
            Message.deleted.is_(False),
            Message.message_type != TYPE_SYSTEM,
            Message.created_at >= since,
        )
        .values(text=text, edited_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def tombstone_message(session: AsyncSession, message_id: str, now: datetime) -> bool:
    """Turn the message into a tombstone (text "", no image, reply or reactions); False if it already was."""
    result = await session.execute(
        update(Message)
        .where(Message.id == message_id, Message.deleted.is_(False), Message.message_type != TYPE_SYSTEM)
        .values(
            deleted=True,
            text="",
            image_key=None,
            image_width=None,
            image_height=None,
            image_content_type=None,
            reply_to=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    await session.execute(delete(Reaction).where(Reaction.message_id == message_id))
    return True


async def set_latest_preview(session: AsyncSession, chat_id: str, seq: int, preview: str | None) -> None:
    """The chat list's preview of its latest message, if ``seq`` is still its latest (None: deleted)."""
    await session.execute(
        update(Chat)
        .where(Chat.id == chat_id, Chat.latest_message_seq == seq)
        .values(latest_message_text=preview)
        .execution_options(synchronize_session=False)
    )


# --- search ---------------------------------------------------------------------------------------------
#
# PostgreSQL indexes ``parley_fold(messages.text)`` (migration 0004) and keeps the index itself.
# SQLite keeps each message's folded text in the FTS5 table ``messages_fts`` under its ``seq``:
# the functions below write it, and are no-ops on PostgreSQL. Whoever changes a message's text
# calls :func:`reindex_message`; whoever deletes a message (or blanks it to a tombstone) calls
# :func:`unindex_message`, in the same transaction.

_FTS = table("messages_fts", column("rowid"), column("body"))
# System messages (group changes) are never found.
_NOT_SEARCHED = TYPE_SYSTEM


def _is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


async def index_messages(session: AsyncSession, messages: list[tuple[int, str]]) -> None:
    """Make these ``(seq, text)`` findable: one statement for the whole batch (SQLite only)."""
    rows = [{"rowid": seq, "body": fold(text)} for seq, text in messages if text]
    if not rows or _is_postgres(session):
        return
    await session.execute(_FTS.insert(), rows)


async def reindex_message(session: AsyncSession, seq: int, text: str) -> None:
    """The message ``seq`` now reads ``text`` (an edit): it is found by the new text only."""
    if _is_postgres(session):
        return
    await unindex_message(session, seq)
    await index_messages(session, [(seq, text)])


async def unindex_message(session: AsyncSession, seq: int) -> None:
    """The message ``seq`` is deleted: it is never found again."""
    if _is_postgres(session):
        return
    await session.execute(_FTS.delete().where(_FTS.c.rowid == seq))


async def fold_query(session: AsyncSession, query: str) -> str:
    """The query folded the way the index folds text (PostgreSQL's ``unaccent`` rules there)."""
    if _is_postgres(session):
        return str(await session.scalar(select(func.parley_fold(query))))
    return fold(query)


async def search_candidates(
    session: AsyncSession, user_id: str, words: list[str], *, chat_id: str | None = None
) -> list[tuple[Message, str]]:
    """The newest (at most :data:`MAX_CANDIDATES`) messages that may match ``words``, with their folded text.

    Only text and image messages of chats ``user_id`` belongs to now. Every word occurs in the
    text, or (five letters or more) is trigram-similar to a word of it; :mod:`parley.chat.search`
    decides which candidates match and how well.
    """
    visible = Message.chat_id.in_(chat_ids_visible_to(user_id))
    conditions: list[ColumnElement[bool]] = [
        visible,
        Message.message_type != _NOT_SEARCHED,
        Message.deleted.is_(False),
    ]
    if chat_id is not None:
        conditions.append(Message.chat_id == chat_id)
    if _is_postgres(session):
        folded = func.parley_fold(Message.text)
        typo = [w for w in words if len(w) >= 5]
        for word in words:
            found = folded.like(like_pattern(word), escape="\\")
            conditions.append(or_(found, folded.op("%>")(word)) if word in typo else found)
        if typo:
            # One wrong letter in the middle of a five-letter word leaves it 3 of its 6 trigrams, a
            # word similarity of 3 / (6 + 6 - 3) = 0.33: the least any one-letter typo leaves.
            await session.execute(select(func.set_config("pg_trgm.word_similarity_threshold", "0.3", True)))
        stmt = select(Message, folded).where(*conditions)
    else:
        body = _FTS.c.body
        stmt = select(Message, body).join(_FTS, _FTS.c.rowid == Message.seq).where(*conditions)
        match = fts_query(words, await _middle_letters(session, words))
        if match is not None:
            stmt = stmt.where(sql_text("messages_fts MATCH :match").bindparams(match=match))
        for word in words:
            if len(word) < 3:
                stmt = stmt.where(body.like(like_pattern(word), escape="\\"))
    stmt = stmt.order_by(Message.seq.desc()).limit(MAX_CANDIDATES)
    return [(message, str(folded_text)) for message, folded_text in (await session.execute(stmt)).all()]


# The FTS5 table's vocabulary: every trigram it holds, in order (SQLite only; migration 0006).
_FTS_VOCAB = table("messages_fts_vocab", column("term"))
# At most this many other middle letters are tried for one word (the bound on the query's size).
MAX_MIDDLE_LETTERS = 64


async def _middle_letters(session: AsyncSession, words: list[str]) -> dict[str, list[str]]:
    """For each five-letter word, the letters that follow its first two anywhere in the index.

    One range read of the trigram vocabulary per such word: "hexlo" looks up the trigrams that
    start with "he" and so tries "hello", "helps" … as its variants (see ``search.fts_query``).
    """
    found: dict[str, list[str]] = {}
    for word in words:
        if not needs_middle_variants(word):
            continue
        prefix = word[:2]
        stmt = (
            select(_FTS_VOCAB.c.term)
            .where(_FTS_VOCAB.c.term >= prefix, _FTS_VOCAB.c.term < prefix + "\U0010ffff")
            .limit(MAX_MIDDLE_LETTERS * 2)
        )
        terms = [str(term) for term in (await session.scalars(stmt)).all()]
        found[word] = [t[2] for t in terms if len(t) == 3 and t.startswith(prefix)][:MAX_MIDDLE_LETTERS]
    return found


async def messages_after(session: AsyncSession, chat_id: str, *, after_seq: int, limit: int) -> list[Message]:
    """Up to ``limit`` of the chat's messages after ``after_seq``, oldest first (exports)."""
    stmt = (
        select(Message)
        .where(Message.chat_id == chat_id, Message.seq > after_seq)
        .order_by(Message.seq)
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())


async def chats_by_ids(session: AsyncSession, chat_ids: Sequence[str]) -> dict[str, Chat]:
    if not chat_ids:
        return {}
    return {
        chat.id: chat for chat in (await session.scalars(select(Chat).where(Chat.id.in_(chat_ids)))).all()
    }


async def reactions_of(
    session: AsyncSession, message_ids: Sequence[str]
) -> dict[str, list[tuple[str, list[str]]]]:
    """Each message's reactions: ``[(emoji, [user, …]), …]`` in the order each emoji was first used."""
    if not message_ids:
        return {}
    stmt = (
        select(Reaction.message_id, Reaction.emoji, Reaction.user_id, Reaction.created_at)
        .where(Reaction.message_id.in_(list(message_ids)))
        .order_by(Reaction.message_id, Reaction.created_at, Reaction.emoji, Reaction.user_id)
    )
    grouped: dict[str, dict[str, list[str]]] = defaultdict(dict)
    for message_id, emoji, user_id, _ in (await session.execute(stmt)).all():
        grouped[str(message_id)].setdefault(str(emoji), []).append(str(user_id))
    return {mid: list(by_emoji.items()) for mid, by_emoji in grouped.items()}


async def add_reaction(
    session: AsyncSession, message_id: str, emoji: str, user_id: str, now: datetime
) -> bool:
    """Record the reaction; False when the user had already reacted with that emoji."""
    values = {"message_id": message_id, "emoji": emoji, "user_id": user_id, "created_at": now}
    stmt = _insert_ignoring_conflicts(
        session, Reaction, values, ["message_id", "emoji", "user_id"]
    ).returning(Reaction.user_id)
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def remove_reaction(session: AsyncSession, message_id: str, emoji: str, user_id: str) -> bool:
    result = await session.execute(
        delete(Reaction).where(
            Reaction.message_id == message_id, Reaction.emoji == emoji, Reaction.user_id == user_id
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def reaction_emoji(session: AsyncSession, message_id: str) -> set[str]:
    """The different emoji used on the message."""
    stmt = select(Reaction.emoji).where(Reaction.message_id == message_id).distinct()
    return {str(e) for e in (await session.scalars(stmt)).all()}


async def insert_system_message(
    session: AsyncSession, *, message_id: str, chat_id: str, actor: str, system: str, now: datetime
) -> Message:
    """A system message in the chat, numbered next; the caller holds the chat's row lock."""
    chats = Chat.__table__
    seq_row = await session.execute(
        update(chats)
        .where(chats.c.id == chat_id)
        .values(last_seq=chats.c.last_seq + 1)
        .returning(chats.c.last_seq)
    )
    chat_seq = int(seq_row.scalar_one())
    values: dict[str, Any] = {
        "id": message_id,
        "chat_id": chat_id,
        "sender_id": actor,
        "message_type": TYPE_SYSTEM,
        "text": "",
        "created_at": now,
        "updated_at": now,
        "chat_seq": chat_seq,
        "system": system,
        "deleted": False,
    }
    result = await session.execute(
        Message.__table__.insert().values(values).returning(Message.__table__.c.seq)
    )
    return Message(
        seq=int(result.scalar_one()), seen_at=None, edited_at=None, reply_to=None, client_id=None, **values
    )


# --- missed-message emails --------------------------------------------------------------------------------


@dataclass
class MissedMailMember:
    """A member of a chat as the missed-message check sees them."""

    user_id: str
    last_read_seq: int
    muted_until: datetime | None
    # The claim so far: None when this member was never claimed in this chat.
    claimed_seq: int | None
    emailed_at: datetime | None


async def missed_mail_members(session: AsyncSession, chat_id: str) -> list[MissedMailMember]:
    """Every member of the chat with their read position, mute and missed-mail claim (one query)."""
    claim = MissedMailClaim
    stmt = (
        select(Member.user_id, Member.last_read_seq, Member.muted_until, claim.up_to_seq, claim.emailed_at)
        .outerjoin(claim, and_(claim.chat_id == Member.chat_id, claim.user_id == Member.user_id))
        .where(Member.chat_id == chat_id)
        .order_by(Member.user_id)
    )
    return [
        MissedMailMember(str(uid), int(read), muted, None if up_to is None else int(up_to), emailed)
        for uid, read, muted, up_to, emailed in (await session.execute(stmt)).all()
    ]


async def unseen_candidates(
    session: AsyncSession, chat_id: str, *, after_seq: int, limit: int
) -> list[Message]:
    """The newest ``limit`` messages past ``after_seq`` that can be unseen (not system, not deleted),
    oldest first."""
    stmt = (
        select(Message)
        .where(
            Message.chat_id == chat_id,
            Message.seq > after_seq,
            Message.message_type != TYPE_SYSTEM,
            Message.deleted.is_(False),
        )
        .order_by(Message.seq.desc())
        .limit(limit)
    )
    return list(reversed((await session.scalars(stmt)).all()))


async def claim_missed_mail(
    session: AsyncSession,
    chat_id: str,
    user_id: str,
    *,
    previous: int | None,
    up_to: int,
    emailed_at: datetime | None,
) -> bool:
    """Move the member's claim from ``previous`` (None: no claim yet) to ``up_to``; False when
    someone else moved it first (then they email, not the caller)."""
    if previous is None:
        values = {"chat_id": chat_id, "user_id": user_id, "up_to_seq": up_to, "emailed_at": emailed_at}
        stmt = _insert_ignoring_conflicts(session, MissedMailClaim, values, ["chat_id", "user_id"])
        inserted = await session.execute(stmt.returning(MissedMailClaim.user_id))
        return inserted.first() is not None
    changes: dict[str, Any] = {"up_to_seq": up_to}
    if emailed_at is not None:
        changes["emailed_at"] = emailed_at
    moved = await session.execute(
        update(MissedMailClaim)
        .where(
            MissedMailClaim.chat_id == chat_id,
            MissedMailClaim.user_id == user_id,
            MissedMailClaim.up_to_seq == previous,
        )
        .values(**changes)
        .execution_options(synchronize_session=False)
    )
    return bool(moved.rowcount)  # type: ignore[attr-defined]


async def recently_active_chats(
    session: AsyncSession, since: datetime, limit: int
) -> list[tuple[str, int, datetime]]:
    """``(chat id, latest message seq, last activity)`` of chats with a message since ``since``, newest first."""
    stmt = (
        select(Chat.id, Chat.latest_message_seq, Chat.last_activity_at)
        .where(Chat.last_activity_at >= since, Chat.latest_message_seq.is_not(None))
        .order_by(Chat.last_activity_at.desc())
        .limit(limit)
    )
    return [(str(cid), int(seq or 0), at) for cid, seq, at in (await session.execute(stmt)).all()]
