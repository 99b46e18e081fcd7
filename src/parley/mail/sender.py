"""Sending mail: by SMTP with aiosmtplib, or into the dev mailbox (see :mod:`parley.mail.mailbox`)."""

from __future__ import annotations

import ssl
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid
from typing import Any, Protocol

import aiosmtplib

from parley.core.settings import SmtpSettings
from parley.mail.errors import MailDeferred, MailRejected
from parley.mail.schemas import MailRequest
from parley.mail.templates import mail_html


class Sender(Protocol):
    async def send(self, mail: MailRequest) -> None:
        """Hand ``mail`` over; return only once it was accepted.

        Raises :class:`MailDeferred` when it may work later, :class:`MailRejected` when it never will.
        """
        ...


def check_mail_from(mail_from: str) -> None:
    """Raise ``ValueError`` unless ``mail_from`` is one address (``Name <a@b>`` or ``a@b``)."""
    addresses = getaddresses([mail_from])
    if len(addresses) != 1 or "@" not in addresses[0][1]:
        raise ValueError("must be one address, like Parley <no-reply@example.com>")


def sender_domain(mail_from: str) -> str:
    """The domain of ``MAIL_FROM``'s address, for Message-IDs (``parley.local`` if it has none)."""
    addresses = getaddresses([mail_from])
    address = addresses[0][1] if addresses else ""
    domain = address.rpartition("@")[2] if "@" in address else ""
    return domain or "parley.local"


def build_message(mail: MailRequest, mail_from: str) -> EmailMessage:
    """``mail`` as a multipart/alternative message: the text, and an HTML version of it."""
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = Address(addr_spec=str(mail.to))
    message["Subject"] = mail.subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender_domain(mail_from))
    if mail.unsubscribe_url:
        message["List-Unsubscribe"] = f"<{mail.unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(mail.body)
    links = [url for url in (mail.action_url, mail.unsubscribe_url) if url]
    message.add_alternative(mail_html(mail.subject, mail.body, mail.code, links=links), subtype="html")
    return message


def _codes(exc: aiosmtplib.SMTPRecipientsRefused) -> list[int]:
    return [r.code for r in exc.recipients]


class SmtpSender:
    """Sends each mail over a new SMTP connection, as ``SMTP_*`` and ``MAIL_FROM`` say.

    ``SMTP_TLS``: ``starttls`` upgrades the connection and refuses a server that cannot,
    ``ssl`` speaks TLS from the start (port 465), ``none`` sends in the clear (a local relay).
    """

    def __init__(self, settings: SmtpSettings, *, tls_context: ssl.SSLContext | None = None) -> None:
        if not settings.smtp_host:
            raise ValueError("SmtpSender needs SMTP_HOST")
        check_mail_from(settings.mail_from)
        self.settings = settings
        self.tls_context = tls_context

    def connection_options(self) -> dict[str, Any]:
        """The keyword arguments of :class:`aiosmtplib.SMTP` for these settings."""
        s = self.settings
        options: dict[str, Any] = {
            "hostname": s.smtp_host,
            "port": s.port,
            "timeout": s.smtp_timeout_seconds,
            "use_tls": s.smtp_tls == "ssl",
            # True: STARTTLS or fail (never fall back to plain text); False: never try it.
            "start_tls": s.smtp_tls == "starttls",
        }
        if s.smtp_user:
            options["username"] = s.smtp_user
            options["password"] = s.smtp_password or ""
        if self.tls_context is not None:
            options["tls_context"] = self.tls_context
        return options

    def client(self) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(**self.connection_options())

    async def send(self, mail: MailRequest) -> None:
        message = build_message(mail, self.settings.mail_from)
        try:
            async with self.client() as smtp:
                await smtp.send_message(message)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = _codes(exc)
            if codes and all(code >= 500 for code in codes):
                raise MailRejected(f"recipient refused ({codes[0]})") from exc
            raise MailDeferred(f"recipient deferred ({codes[0] if codes else '?'})") from exc
        except (aiosmtplib.SMTPRecipientRefused, aiosmtplib.SMTPDataError) as exc:
            # The server read this mail and refused it: for good with 5xx, for now with 4xx.
            what = "recipient" if isinstance(exc, aiosmtplib.SMTPRecipientRefused) else "content"
            if exc.code >= 500:
                raise MailRejected(f"{what} refused ({exc.code})") from exc
            raise MailDeferred(f"{what} deferred ({exc.code})") from exc
        except aiosmtplib.SMTPResponseException as exc:
            # Greeting, sender or login refused: the server's or our configuration's problem,
            # not this mail's; it may be fixed before the last retry.
            raise MailDeferred(f"{type(exc).__name__} ({exc.code})") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            # Connection refused or dropped, timeouts (TimeoutError is an OSError), TLS failures.
            raise MailDeferred(f"{type(exc).__name__}: {exc}") from exc
