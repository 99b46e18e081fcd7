"""The user service's tables and the statements that read and write them.

``users`` (with each user's settings), ``sessions``: one per login (``/verify``), which every
token names (see :mod:`parley.core.auth`), so the database is where a logout is remembered for
good; and ``blocks``: who blocked whom. E-mail addresses are stored lower-case and are unique: that constraint is
what makes two racing first logins for one address end up with one user. ``name_key`` is the
case-folded name, kept beside the name so search and the directory's order behave the same on
SQLite and PostgreSQL (SQLite's ``lower()`` only knows ASCII); the index on ``(name_key, id)``
serves the directory's order and its cursor.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import (
    Boolean,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Select,
    String,
    and_,
    delete,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from parley.core.database import UTCDateTime, make_base
from parley.core.ids import is_id, new_id

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

Base = make_base()

EMAIL_MAX = 254
NAME_MAX = 50
# Case folding may lengthen a name ("ß" → "ss"), so its key has room to grow.
NAME_KEY_MAX = 200
USER_AGENT_MAX = 300
AVATAR_ID_MAX = 32
LIKE_ESCAPE = "\\"


def utcnow() -> datetime:
    # Millisecond precision: what the documents show is what the database holds.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def name_key(name: str) -> str:
    """The form of a name that search and ordering compare."""
    return name.casefold()


class User(Base):  # type: ignore[valid-type, misc]
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    email: Mapped[str] = mapped_column(String(EMAIL_MAX), unique=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    name_key: Mapped[str] = mapped_column(String(NAME_KEY_MAX))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Settings (``/me/settings``); both on unless the user turns them off.
    email_notifications: Mapped[bool] = mapped_column(Boolean(), server_default=true(), default=True)
    read_receipts: Mapped[bool] = mapped_column(Boolean(), server_default=true(), default=True)
    # The current avatar's random id (see :mod:`parley.user.avatars`); None without one.
    avatar_id: Mapped[str | None] = mapped_column(String(AVATAR_ID_MAX), nullable=True, default=None)

    __table_args__ = (Index("ix_users_name_key_id", "name_key", "id"),)


class Block(Base):  # type: ignore[valid-type, misc]
    """``blocker_id`` blocked ``blocked_id``; the index on ``blocked_id`` answers "who blocked me"."""

    __tablename__ = "blocks"

    blocker_id: Mapped[str] = mapped_column(String(24))
    blocked_id: Mapped[str] = mapped_column(String(24))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        PrimaryKeyConstraint("blocker_id", "blocked_id", name="pk_blocks"),
        Index("ix_blocks_blocked_id", "blocked_id"),
    )


class LoginSession(Base):  # type: ignore[valid-type, misc]
    """A signed-in device: its tokens (generation ``generation`` and later) are good until ``expires_at``."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(24))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime())
    user_agent: Mapped[str] = mapped_column(String(USER_AGENT_MAX))
    # Tokens of a lower generation were replaced (by a rename) and are refused.
    generation: Mapped[int] = mapped_column(Integer())
    # When the session's newest token expires.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (
        Index("ix_sessions_user_id", "user_id"),
        Index("ix_sessions_expires_at", "expires_at"),
    )


async def get_user(session: AsyncSession, user_id: str) -> User | None:
    """The user with ``user_id``; None when there is none or ``user_id`` is not an id."""
    if not is_id(user_id):
        return None
    return await session.get(User, user_id)


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    """The user with this (already normalised) address."""
    result = await session.execute(select(User).where(User.email == email))
    return result.scalar_one_or_none()


async def get_users(session: AsyncSession, user_ids: Sequence[str]) -> list[User]:
    """The users among ``user_ids`` that exist, in the order asked; malformed ids are skipped."""
    wanted = list(dict.fromkeys(uid for uid in user_ids if is_id(uid)))
    if not wanted:
        return []
    result = await session.execute(select(User).where(User.id.in_(wanted)))
    found = {user.id: user for user in result.scalars()}
    return [found[uid] for uid in wanted if uid in found]


