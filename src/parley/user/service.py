"""The user service's logic: logging in with an emailed code, profiles, settings, blocks, the directory.

Functions take the session (or the :class:`Login` that holds the cache, bus and tokens) explicitly
and never commit: the request's unit of work commits once, before the answer is sent. The exceptions
are changes something outside the database must follow, only once they are durable: token
revocations (:func:`_commit_then_revoke`) and block changes (:func:`announce_block_change`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import structlog
from email_validator import EmailNotValidError, validate_email
from limits.errors import StorageError
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from parley.core import text as text_rules
from parley.core.auth import Identity, Tokens
from parley.core.bus import Bus
from parley.core.database import Database
from parley.core.ids import is_id
from parley.core.mail import OTP_KIND, MailRequest
from parley.core.metrics import OTPS_ISSUED, OTPS_REFUSED
from parley.core.ratelimit import RateLimiter
from parley.core.redact import email_ref
from parley.core.revocations import Revocation
from parley.user import store
from parley.user.contacts import ChatContacts
from parley.user.errors import (
    AccountGone,
    BackendUnavailable,
    BlockYourself,
    CodeExpired,
    CodeVoid,
    InvalidCode,
    InvalidCursor,
    InvalidEmail,
    InvalidName,
    InvalidUnsubscribeLink,
    MailUnavailable,
    MalformedCode,
    ResendTooSoon,
    SessionNotFound,
    TooManyBlocks,
    TooManyFailures,
    TooManyRequests,
    UserNotFound,
)
from parley.user.otp import Check, OtpStore, well_formed
from parley.user.store import EMAIL_MAX, NAME_MAX, User
from parley.user.unsubscribe import UnsubscribeLinks

log = structlog.get_logger(__name__)

DEFAULT_PAGE = 50
MAX_PAGE = 100
PUBLISH_TIMEOUT_SECONDS = 5.0
OTP_SUBJECT = "Your Parley login code"
FALLBACK_NAME = "User"
RESTORE_BATCH = 1000
# How often a session's ``lastUsedAt`` is written at most.
TOUCH_SECONDS = 60.0
# How many people one user may block: enough for anyone, and the table cannot grow without bound.
MAX_BLOCKS = 1000


# ---------------------------------------------------------------- input


def normalize_email(raw: str) -> str:
    """``raw`` trimmed, lower-cased and checked; :class:`InvalidEmail` with the reason otherwise."""
    email = raw.strip().lower()
    if not email:
        raise InvalidEmail("Please enter your email address")
    if len(email) > EMAIL_MAX:
        raise InvalidEmail(f"An email address is at most {EMAIL_MAX} characters")
    try:
        checked = validate_email(email, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmail(f"Please enter a valid email address: {exc}") from None
    normalized = checked.normalized.lower()
    if len(normalized) > EMAIL_MAX:
        raise InvalidEmail(f"An email address is at most {EMAIL_MAX} characters")
    return normalized


def clean_name(raw: str) -> str:
    """A display name: trimmed, 1–50 characters, something visible, nothing hidden (see ``core.text``).

    Characters are counted as code points after NFC normalisation, never as bytes.
    """
    try:
        return text_rules.clean_name(raw, max_length=NAME_MAX)
    except text_rules.TextRefused as exc:
        raise InvalidName(str(exc)) from None


def default_name(email: str) -> str:
    """A new user's name: the part of their address before the ``@``, cut to 50 characters."""
    local = email.rsplit("@", 1)[0]
    try:
        return clean_name(local[:NAME_MAX])
    except InvalidName:
        return FALLBACK_NAME


def otp_mail(email: str, code: str, ttl_seconds: int) -> MailRequest:
    """The code's email for the mail queue: the seed's ``{to, subject, body}``, with its ``code``."""
    if ttl_seconds % 60 == 0:
        minutes = ttl_seconds // 60
        lifetime = f"{minutes} minute{'s' if minutes != 1 else ''}"
    else:
        lifetime = f"{ttl_seconds} seconds"
    body = (
        f"Your Parley login code is {code}\n\n"
        f"It expires in {lifetime} and works once. "
        "If you did not try to log in, you can ignore this email."
    )
    return MailRequest(to=email, subject=OTP_SUBJECT, body=body, kind=OTP_KIND, code=code)


def _in_time(seconds: int) -> str:
    """``in 5 minutes``, ``in about 3 hours``: a wait as a person reads it."""
    if seconds < 90:
        return f"in {seconds} seconds"
    if seconds < 90 * 60:
        return f"in {round(seconds / 60)} minutes"
    return f"in about {round(seconds / 3600)} hours"


