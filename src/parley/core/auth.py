"""JWTs: issued by the user service, verified by every service, revoked by session.

Tokens carry ``sub`` (the user id), ``user`` (``{_id, name, email}``, as the seed app's did),
``exp``, ``iat``, ``jti``, and the session they belong to: ``sid`` (one per login) and ``gen`` (the
session's generation; a rename issues the next one). HS256 with ``JWT_SECRET`` by default; with
``JWT_PRIVATE_KEY`` (PEM, RSA or Ed25519) the user service signs asymmetrically and the others need
only ``JWT_PUBLIC_KEYS``. Revoked sessions are kept in process (:mod:`parley.core.revocations`), so
a verification costs no cache round trip; a revocation reaches every process within a second.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.requests import cookie_parser

from parley.core.errors import Forbidden, ServiceUnavailable, Unauthorized
from parley.core.ids import new_id
from parley.core.revocations import Revocation, RevocationList

# The browser's session: the token in an HttpOnly cookie, and a readable CSRF value that a page
# of our own origin copies into ``X-CSRF-Token`` on every write (the double-submit pattern).
SESSION_COOKIE = "parley_session"
CSRF_COOKIE = "parley_csrf"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class CsrfFailed(Forbidden):
    code, message = "csrf_failed", "This request is missing its security token; reload the page and try again"


@dataclass(frozen=True)
class Identity:
    """Who a verified token says the caller is. The only source of a caller's identity."""

    id: str
    name: str
    email: str
    jti: str
    exp: int
    token: str
    session: str = ""
    generation: int = 0

    def user(self) -> dict[str, str]:
        return {"_id": self.id, "name": self.name, "email": self.email}


def _kid(public_pem: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(public_pem).digest()[:12]).decode().rstrip("=")


# Verified tokens kept in process (see Tokens.verify): how many, and for how long at most.
VERIFIED_CACHE_SIZE = 10_000
VERIFIED_CACHE_SECONDS = 60.0


class Tokens:
    """Issues, verifies and revokes tokens."""

    def __init__(
        self,
        cache: Redis,
        *,
        secret: str | None = None,
        private_key: str | None = None,
        public_keys: str | None = None,
        ttl_seconds: int = 7 * 24 * 3600,
        revocations: RevocationList | None = None,
    ) -> None:
        self.cache = cache
        # Without a shared list (tests, tools), one of its own that syncs when it is consulted.
        self.revocations = revocations or RevocationList(cache)
        self.ttl = ttl_seconds
        self._secret = secret
        # Raw token -> (its identity, when to check its signature again): min(exp, now + a minute).
        self._verified: OrderedDict[str, tuple[Identity, float]] = OrderedDict()
        self._clock = time.time
        self._private: Any = None
        self._algorithm = "HS256"
        self._public: dict[str, tuple[Any, str]] = {}  # kid -> (key, algorithm)
        if private_key:
            self._private = serialization.load_pem_private_key(private_key.encode(), password=None)
            self._algorithm = self._algorithm_of(self._private)
            self._add_public(self._private.public_key())
        for pem in _split_pems(public_keys or ""):
            self._add_public(serialization.load_pem_public_key(pem.encode()))
        if not secret and not self._public:
            raise ValueError("JWT_SECRET, JWT_PRIVATE_KEY or JWT_PUBLIC_KEYS must be set")

    @staticmethod
    def _algorithm_of(key: Any) -> str:
        if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
            return "EdDSA"
        if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
            return "RS256"
        raise ValueError("JWT keys must be RSA or Ed25519")

    def _add_public(self, key: Any) -> None:
        pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        self._public[_kid(pem)] = (key, self._algorithm_of(key))

    @property
    def can_issue(self) -> bool:
        return self._private is not None or bool(self._secret)

    async def start(self) -> None:
        """Load the revocations and follow new ones (until :meth:`close`)."""
        await self.revocations.start()

    async def close(self) -> None:
        await self.revocations.close()

    def issue(self, user: dict[str, Any], *, session: str | None = None, generation: int = 0) -> str:
        """A fresh token for ``user`` (a document with ``_id``, ``name`` and ``email``).

        It belongs to ``session`` at ``generation``; without a session, to a new one of its own.
        """
        now = int(time.time())
        claims = {
            "sub": str(user["_id"]),
            "user": {"_id": str(user["_id"]), "name": user["name"], "email": user["email"]},
            "iat": now,
            "exp": now + self.ttl,
            "jti": secrets.token_urlsafe(16),
            "sid": session or new_id(),
            "gen": generation,
        }
        if self._private is not None:
            pem = self._private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            return jwt.encode(claims, self._private, algorithm=self._algorithm, headers={"kid": _kid(pem)})
        if not self._secret:
            raise RuntimeError("this service cannot issue tokens")
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def decode(self, token: str) -> dict[str, Any]:
        """The token's claims if its signature and expiry hold; :class:`Unauthorized` otherwise."""
        try:
            header = jwt.get_unverified_header(token)
            alg = header.get("alg")
            if alg == "HS256" and self._secret:
                key: Any = self._secret
            elif header.get("kid") in self._public:
                key, expected = self._public[header["kid"]]
                if alg != expected:
                    raise jwt.InvalidAlgorithmError(alg)
            else:
                raise jwt.InvalidTokenError("unknown key")
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=[alg], options={"require": ["sub", "exp", "iat", "jti"]}
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("Your session has expired, please log in again") from None
        except jwt.PyJWTError:
            raise Unauthorized("Invalid token") from None
        user = claims.get("user")
        if not isinstance(user, dict) or str(user.get("_id")) != str(claims["sub"]):
            raise Unauthorized("Invalid token")
        return claims

    async def verify(self, token: str) -> Identity:
        """Verify signature, expiry and revocation; the caller's :class:`Identity`.

        Revocation is checked against the list kept in process: no cache round trip, unless the
        list has not heard from the cache for a while (then it syncs first, or answers 503). A token
        whose signature was checked within the last minute is not checked again (the signature and
        the claims are kept by the raw token, at most until it expires); its revocation is.
        """
        identity = self._remembered(token)
        if identity is None:
            identity = self._identity(token)
            self._remember(token, identity)
        if not self.revocations.fresh:
            try:
                await self.revocations.ensure_fresh()
            except (RedisError, OSError) as exc:
                raise ServiceUnavailable("Sign-in cannot be checked right now, please try again") from exc
        if self.is_revoked(identity):
            raise Unauthorized("This session has been logged out")
        return identity

    def _remembered(self, token: str) -> Identity | None:
        """The identity of a token verified within the last minute and not yet expired.

        Revocation is not cached: :meth:`verify` asks the in-process list every time, so a revoked
        token is refused at once.
        """
        entry = self._verified.get(token)
        if entry is None:
            return None
        identity, until = entry
        if until <= self._clock():
            del self._verified[token]
            return None
        self._verified.move_to_end(token)
        return identity

    def _remember(self, token: str, identity: Identity) -> None:
        self._verified[token] = (identity, min(float(identity.exp), self._clock() + VERIFIED_CACHE_SECONDS))
        if len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)

    def _identity(self, token: str) -> Identity:
        """The identity a token's signature and expiry vouch for; :class:`Unauthorized` otherwise."""
        claims = self.decode(token)
        user = claims["user"]
        session, generation = claims.get("sid"), claims.get("gen", 0)
        if session is None:
            # A token from before sessions: it is its own session.
            session = claims["jti"]
        if not isinstance(session, str) or not session or not isinstance(generation, int):
            raise Unauthorized("Invalid token")
        return Identity(
            id=str(claims["sub"]),
            name=str(user.get("name", "")),
            email=str(user.get("email", "")),
            jti=str(claims["jti"]),
            exp=int(claims["exp"]),
            token=token,
            session=session,
            generation=generation,
        )

    def is_revoked(self, identity: Identity) -> bool:
        """Whether ``identity``'s token is refused, from what this process knows (no round trip)."""
        return self.revocations.is_revoked(identity.session, identity.generation)

    async def revoke(self, identity: Identity) -> None:
        """Refuse every token of this token's session, from now until it would have expired anyway."""
        await self.revoke_sessions([Revocation(identity.session, None, identity.exp + 1, identity.id)])

    async def revoke_sessions(self, revocations: list[Revocation]) -> None:
        """Refuse what each revocation says, in every service (this process at once, the others within a second)."""
        await self.revocations.add(revocations)

    def jwks(self) -> dict[str, Any]:
        """The public keys as a JSON Web Key Set (empty with a shared secret)."""
        keys = []
        for kid, (key, alg) in self._public.items():
            jwk = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(key))
            keys.append({**jwk, "kid": kid, "alg": alg, "use": "sig"})
        return {"keys": keys}