async def get_or_create_user(session: AsyncSession, email: str, name: str) -> tuple[User, bool]:
    """The user with ``email``, created with ``name`` if there is none; and whether it was created.

    Two first logins racing for one address both get the same user: the insert does nothing when
    the unique address is already taken (it waits for a racing insert to commit first), and the
    row is then read back. Unlike catching an ``IntegrityError``, this leaves the transaction usable
    on PostgreSQL.
    """
    existing = await get_user_by_email(session, email)
    if existing is not None:
        return existing, False
    now = utcnow()
    values = {
        "id": new_id(),
        "email": email,
        "name": name,
        "name_key": name_key(name),
        "created_at": now,
        "updated_at": now,
    }
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(User).values(**values).on_conflict_do_nothing(index_elements=["email"])
    result = await session.execute(statement)
    created = bool(getattr(result, "rowcount", 0))
    user = await get_user_by_email(session, email)
    if user is None:  # pragma: no cover - the row either was inserted or already existed
        raise RuntimeError("user vanished between insert and read")
    return user, created


async def rename_user(session: AsyncSession, user: User, name: str) -> User:
    """Give ``user`` a new (already validated) name."""
    user.name = name
    user.name_key = name_key(name)
    user.updated_at = utcnow()
    await session.flush()
    return user


async def set_avatar(session: AsyncSession, user: User, avatar_id: str | None) -> str | None:
    """Give ``user`` the avatar ``avatar_id`` (None: no avatar); the id it replaces."""
    previous = user.avatar_id
    if previous != avatar_id:
        user.avatar_id = avatar_id
        user.updated_at = utcnow()
        await session.flush()
    return previous


def escape_like(text: str) -> str:
    """``text`` with LIKE's wildcards escaped, so it matches only itself."""
    return (
        text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )


def directory(
    *, query: str | None, exclude: str | None, after: tuple[str, str] | None, limit: int
) -> Select[User]:
    """The directory's statement: users whose name contains ``query`` or whose address is ``query``.

    Only a whole address matches: a match on part of one would let a caller spell out anyone's
    address a character at a time.

    Ordered by ``(name_key, id)``; ``after`` is the last key of the previous page.
    """
    statement = select(User)
    if exclude is not None:
        statement = statement.where(User.id != exclude)
    if query:
        statement = statement.where(
            or_(
                User.name_key.like(f"%{escape_like(name_key(query))}%", escape=LIKE_ESCAPE),
                User.email == query.strip().lower(),
            )
        )
    if after is not None:
        key, last_id = after
        statement = statement.where(or_(User.name_key > key, and_(User.name_key == key, User.id > last_id)))
    return statement.order_by(User.name_key, User.id).limit(limit)


async def search_users(
    session: AsyncSession,
    *,
    query: str | None,
    exclude: str | None,
    after: tuple[str, str] | None,
    limit: int,
) -> tuple[list[User], tuple[str, str] | None]:
    """A page of the directory, and the key to continue after (None on the last page)."""
    result = await session.execute(directory(query=query, exclude=exclude, after=after, limit=limit + 1))
    users = list(result.scalars())
    if len(users) <= limit:
        return users, None
    page = users[:limit]
    return page, (page[-1].name_key, page[-1].id)


async def update_settings(
    session: AsyncSession, user: User, *, email_notifications: bool | None, read_receipts: bool | None
) -> User:
    """Change the settings given (None leaves one as it is)."""
    changed = False
    if email_notifications is not None and email_notifications != user.email_notifications:
        user.email_notifications = email_notifications
        changed = True
    if read_receipts is not None and read_receipts != user.read_receipts:
        user.read_receipts = read_receipts
        changed = True
    if changed:
        user.updated_at = utcnow()
        await session.flush()
    return user


# ---------------------------------------------------------------- blocks