@contextmanager
def backend_errors() -> Iterator[None]:
    """The cache being away is the service being briefly unavailable, never a 500."""
    try:
        yield
    except (RedisError, StorageError, ConnectionError, TimeoutError) as exc:
        log.warning("user.cache.unavailable", error=type(exc).__name__)
        raise BackendUnavailable() from exc


# ---------------------------------------------------------------- login


class Login:
    """Logging in: a code by email (``/login``), exchanged for a token (``/verify``)."""

    def __init__(
        self,
        *,
        otps: OtpStore,
        limiter: RateLimiter,
        bus: Bus,
        tokens: Tokens,
        mail_queue: str,
        login_rate: int,
        verify_rate: int,
    ) -> None:
        self.otps = otps
        self.limiter = limiter
        self.bus = bus
        self.tokens = tokens
        self.mail_queue = mail_queue
        self.login_rate = login_rate
        self.verify_rate = verify_rate

    async def _limit(self, name: str, ip: str, per_minute: int) -> None:
        with backend_errors():
            wait = await self.limiter.hit(name, ip, per_minute)
        if wait:
            log.info("user.ratelimit.refused", limit=name, ip=ip)
            raise TooManyRequests(
                f"Too many attempts from your network, please try again in {wait} seconds",
                retry_after=wait,
            )

    async def request_code(self, raw_email: str, ip: str) -> str:
        """Email a fresh code to ``raw_email``; the normalised address.

        Order: the address is checked, then the client's rate, then the address's resend
        cooldown; only then is a code made and queued. When it cannot be queued, the code and the
        cooldown are undone so the person may ask again at once.
        """
        email = normalize_email(raw_email)
        await self._limit("login", ip, self.login_rate)
        with backend_errors():
            wait = await self.otps.start_cooldown(email)
            if wait:
                raise ResendTooSoon(
                    f"A code was just sent; you can ask for another in {wait} seconds", retry_after=wait
                )
            code = await self.otps.issue(email)
        mail = otp_mail(email, code, self.otps.ttl)
        try:
            # A bus that knows it is disconnected fails at once instead of after the timeout.
            await self.bus.ping()
            await asyncio.wait_for(
                self.bus.publish(self.mail_queue, mail.to_message()), PUBLISH_TIMEOUT_SECONDS
            )
        except Exception as exc:
            log.warning("user.otp.unsent", email=email_ref(email), error=type(exc).__name__)
            with backend_errors():
                await self.otps.discard(email)
                await self.otps.clear_cooldown(email)
            raise MailUnavailable() from exc
        OTPS_ISSUED.inc()
        log.info("user.otp.sent", email=email_ref(email))
        return email

    async def verify(
        self, session: AsyncSession, raw_email: str, raw_code: str, ip: str, user_agent: str = ""
    ) -> tuple[User, str]:
        """Exchange a code for the user (created on their first login) and a token of a new session."""
        email = normalize_email(raw_email)
        await self._limit("verify", ip, self.verify_rate)
        code = raw_code.strip()
        if not well_formed(code):
            OTPS_REFUSED.labels("malformed").inc()
            raise MalformedCode()
        with backend_errors():
            wait = await self.otps.take_guess(email)
            if wait:
                OTPS_REFUSED.labels("too_many_failures").inc()
                log.info("user.otp.locked", email=email_ref(email))
                raise TooManyFailures(
                    "Too many wrong codes for this address: you can try again "
                    f"{_in_time(wait)}. Codes are checked this slowly to keep accounts safe.",
                    retry_after=wait,
                )
            outcome = await self.otps.check(email, code)
            if outcome.check is not Check.INVALID:
                await self.otps.give_back_guess(email)
            if outcome.check is Check.VOID or (outcome.check is Check.INVALID and outcome.attempts_left == 0):
                # This code can never work now: a new one may be asked for at once.
                await self.otps.clear_cooldown(email)
        if outcome.check is not Check.OK:
            OTPS_REFUSED.labels(outcome.check.value).inc()
            log.info("user.otp.refused", email=email_ref(email), reason=outcome.check.value)
            if outcome.check is Check.EXPIRED:
                raise CodeExpired()
            if outcome.check is Check.VOID:
                raise CodeVoid()
            if outcome.attempts_left == 0:
                raise InvalidCode("Invalid code. That was the last try: please request a new code")
            raise InvalidCode()
        user, created = await store.get_or_create_user(session, email, default_name(email))
        login = await store.create_session(session, user.id, user_agent, token_expiry(self.tokens))
        log.info("user.login", user_id=user.id, session_id=login.id, new=created)
        return user, self.tokens.issue(token_claims(user), session=login.id)