def _split_pems(text: str) -> list[str]:
    text = text.replace("\\n", "\n")
    marker = "-----END PUBLIC KEY-----"
    return [part.strip() + "\n" + marker for part in text.split(marker) if "BEGIN" in part]


def new_csrf_value() -> str:
    """A fresh value for the CSRF cookie."""
    return secrets.token_urlsafe(32)


def csrf_matches(cookie: str | None, header: str | None) -> bool:
    """Whether the ``X-CSRF-Token`` header repeats the CSRF cookie (compared in constant time)."""
    if not cookie or not header:
        return False
    return hmac.compare_digest(cookie.encode(), header.encode())


def request_token(
    *, authorization: str | None, cookies: Mapping[str, str], method: str, csrf_header: str | None
) -> str:
    """The caller's token: ``Authorization: Bearer`` wins, else the session cookie.

    A write authenticated by the cookie must repeat the CSRF cookie in ``X-CSRF-Token``: a page of
    another site can make the browser send the cookie, but cannot read the CSRF value to copy it.
    """
    if authorization:
        return bearer_token(authorization)
    token = (cookies.get(SESSION_COOKIE) or "").strip()
    if not token:
        raise Unauthorized("Please log in")
    if method.upper() in UNSAFE_METHODS and not csrf_matches(cookies.get(CSRF_COOKIE), csrf_header):
        raise CsrfFailed()
    return token


def session_cookie(cookie_header: str | None) -> str | None:
    """The session token from a raw ``Cookie`` header (a socket handshake's), if it carries one."""
    if not cookie_header:
        return None
    # Parsed as Starlette parses a request's cookies (leniently, as browsers send them).
    return cookie_parser(cookie_header).get(SESSION_COOKIE) or None


def bearer_token(authorization: str | None) -> str:
    """The token from an ``Authorization: Bearer …`` header; :class:`Unauthorized` if there is none."""
    if not authorization:
        raise Unauthorized("Please log in")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Please log in")
    return token.strip()
