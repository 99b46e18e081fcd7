"""The mail queue's handler: check each message, send it, and tell the bus what became of it.

The bus acknowledges a message only after this handler returns, so a mail leaves the queue only
once the SMTP server (or the dev mailbox) accepted it. A transient failure raises and the bus
tries again after the next of its retry delays; a message no retry can fix raises
:class:`~parley.core.bus.PermanentFailure` and is parked in ``<queue>.dead`` at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from pydantic import ValidationError

from parley.core.bus import Envelope, PermanentFailure
from parley.core.metrics import MAILS
from parley.core.redact import mask_emails
from parley.mail.errors import MailRejected
from parley.mail.schemas import MailRequest
from parley.mail.sender import Sender

log = structlog.get_logger(__name__)


def parse(body: dict[str, object]) -> MailRequest:
    """The queue message as a mail; :class:`PermanentFailure` naming the bad fields if it is not one."""
    try:
        return MailRequest.model_validate(body)
    except ValidationError as exc:
        # Field names and error kinds only: the values are an address and a message's text.
        problems = ", ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'message'}: {err['type']}" for err in exc.errors()
        )
        raise PermanentFailure(f"invalid mail ({problems})") from None


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


class MailConsumer:
    """Handles one queue message: ``await consumer(envelope)``."""

    def __init__(self, sender: Sender, *, retry_delays: Sequence[float]) -> None:
        self.sender = sender
        self.retries = len(retry_delays)

    async def __call__(self, envelope: Envelope) -> None:
        try:
            mail = parse(envelope.body)
        except PermanentFailure:
            MAILS.labels("dead").inc()
            log.warning("mail.invalid", attempt=envelope.attempt)
            raise
        domain = domain_of(str(mail.to))
        try:
            await self.sender.send(mail)
        except MailRejected as exc:
            MAILS.labels("dead").inc()
            log.warning("mail.rejected", domain=domain, error=mask_emails(str(exc)))
            raise PermanentFailure(mask_emails(str(exc))) from exc
        except Exception as exc:
            # The bus retries while it has delays left (the first delivery is attempt 1).
            last = envelope.attempt > self.retries
            MAILS.labels("dead" if last else "retried").inc()
            log.warning(
                "mail.dead" if last else "mail.deferred",
                domain=domain,
                attempt=envelope.attempt,
                # An SMTP server's reply may quote the recipient.
                error=mask_emails(str(exc)) or type(exc).__name__,
            )
            raise
        MAILS.labels("sent").inc()
        log.info("mail.sent", domain=domain, attempt=envelope.attempt)