def token_claims(user: User) -> dict[str, str]:
    """What a token says about its user (``{_id, name, email}``, as the seed's)."""
    return {"_id": user.id, "name": user.name, "email": user.email}


def token_expiry(tokens: Tokens) -> datetime:
    """A moment no earlier than the expiry of a token issued now (``exp`` is whole seconds)."""
    return datetime.fromtimestamp(int(time.time()) + tokens.ttl + 1, UTC)


def _ends(row: store.LoginSession | None, identity: Identity) -> int:
    """When the last token of ``identity``'s session expires (Unix time)."""
    until = identity.exp + 1
    if row is not None:
        until = max(until, int(row.expires_at.timestamp()) + 1)
    return until


async def _commit_then_revoke(session: AsyncSession, tokens: Tokens, revocations: list[Revocation]) -> None:
    """Make the change durable, then announce the revocations to every service.

    In this order because the database is what makes a revocation last (it is written back into
    the cache at every start): announced first, a revocation whose commit then failed would refuse
    tokens for a change that never happened (a rename whose new token never reached its client)
    and come undone at the next start. The other way round, an announcement that fails after the
    commit answers 503 and errs on the safe side: the session is already refused from the next
    start on, and a retried logout or rename announces again.
    """
    await session.commit()
    with backend_errors():
        await tokens.revoke_sessions(revocations)


async def logout(session: AsyncSession, tokens: Tokens, identity: Identity) -> None:
    """End the caller's session: its tokens are refused from now on, in every service, for good."""
    row = await store.get_session(session, identity.session, for_update=True)
    if row is not None and row.user_id == identity.id:
        row.revoked_at = store.utcnow()
    else:
        row = None
    await _commit_then_revoke(
        session, tokens, [Revocation(identity.session, None, _ends(row, identity), identity.id)]
    )
    log.info("user.logout", user_id=identity.id, session_id=identity.session)


async def logout_everywhere(session: AsyncSession, tokens: Tokens, identity: Identity) -> int:
    """End every session of the caller; how many there were."""
    now = store.utcnow()
    rows = await store.active_sessions(session, identity.id, now)
    revocations = [Revocation(identity.session, None, identity.exp + 1, identity.id)]
    for row in rows:
        row.revoked_at = now
        revocations.append(Revocation(row.id, None, int(row.expires_at.timestamp()) + 1, identity.id))
    await _commit_then_revoke(session, tokens, revocations)
    log.info("user.logout_all", user_id=identity.id, sessions=len(rows))
    return len(rows)


async def list_sessions(session: AsyncSession, identity: Identity) -> list[store.LoginSession]:
    """The caller's signed-in sessions, most recently used first."""
    return await store.active_sessions(session, identity.id, store.utcnow())


async def end_session(session: AsyncSession, tokens: Tokens, identity: Identity, session_id: str) -> None:
    """End one of the caller's sessions; :class:`SessionNotFound` for anyone else's or an ended one."""
    row = await store.get_session(session, session_id, for_update=True)
    now = store.utcnow()
    if row is None or row.user_id != identity.id or row.revoked_at is not None or row.expires_at <= now:
        raise SessionNotFound()
    row.revoked_at = now
    await _commit_then_revoke(
        session, tokens, [Revocation(row.id, None, int(row.expires_at.timestamp()) + 1, identity.id)]
    )
    log.info("user.session.ended", user_id=identity.id, session_id=row.id)


async def restore_revocations(db: Database, tokens: Tokens) -> int:
    """Write every unexpired revocation the database remembers back into the cache (at start).

    The cache may have started empty (in ``parley up`` it lives in memory): the database is
    what makes a logout last.
    """
    async with db.session() as session:
        rows = await store.revoked_sessions(session, store.utcnow())
    revocations = [
        Revocation(
            row.id,
            None if row.revoked_at is not None else row.generation,
            int(row.expires_at.timestamp()) + 1,
            row.user_id,
        )
        for row in rows
    ]
    for start in range(0, len(revocations), RESTORE_BATCH):
        await tokens.revoke_sessions(revocations[start : start + RESTORE_BATCH])
    log.info("user.revocations.restored", count=len(revocations))
    return len(revocations)


