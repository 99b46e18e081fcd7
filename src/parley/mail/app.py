"""The mail service's app: consumes the mail queue for its lifespan; HTTP is health and the dev mailbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import structlog
from fastapi import FastAPI

from parley.core.app import create_service_app
from parley.core.resources import build_bus
from parley.core.settings import SettingError, Settings
from parley.mail.consumer import MailConsumer
from parley.mail.mailbox import DevMailbox
from parley.mail.routes import router
from parley.mail.sender import Sender, SmtpSender

log = structlog.get_logger(__name__)

PREFETCH = 10
# How long shutdown waits for the mails in hand; what is not done by then stays in the queue.
DRAIN_SECONDS = 30


def create_app(settings: Settings) -> FastAPI:
    """The mail worker: sends every message of ``settings.bus.mail_queue`` by SMTP or to the dev mailbox.

    Raises :class:`SettingError` for a bad ``MAIL_FROM``, or for no SMTP in production, here,
    before anything is served.
    """
    settings.check_mail()
    if not settings.smtp.dev_mailbox:
        _smtp_sender(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        mailbox = DevMailbox() if settings.smtp.dev_mailbox else None
        sender: Sender = mailbox if mailbox is not None else _smtp_sender(settings)
        delays = settings.bus.mail_retry_delays
        async with AsyncExitStack() as resources:
            bus = await build_bus(settings)
            resources.push_async_callback(bus.close)
            app.state.bus = bus
            app.state.mailbox = mailbox
            # The broker only: a down SMTP server does not make the worker unready, the queue
            # holds the mail until it is back.
            app.state.checks = {"broker": bus.ping}
            queue = settings.bus.mail_queue
            await bus.consume(
                queue, MailConsumer(sender, retry_delays=delays), retry_delays=delays, prefetch=PREFETCH
            )
            resources.push_async_callback(bus.stop_consuming, DRAIN_SECONDS)
            log.info(
                "mail.consuming",
                queue=queue,
                sender="dev-mailbox" if mailbox is not None else "smtp",
                broker="in-process" if settings.bus.embedded else "rabbitmq",
            )
            yield

    app = create_service_app(
        service="mail",
        title="Parley mail service",
        description="Sends the mail queue's messages by SMTP; without SMTP, the dev mailbox.",
        routers=[router],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.trust_forwarded_for = settings.limits.trust_forwarded_for
    app.state.mailbox = None
    return app


def _smtp_sender(settings: Settings) -> SmtpSender:
    try:
        return SmtpSender(settings.smtp)
    except ValueError as exc:
        raise SettingError("MAIL_FROM", f"is invalid: {exc}") from None