async def lock_user(session: AsyncSession, user_id: str) -> User | None:
    """The user's row, locked until the transaction ends; None when there is none.

    PostgreSQL locks the row. SQLite has no row locks: a write that changes nothing takes the
    database's write lock instead, so what the transaction reads next stays true until it commits.
    """
    if not is_id(user_id):
        return None
    if session.get_bind().dialect.name == "sqlite":
        await session.execute(update(User).where(User.id == user_id).values(name_key=User.name_key))
    result = await session.execute(
        select(User).where(User.id == user_id).with_for_update().execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def is_blocked(session: AsyncSession, blocker_id: str, blocked_id: str) -> bool:
    return await session.get(Block, (blocker_id, blocked_id)) is not None


async def count_blocks(session: AsyncSession, blocker_id: str) -> int:
    """How many people ``blocker_id`` has blocked."""
    result = await session.execute(
        select(func.count()).select_from(Block).where(Block.blocker_id == blocker_id)
    )
    return int(result.scalar_one())


async def add_block(session: AsyncSession, blocker_id: str, blocked_id: str) -> bool:
    """Record the block unless it exists; whether it is new."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(Block)
        .values(blocker_id=blocker_id, blocked_id=blocked_id, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["blocker_id", "blocked_id"])
    )
    result = await session.execute(statement)
    return bool(getattr(result, "rowcount", 0))


async def remove_block(session: AsyncSession, blocker_id: str, blocked_id: str) -> bool:
    """Forget the block; whether there was one."""
    result = await session.execute(
        delete(Block).where(Block.blocker_id == blocker_id, Block.blocked_id == blocked_id)
    )
    return bool(getattr(result, "rowcount", 0))


async def blocked_users(
    session: AsyncSession, blocker_id: str, *, after: tuple[str, str] | None, limit: int
) -> tuple[list[User], tuple[str, str] | None]:
    """A page of the users ``blocker_id`` blocked, in the directory's order; and the key to continue after."""
    statement = select(User).join(Block, Block.blocked_id == User.id).where(Block.blocker_id == blocker_id)
    if after is not None:
        key, last_id = after
        statement = statement.where(or_(User.name_key > key, and_(User.name_key == key, User.id > last_id)))
    result = await session.execute(statement.order_by(User.name_key, User.id).limit(limit + 1))
    users = list(result.scalars())
    if len(users) <= limit:
        return users, None
    page = users[:limit]
    return page, (page[-1].name_key, page[-1].id)


async def block_relations(
    session: AsyncSession, user_id: str, others: Sequence[str]
) -> tuple[set[str], set[str]]:
    """Among ``others``: those ``user_id`` blocked, and those who blocked ``user_id``."""
    wanted = list(dict.fromkeys(uid for uid in others if is_id(uid)))
    if not wanted:
        return set(), set()
    result = await session.execute(
        select(Block.blocker_id, Block.blocked_id).where(
            or_(
                and_(Block.blocker_id == user_id, Block.blocked_id.in_(wanted)),
                and_(Block.blocked_id == user_id, Block.blocker_id.in_(wanted)),
            )
        )
    )
    blocking: set[str] = set()
    blocked_by: set[str] = set()
    for blocker, blocked in result.all():
        if blocker == user_id:
            blocking.add(blocked)
        else:
            blocked_by.add(blocker)
    return blocking, blocked_by


# ---------------------------------------------------------------- sessions


async def create_session(
    session: AsyncSession, user_id: str, user_agent: str, expires_at: datetime
) -> LoginSession:
    now = utcnow()
    row = LoginSession(
        id=new_id(),
        user_id=user_id,
        created_at=now,
        last_used_at=now,
        user_agent=user_agent[:USER_AGENT_MAX],
        generation=0,
        expires_at=expires_at,
        revoked_at=None,
    )
    session.add(row)
    await session.flush()
    return row


async def get_session(
    session: AsyncSession, session_id: str, *, for_update: bool = False
) -> LoginSession | None:
    """The login session ``session_id``; None when there is none or the id is malformed."""
    if not is_id(session_id):
        return None
    statement = select(LoginSession).where(LoginSession.id == session_id)
    if for_update:
        statement = statement.with_for_update()
    return (await session.execute(statement)).scalar_one_or_none()


async def active_sessions(session: AsyncSession, user_id: str, now: datetime) -> list[LoginSession]:
    """The user's sessions that are neither revoked nor expired, most recently used first."""
    result = await session.execute(
        select(LoginSession)
        .where(
            LoginSession.user_id == user_id,
            LoginSession.revoked_at.is_(None),
            LoginSession.expires_at > now,
        )
        .order_by(LoginSession.last_used_at.desc(), LoginSession.id.desc())
    )
    return list(result.scalars())


async def revoked_sessions(session: AsyncSession, now: datetime) -> list[LoginSession]:
    """Unexpired sessions some of whose tokens are refused: revoked ones, and renamed ones."""
    result = await session.execute(
        select(LoginSession).where(
            LoginSession.expires_at > now,
            or_(LoginSession.revoked_at.is_not(None), LoginSession.generation > 0),
        )
    )
    return list(result.scalars())


async def touch_session(session: AsyncSession, session_id: str, now: datetime, older_than: datetime) -> None:
    """Record that ``session_id`` was used ``now``, unless that was already recorded since ``older_than``."""
    if not is_id(session_id):
        return
    await session.execute(
        update(LoginSession)
        .where(LoginSession.id == session_id, LoginSession.last_used_at < older_than)
        .values(last_used_at=now)
    )