class SessionTouches:
    """Records when each session was last used, at most once a minute per session and process."""

    def __init__(self, every_seconds: float = TOUCH_SECONDS, remember: int = 10_000) -> None:
        self.every = every_seconds
        self.remember = remember
        self._last: dict[str, float] = {}

    async def touch(self, session: AsyncSession, identity: Identity) -> None:
        now = time.monotonic()
        last = self._last.get(identity.session)
        if last is not None and now - last < self.every:
            return
        if len(self._last) >= self.remember:
            self._last.clear()
        self._last[identity.session] = now
        moment = store.utcnow()
        await store.touch_session(session, identity.session, moment, moment - timedelta(seconds=self.every))


# ---------------------------------------------------------------- profiles


async def current_user(session: AsyncSession, identity: Identity) -> User:
    """The caller's own user; :class:`AccountGone` if the token outlived its user."""
    user = await store.get_user(session, identity.id)
    if user is None:
        raise AccountGone()
    return user


async def rename(
    session: AsyncSession, tokens: Tokens, identity: Identity, raw_name: str
) -> tuple[User, str]:
    """Change the caller's name; the user and a fresh token carrying the new name.

    The new token is the session's next generation; the one it replaces is refused from now on.
    """
    name = clean_name(raw_name)
    user = await current_user(session, identity)
    user = await store.rename_user(session, user, name)
    row = await store.get_session(session, identity.session, for_update=True)
    if row is not None and row.user_id == identity.id:
        replaced = Revocation(row.id, row.generation + 1, _ends(row, identity), identity.id)
        row.generation += 1
        row.expires_at = token_expiry(tokens)
    else:
        # A token without a session of ours (from before sessions): the new one gets a session.
        replaced = Revocation(identity.session, None, identity.exp + 1, identity.id)
        row = await store.create_session(session, identity.id, "", token_expiry(tokens))
    await _commit_then_revoke(session, tokens, [replaced])
    log.info("user.renamed", user_id=user.id)
    return user, tokens.issue(token_claims(user), session=row.id, generation=row.generation)


async def find_user(session: AsyncSession, user_id: str) -> User:
    """One user by id; :class:`UserNotFound` when there is none or the id is malformed."""
    user = await store.get_user(session, user_id)
    if user is None:
        raise UserNotFound()
    return user


async def find_users(session: AsyncSession, user_ids: Sequence[str]) -> list[User]:
    """The users among ``user_ids`` that exist; unknown and malformed ids are left out."""
    return await store.get_users(session, user_ids)


# ---------------------------------------------------------------- settings


async def update_settings(
    session: AsyncSession,
    identity: Identity,
    *,
    email_notifications: bool | None = None,
    read_receipts: bool | None = None,
) -> User:
    """Change the caller's settings (None leaves one as it is); the user with the settings now."""
    user = await current_user(session, identity)
    user = await store.update_settings(
        session, user, email_notifications=email_notifications, read_receipts=read_receipts
    )
    log.info(
        "user.settings.updated",
        user_id=user.id,
        email_notifications=user.email_notifications,
        read_receipts=user.read_receipts,
    )
    return user


async def unsubscribe(session: AsyncSession, links: UnsubscribeLinks, user_id: str, sig: str) -> None:
    """Turn off ``user_id``'s email notifications through a signed link, without logging in.

    :class:`InvalidUnsubscribeLink` unless ``sig`` is that user's signature (or the user is gone).
    """
    if not is_id(user_id) or not links.valid(user_id, sig):
        raise InvalidUnsubscribeLink()
    user = await store.get_user(session, user_id)
    if user is None:
        raise InvalidUnsubscribeLink()
    was = user.email_notifications
    await store.update_settings(session, user, email_notifications=False, read_receipts=None)
    log.info("user.unsubscribed", user_id=user.id, changed=was)


# ---------------------------------------------------------------- blocks


async def block(session: AsyncSession, identity: Identity, user_id: str) -> None:
    """The caller blocks ``user_id``; blocking someone already blocked changes nothing.

    :class:`BlockYourself` for the caller, :class:`UserNotFound` for nobody, :class:`TooManyBlocks`
    past :data:`MAX_BLOCKS`. The caller's row is locked so two blocks at once cannot both pass it.
    """
    limit = MAX_BLOCKS
    if user_id == identity.id:
        raise BlockYourself()
    if await store.get_user(session, user_id) is None:
        raise UserNotFound()
    if await store.lock_user(session, identity.id) is None:
        raise AccountGone()
    if await store.is_blocked(session, identity.id, user_id):
        return
    if await store.count_blocks(session, identity.id) >= limit:
        raise TooManyBlocks(f"You can block at most {limit} people; unblock someone first")
    if await store.add_block(session, identity.id, user_id):
        log.info("user.blocked", user_id=identity.id, blocked=user_id)


