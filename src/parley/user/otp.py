"""One-time login codes: generated, kept hashed in the cache, checked, spent.

A code is six digits from :mod:`secrets`. The cache keeps only an HMAC-SHA256 of it, keyed by a
server secret and bound to the address, so a copy of the cache cannot be brute-forced offline
(a bare hash of a six-digit code can). A code lives ``ttl`` seconds, is spent by its first
successful check and becomes void after ``max_attempts`` wrong ones: every check counts itself
atomically before comparing, so parallel guesses cannot exceed the limit. Resends are held back
by a per-address cooldown taken with ``SET NX EX``.

Across codes, an address may spend at most ``max_failures`` wrong codes in a window of a day
(counted from its first wrong code): each check takes one from that budget before comparing, and
gives it back unless the code was actually wrong. Without it, asking for new codes would allow
thousands of guesses a day.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import WatchError

CODE_DIGITS = 6
CODE_PATTERN = re.compile(r"[0-9]{6}")
CODE_PREFIX = "parley:otp:code:"
COOLDOWN_PREFIX = "parley:otp:cooldown:"
FAILURES_PREFIX = "parley:otp:failures:"
FAILURE_WINDOW_SECONDS = 24 * 3600
# Rounds of giving a guess back while others change the same count.
GIVE_BACK_TRIES = 5


def generate_code() -> str:
    """A fresh code: six decimal digits, uniformly random, leading zeros kept."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def derive_key(secret: str) -> bytes:
    """The HMAC key for codes, derived from a server secret (never the secret itself)."""
    return hmac.new(secret.encode(), b"parley/otp/v1", hashlib.sha256).digest()


def hash_code(key: bytes, email: str, code: str) -> str:
    """The keyed digest stored instead of ``code``; bound to ``email`` so digests cannot be swapped."""
    return hmac.new(key, f"{email}\x00{code}".encode(), hashlib.sha256).hexdigest()


def codes_match(key: bytes, email: str, code: str, digest: str) -> bool:
    """Whether ``code`` is the one ``digest`` was made from, compared in constant time."""
    return hmac.compare_digest(hash_code(key, email, code), digest)


def well_formed(code: str) -> bool:
    """Whether ``code`` has the shape of a code (six ASCII digits)."""
    return bool(CODE_PATTERN.fullmatch(code))


class Check(enum.Enum):
    """The outcome of checking a code."""

    OK = "ok"
    INVALID = "invalid"
    EXPIRED = "expired"
    VOID = "void"


@dataclass(frozen=True)
class Outcome:
    """What a check found, and how many more wrong codes the current code tolerates."""

    check: Check
    attempts_left: int = 0


class OtpStore:
    """Codes and resend cooldowns in the cache, one of each per address."""

    def __init__(
        self,
        cache: Redis,
        key: bytes,
        *,
        ttl: int,
        max_attempts: int,
        resend_seconds: int,
        max_failures: int = 50,
        failure_window: int = FAILURE_WINDOW_SECONDS,
    ) -> None:
        self.cache = cache
        self.key = key
        self.ttl = ttl
        self.max_attempts = max_attempts
        self.resend_seconds = resend_seconds
        self.max_failures = max_failures
        self.failure_window = failure_window

    async def take_guess(self, email: str) -> int:
        """Take one guess from the address's daily budget: 0 if there was one, else the seconds until the window ends."""
        key = FAILURES_PREFIX + email
        async with self.cache.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, self.failure_window, nx=True)
            pipe.ttl(key)
            count, _, left = await pipe.execute()
        if int(count) > self.max_failures:
            return max(1, int(left))
        return 0

    async def give_back_guess(self, email: str) -> None:
        """Return a guess that was not a wrong code (the code was right, expired or void).

        Only to a count that is still there and above zero, in one optimistic transaction: a
        window that ended meanwhile stays ended (a bare ``DECR`` would start a new one at -1, an
        extra guess for a day). When the count keeps changing under it, the guess is simply not
        given back: that errs on the strict side.
        """
        key = FAILURES_PREFIX + email
        for _ in range(GIVE_BACK_TRIES):
            async with self.cache.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(key)
                    count = await pipe.get(key)
                    if count is None or int(count) <= 0:
                        return
                    pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
                    pipe.decr(key)
                    await pipe.execute()
                    return
                except WatchError:
                    continue

    async def start_cooldown(self, email: str) -> int:
        """Take the address's resend cooldown: 0 if taken now, else the seconds left of the current one."""
        if self.resend_seconds <= 0:
            return 0
        key = COOLDOWN_PREFIX + email
        if await self.cache.set(key, "1", nx=True, ex=self.resend_seconds):
            return 0
        left = await self.cache.ttl(key)
        # -2: it expired in between (the caller may simply ask again); -1 cannot happen for our keys.
        return max(1, int(left))

    async def clear_cooldown(self, email: str) -> None:
        await self.cache.delete(COOLDOWN_PREFIX + email)

    async def issue(self, email: str) -> str:
        """A fresh code for ``email``, replacing any earlier one (and its count of wrong tries)."""
        code = generate_code()
        key = CODE_PREFIX + email
        async with self.cache.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping={"digest": hash_code(self.key, email, code), "attempts": 0})
            pipe.expire(key, self.ttl)
            await pipe.execute()
        return code

    async def discard(self, email: str) -> None:
        """Forget the address's code (when it could not be sent)."""
        await self.cache.delete(CODE_PREFIX + email)

    async def check(self, email: str, code: str) -> Outcome:
        """Check ``code`` for ``email``; a correct code is spent by this call."""
        key = CODE_PREFIX + email
        async with self.cache.pipeline(transaction=True) as pipe:
            pipe.hget(key, "digest")
            pipe.hincrby(key, "attempts", 1)
            # When there was no code, the count just created a key of its own: let it expire too.
            pipe.expire(key, self.ttl, nx=True)
            digest, attempts, _ = await pipe.execute()
        if not digest:
            return Outcome(Check.EXPIRED)
        if int(attempts) > self.max_attempts:
            return Outcome(Check.VOID)
        if not codes_match(self.key, email, code, str(digest)):
            return Outcome(Check.INVALID, self.max_attempts - int(attempts))
        # Spent: of checks racing with the right code, only the one that removes the digest succeeds
        # (a check that found no code may have left an attempts-only key, which must not count).
        if not await self.cache.hdel(key, "digest"):
            return Outcome(Check.EXPIRED)
        return Outcome(Check.OK)
