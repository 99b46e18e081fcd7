"""A socket's life on this instance: the handshake (token or session cookie), at most
``max_sockets_per_user`` sockets per user, disconnect, and the end of sockets whose session was
revoked or expired, or that stalled (:class:`Sessions`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import structlog
from redis.asyncio import Redis
from socketio.exceptions import ConnectionRefusedError as Refused

from parley.chat.realtime.connections import Batched, Connection, Keys, Spawn
from parley.chat.realtime.presence import Presence
from parley.chat.realtime.protocol import MAX_PENDING_PACKETS, NAMESPACE, TokenBucket, user_room
from parley.core.auth import Tokens, session_cookie
from parley.core.errors import Unauthorized
from parley.core.metrics import SOCKETS_CONNECTED
from parley.core.revocations import Revocation

log = structlog.get_logger(__name__)

# Gone sockets whose cache entries are removed in one round trip, at most.
RELEASE_BATCH = 300


class Sessions:
    """Connects and forgets this instance's sockets; handed ``spawn`` and ``disconnect_later``."""

    def __init__(
        self,
        *,
        sio: Any,
        tokens: Tokens,
        cache: Redis,
        keys: Keys,
        presence: Presence,
        connections: dict[str, Connection],
        event_rate: float,
        event_burst: int,
        flood_grace: float,
        max_sockets_per_user: int,
        is_stopping: Callable[[], bool],
        spawn: Spawn,
        disconnect_later: Callable[[str], None],
        stop_typing: Callable[[Connection], None],
    ) -> None:
        self.sio = sio
        self.tokens = tokens
        self.cache = cache
        self.keys = keys
        self.presence = presence
        # This instance's sockets, by sid: added and removed only here.
        self.connections = connections
        self.event_rate = event_rate
        self.event_burst = event_burst
        self.flood_grace = flood_grace
        self.max_sockets_per_user = max_sockets_per_user
        self.is_stopping = is_stopping
        self.spawn = spawn
        self.disconnect_later = disconnect_later
        self.stop_typing = stop_typing
        self._by_jti: dict[str, set[str]] = {}
        self._gone = Batched(self.release, size=RELEASE_BATCH, spawn=spawn, what="release")

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        if self.is_stopping():
            raise Refused("unavailable")
        token = auth.get("token") if isinstance(auth, dict) else None
        if not isinstance(token, str) or not token.strip():
            # A browser with its session in a cookie sends no token: the handshake carries the cookie.
            token = session_cookie(environ.get("HTTP_COOKIE"))
        if not isinstance(token, str) or not token.strip():
            log.info("realtime.refused", reason="no token")
            raise Refused("unauthorized", {"code": "unauthorized"})
        token = token.strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        try:
            identity = await self.tokens.verify(token)
        except Unauthorized as exc:
            log.info("realtime.refused", reason=exc.message)
            raise Refused("unauthorized", {"code": exc.code, "detail": exc.message}) from None
        except Exception as exc:
            log.error("realtime.auth.failed", error=f"{type(exc).__name__}: {exc}")
            raise Refused("unavailable") from None

        # Registered before any other await: a revocation published from now on finds this socket.
        connection = Connection(
            sid, identity, TokenBucket(self.event_rate, self.event_burst, self.flood_grace)
        )
        self.connections[sid] = connection
        self._by_jti.setdefault(identity.jti, set()).add(sid)
        SOCKETS_CONNECTED.inc()
        try:
            await self.sio.save_session(sid, {"identity": identity})
            await self.sio.enter_room(sid, user_room(identity.id))
            first = await self.presence.add(connection)
            await self.limit_sockets(connection)
            # Queued before the connection's acknowledgement; clients hand it over once connected.
            await self.presence.send_online_list(identity.id, sid=sid)
        except Exception as exc:
            log.error("realtime.connect.failed", user_id=identity.id, error=f"{type(exc).__name__}: {exc}")
            self.forget(sid)
            raise Refused("unavailable") from None
        log.info("realtime.connected", user_id=identity.id, sid=sid)
        if first:
            self.spawn(self.presence.announce(identity.id), "announce-online")

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        connection = self.connections.get(sid)
        if connection is None:
            return
        log.info("realtime.disconnected", user_id=connection.user_id, sid=sid, reason=str(reason))
        self.forget(sid)

    def detach(self, sid: str) -> Connection | None:
        """Forget a socket here, at once (no await: nothing can interleave or cancel it halfway)."""
        connection = self.connections.pop(sid, None)
        if connection is None:
            return None
        SOCKETS_CONNECTED.dec()
        sids = self._by_jti.get(connection.identity.jti)
        if sids is not None:
            sids.discard(sid)
            if not sids:
                del self._by_jti[connection.identity.jti]
        self.stop_typing(connection)
        return connection

    async def release(self, connections: list[Connection]) -> None:
        """Remove gone sockets from the cache, in two or three round trips; their users' contacts
        are told, in the background, of those for whom it was their last socket anywhere."""
        try:
            async with self.cache.pipeline(transaction=False) as pipe:
                for connection in connections:
                    for chat_id in connection.joined:
                        pipe.zrem(self.keys.viewers(chat_id), self.keys.viewer_member(connection))
                    pipe.zrem(self.keys.sockets(connection.user_id), self.keys.socket_member(connection.sid))
                await pipe.execute()
            offline = await self.presence.remove(connections)
        except Exception as exc:
            # The entries expire by themselves; the sweep announces the change then.
            log.warning("realtime.presence.remove_failed", sockets=len(connections), error=str(exc))
            return
        self.presence.went_offline(offline)

    def forget(self, sid: str) -> None:
        """Drop a socket: its local state now, its cache entries in the background.

        Socket.IO handlers swallow cancellation, so no cache work runs inside one (or inside the
        revocation listener, which calls into them): it could neither be cancelled nor drained.
        The cache entries of sockets that go together (all of them, when the instance stops) are
        removed together, a few hundred per round trip.
        """
        connection = self.detach(sid)
        if connection is not None:
            self._gone.add(connection)

    async def released(self, timeout: float) -> None:
        """Until the cache entries of the sockets forgotten so far are removed (or ``timeout``)."""
        await self._gone.wait(timeout)

    async def close_transport(self, sid: str) -> None:
        eio_sid = self.eio_sid(sid)
        if eio_sid is not None:
            await self.sio.eio.disconnect(eio_sid)

    def eio_sid(self, sid: str) -> str | None:
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, NAMESPACE)
        return str(eio_sid) if eio_sid is not None else None

    async def limit_sockets(self, connection: Connection) -> None:
        """Record the socket; past ``max_sockets_per_user`` the user's oldest ones (on any instance) go."""
        key = self.keys.sockets(connection.user_id)
        async with self.cache.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {self.keys.socket_member(connection.sid): time.time()})
            pipe.expire(key, 7 * 24 * 3600)
            pipe.zrange(key, 0, -(self.max_sockets_per_user + 1))
            *_, oldest = await pipe.execute()
        if not oldest:
            return
        await self.cache.zrem(key, *oldest)
        for member in oldest:
            sid = str(member).split(":", 1)[1]
            log.info("realtime.too_many_sockets", user_id=connection.user_id, sid=sid)
            # Through the client manager: the socket may be on another instance.
            self.spawn(self.sio.disconnect(sid), "too-many-sockets")

    async def drop_dead_sockets(self, connections: list[Connection], now: float) -> None:
        """Disconnect sockets whose token expired or was revoked (a missed notice), and stalled ones."""
        if not connections:
            return
        for connection in connections:
            # The tokens' revocation list is kept in process and resynced every second.
            if connection.identity.exp <= now or self.tokens.is_revoked(connection.identity):
                log.info("realtime.session_ended", user_id=connection.user_id, sid=connection.sid)
                self.disconnect_later(connection.sid)
            elif self.pending_packets(connection.sid) > MAX_PENDING_PACKETS:
                log.warning("realtime.stalled", user_id=connection.user_id, sid=connection.sid)
                self.spawn(self.close_transport(connection.sid), "close-stalled")

    def pending_packets(self, sid: str) -> int:
        eio_sid = self.eio_sid(sid)
        socket = self.sio.eio.sockets.get(eio_sid) if eio_sid is not None else None
        queue = getattr(socket, "queue", None)
        return int(queue.qsize()) if isinstance(queue, asyncio.Queue) else 0

    def revoked(self, revocation: Revocation) -> None:
        for sid, connection in list(self.connections.items()):
            if revocation.covers(connection.identity.session, connection.identity.generation):
                log.info("realtime.revoked", user_id=connection.user_id, sid=sid)
                self.disconnect_later(sid)