async def unblock(session: AsyncSession, identity: Identity, user_id: str) -> None:
    """The caller unblocks ``user_id``; unblocking someone not blocked changes nothing."""
    if await store.get_user(session, user_id) is None:
        raise UserNotFound()
    if await store.remove_block(session, identity.id, user_id):
        log.info("user.unblocked", user_id=identity.id, unblocked=user_id)


async def announce_block_change(session: AsyncSession, cache: Redis, a: str, b: str) -> None:
    """Commit a block change, then drop the chat service's cached verdict for the pair.

    The chat service keeps whether two people blocked one another under
    ``parley:blocks:<smaller id>:<larger id>`` (``parley.chat.blocks.verdict_key``) and in each
    instance; deleted and announced after the commit, so no instance can cache the old answer again.
    """
    await session.commit()
    first, second = sorted((a, b))
    try:
        await cache.delete(f"parley:blocks:{first}:{second}")
        # Every chat instance keeps verdicts in process too, and forgets this pair on hearing it
        # (``parley.chat.blocks.CHANNEL``). Published before the block request is answered.
        await cache.publish("parley:blocks", f"{first}:{second}")
    except Exception as exc:
        log.warning("user.blocks.cache_failed", error=type(exc).__name__)


async def blocked(
    session: AsyncSession, identity: Identity, *, limit: int, cursor: str | None
) -> tuple[list[User], str | None]:
    """A page of the people the caller blocked, ordered by name; and the next page's cursor."""
    after = decode_cursor(cursor) if cursor else None
    users, last = await store.blocked_users(
        session, identity.id, after=after, limit=max(1, min(limit, MAX_PAGE))
    )
    return users, encode_cursor(last) if last else None


async def block_relations(
    session: AsyncSession, identity: Identity, user_ids: Sequence[str]
) -> tuple[list[str], list[str]]:
    """Among ``user_ids`` (in their order): those the caller blocked, and those who blocked the caller."""
    blocking, blocked_by = await store.block_relations(session, identity.id, user_ids)
    ordered = list(dict.fromkeys(user_ids))
    return [uid for uid in ordered if uid in blocking], [uid for uid in ordered if uid in blocked_by]


# ---------------------------------------------------------------- directory


def encode_cursor(key: tuple[str, str]) -> str:
    """An opaque cursor for the directory page after ``key``."""
    raw = json.dumps(list(key), ensure_ascii=False, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    """The key a cursor continues after; :class:`InvalidCursor` for anything we did not make."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw.decode())
    except (binascii.Error, ValueError):
        raise InvalidCursor() from None
    if (
        not isinstance(key, list)
        or len(key) != 2
        or not all(isinstance(part, str) for part in key)
        or not is_id(key[1])
    ):
        raise InvalidCursor()
    return key[0], key[1]


async def search(
    session: AsyncSession, identity: Identity, *, query: str | None, limit: int, cursor: str | None
) -> tuple[list[User], str | None]:
    """A page of other people whose name or address contains ``query``; and the next page's cursor.

    The caller is never in the results: they are looking for someone else to talk to.
    """
    after = decode_cursor(cursor) if cursor else None
    query = (query or "").strip() or None
    users, last = await store.search_users(
        session, query=query, exclude=identity.id, after=after, limit=max(1, min(limit, MAX_PAGE))
    )
    return users, encode_cursor(last) if last else None


async def emails_shown(
    contacts: ChatContacts, identity: Identity, users: Sequence[User], query: str | None = None
) -> set[str]:
    """The ids among ``users`` whose address the caller may see.

    Someone's address is shown to the people who share a chat in which they took part (see
    :mod:`parley.user.contacts`), and to a search for exactly that address (which the searcher
    knows already); never to the directory at large.
    """
    exact = (query or "").strip().lower()
    shown = {user.id for user in users if user.id == identity.id or (exact and user.email == exact)}
    if any(user.id not in shown for user in users):
        known = await contacts.of(identity)
        shown.update(user.id for user in users if user.id in known)
    return shown
