"""The user service's app: its lifespan owns the database, cache, bus, tokens and rate limiter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI

from parley.core.app import allow_browser_origin, create_service_app
from parley.core.database import Database
from parley.core.ratelimit import RateLimiter
from parley.core.resources import build_bus, build_cache, build_storage, build_tokens
from parley.core.settings import Settings
from parley.user.avatars import Avatars
from parley.user.contacts import ChatContacts
from parley.user.notifications import MissedMessageMailer
from parley.user.otp import OtpStore, derive_key
from parley.user.routes import routers
from parley.user.service import Login, SessionTouches, restore_revocations
from parley.user.unsubscribe import UnsubscribeLinks


def otp_secret(settings: Settings) -> str:
    """The server secret codes are keyed with: shared by every instance of the user service.

    ``JWT_SECRET`` when there is one, else the signing key; outside production a secret is
    generated into the data dir. Only a key derived from it is ever used (see :mod:`otp`).
    """
    tokens = settings.tokens
    if tokens.jwt_secret:
        return tokens.jwt_secret
    if tokens.jwt_private_key:
        return tokens.jwt_private_key
    return settings.jwt_secret()


def create_app(settings: Settings) -> FastAPI:
    """The user service: login by emailed code, tokens, profiles, avatars, the directory.

    Raises :class:`SettingError` for a bad ``MEDIA_STORAGE`` here, before anything is served.
    """
    build_storage(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as resources:
            db = Database(
                settings.database_url("user"), statement_timeout=settings.database.database_statement_timeout
            )
            resources.push_async_callback(db.close)
            cache = build_cache(settings)
            resources.push_async_callback(cache.aclose)
            tokens = build_tokens(settings, cache, issuer=True)
            await tokens.start()
            resources.push_async_callback(tokens.close)
            # The database remembers every logout; a cache that starts empty learns them again.
            await restore_revocations(db, tokens)
            limiter = RateLimiter(settings.cache.redis_url)
            resources.push_async_callback(limiter.close)
            storage = build_storage(settings)
            resources.push_async_callback(storage.close)
            app.state.avatars = Avatars(storage, limiter, per_hour=settings.limits.avatar_rate_per_hour)
            bus = await build_bus(settings)
            resources.push_async_callback(bus.close)
            limits = settings.limits
            otps = OtpStore(
                cache,
                derive_key(otp_secret(settings)),
                ttl=limits.otp_ttl_seconds,
                max_attempts=limits.otp_max_attempts,
                resend_seconds=limits.otp_resend_seconds,
                max_failures=limits.otp_max_failures_per_day,
            )
            app.state.settings = settings
            app.state.db = db
            app.state.cache = cache
            app.state.unsubscribe_links = UnsubscribeLinks.from_settings(settings)
            app.state.tokens = tokens
            app.state.session_touches = SessionTouches()
            contacts = ChatContacts(settings.services.chat_service)
            resources.push_async_callback(contacts.close)
            app.state.contacts = contacts
            app.state.bus = bus
            app.state.limiter = limiter
            app.state.login = Login(
                otps=otps,
                limiter=limiter,
                bus=bus,
                tokens=tokens,
                mail_queue=settings.bus.mail_queue,
                login_rate=limits.login_rate_per_minute,
                verify_rate=limits.verify_rate_per_minute,
            )
            mailer = MissedMessageMailer(
                db=db,
                cache=cache,
                bus=bus,
                links=app.state.unsubscribe_links,
                mail_queue=settings.bus.mail_queue,
                public_url=settings.app.public_url,
                delay_seconds=settings.limits.missed_message_email_seconds,
            )
            await mailer.start()
            app.state.checks = {
                "database": db.ping,
                "cache": cache.ping,
                "broker": bus.ping,
                "media": storage.ping,
            }
            app.state.trust_forwarded_for = limits.trust_forwarded_for
            yield

    app = create_service_app(
        service="user",
        title="Parley user service",
        description="One-time-code login, tokens, profiles and the user directory.",
        routers=routers,
        lifespan=lifespan,
    )
    allow_browser_origin(app, settings.cors_origins())
    app.state.settings = settings
    return app
