"""The chat service's app: its resources live for the lifespan, on ``app.state``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from parley.chat import uploads
from parley.chat.blocks import BlockGuard
from parley.chat.deps import chat_service
from parley.chat.directory import ChatDirectory
from parley.chat.documents import MediaLinks
from parley.chat.events import EventSink, Viewers
from parley.chat.notifications import MissedMessages
from parley.chat.realtime import Realtime
from parley.chat.realtime.asyncapi import router as asyncapi_router
from parley.chat.routes import media_router, router
from parley.chat.service import UsageLimits
from parley.chat.uow import unit_of_work
from parley.chat.users import UserDirectory
from parley.chat.writer import MessageWriter
from parley.core.app import allow_browser_origin, create_service_app, loopback_aliases
from parley.core.database import Database
from parley.core.http import service_client
from parley.core.ratelimit import RateLimiter
from parley.core.resources import build_bus, build_cache, build_storage, build_tokens
from parley.core.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    """The chat service (chats, members, messages, media) built from ``settings``.

    Raises :class:`SettingError` for a bad ``MEDIA_STORAGE`` here, before anything is served.
    """
    build_storage(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        storage = build_storage(settings)
        async with AsyncExitStack() as resources:
            db = Database(
                settings.database_url("chat"), statement_timeout=settings.database.database_statement_timeout
            )
            resources.push_async_callback(db.close)
            cache = build_cache(settings)
            resources.push_async_callback(cache.aclose)
            resources.push_async_callback(storage.close)
            user_client = service_client("user", settings.services.user_service)
            resources.push_async_callback(user_client.aclose)
            limiter = RateLimiter(settings.cache.redis_url, strategy="sliding-window-counter")
            resources.push_async_callback(limiter.close)

            # Closed after the writer stops (the stack unwinds in reverse): its last batches'
            # missed-message checks are still published.
            bus = await build_bus(settings)
            resources.push_async_callback(bus.close)
            missed = MissedMessages(db, bus, settings.limits.missed_message_email_seconds)
            app.state.missed_messages = missed

            app.state.db = db
            app.state.cache = cache
            app.state.tokens = build_tokens(settings, cache)
            await app.state.tokens.start()
            resources.push_async_callback(app.state.tokens.close)
            app.state.storage = storage
            app.state.users = UserDirectory(user_client, cache)
            app.state.blocks = BlockGuard(db, app.state.users, cache)
            await app.state.blocks.start()
            resources.push_async_callback(app.state.blocks.close)
            app.state.media_links = MediaLinks.from_settings(settings)
            app.state.usage_limits = UsageLimits(
                limiter,
                settings.limits.message_rate_per_minute,
                settings.limits.chat_rate_per_hour,
                settings.limits.export_rate_per_minute,
            )
            app.state.writer = MessageWriter(
                db,
                app.state.media_links,
                lambda: _sink(app),
                lambda chat_ids: _viewers_of(app, chat_ids),
                lambda readers: _read_on_arrival(app, readers),
                after_batch=missed.schedule,
            )
            app.state.directory = ChatDirectory(
                db, lambda: _sink(app), lambda uow: chat_service(app.state, uow), app.state.users
            )
            realtime = Realtime(
                tokens=app.state.tokens,
                cache=cache,
                directory=app.state.directory,
                client_manager_url=_fan_out_url(settings),
                cors_origins=_socket_origins(settings),
                max_sockets_per_user=settings.limits.max_sockets_per_user,
                event_rate=settings.limits.socket_event_rate,
                event_burst=max(1, round(2 * settings.limits.socket_event_rate)),
            )
            # The real-time layer's event sink and who has which chat open (see parley.chat.events).
            app.state.realtime = realtime
            app.state.events = realtime.sink
            app.state.viewers = realtime.viewers
            app.state.checks = {
                "database": db.ping,
                "cache": cache.ping,
                "broker": bus.ping,
                "media": storage.ping,
            }
            await missed.start()
            resources.push_async_callback(missed.stop)
            await realtime.start()
            resources.push_async_callback(realtime.stop)
            # Stopped first: what was submitted is stored and announced before the rest closes.
            await app.state.writer.start()
            resources.push_async_callback(app.state.writer.stop)
            yield

    app = create_service_app(
        service="chat",
        title="Parley chat",
        description="Chats, groups, messages, read receipts and images.",
        routers=[router, media_router, asyncapi_router],
        lifespan=lifespan,
        body_limit=uploads.DEFAULT_BODY_LIMIT,
        body_routes=uploads.ROUTE_LIMITS,
        body_messages=uploads.ROUTE_MESSAGES,
    )
    allow_browser_origin(app, settings.cors_origins())
    app.add_middleware(SocketIOMiddleware)
    app.state.settings = settings
    app.state.trust_forwarded_for = settings.limits.trust_forwarded_for
    return app


class SocketIOMiddleware:
    """Hands ``/socket.io/`` to the Socket.IO server the lifespan built; the rest to the API."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and scope["path"].startswith("/socket.io"):
            realtime: Realtime | None = getattr(scope["app"].state, "realtime", None)
            if realtime is not None:
                await realtime.serve(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _fan_out_url(settings: Settings) -> str | None:
    """Socket.IO fans events out across instances through Redis, else RabbitMQ; embedded, in-process."""
    if not settings.cache.embedded:
        return settings.cache.redis_url
    if not settings.bus.embedded:
        return settings.bus.url
    return None


def _socket_origins(settings: Settings) -> list[str] | str:
    """Browsers may connect from ``CORS_ORIGINS`` (default ``PUBLIC_URL``); in development also from
    the same port on the other names of this machine (``localhost``, ``127.0.0.1``, ``[::1]``)."""
    origins = settings.cors_origins()
    if settings.dev:
        origins += [alias for origin in list(origins) for alias in loopback_aliases(origin)]
    return list(dict.fromkeys(origins))


def _sink(app: FastAPI) -> EventSink:
    sink: EventSink = app.state.events
    return sink


async def _viewers_of(app: FastAPI, chat_ids: list[str]) -> dict[str, set[str]]:
    viewers: Viewers = app.state.viewers
    return await viewers(chat_ids)


async def _read_on_arrival(app: FastAPI, readers: list[tuple[str, str, int, str]]) -> dict[str, datetime]:
    """Members with the chat open read the new messages, on the same path as ``joinChat``."""
    async with unit_of_work(app.state.db, _sink(app)) as uow:
        return await chat_service(app.state, uow).read_on_arrival(readers)
