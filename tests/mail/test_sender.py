"""The SMTP sender: the message it builds, the connection each ``SMTP_TLS`` asks for, and what it
makes of the server's answers (against a real SMTP server)."""

from __future__ import annotations

from typing import Any

import aiosmtplib
import pytest
from pydantic import ValidationError

from parley.core.settings import Settings, SmtpSettings
from parley.mail.errors import MailDeferred, MailRejected
from parley.mail.schemas import MailRequest
from parley.mail.sender import SmtpSender, build_message, sender_domain
from tests.mail.helpers import (
    SMTP_PASSWORD,
    SMTP_USER,
    Certificates,
    Logins,
    SmtpServer,
    address,
    mail_parts,
)


def smtp_settings(**values: Any) -> SmtpSettings:
    return Settings(env_file=False, **values).smtp


def otp_mail(to: str = "alice@example.com", code: str = "482913") -> MailRequest:
    return MailRequest(
        to=to,
        subject="Your Parley login code",
        body=f"Your Parley login code is {code}\n\nIt expires in 5 minutes & works <once>.",
        kind="otp",
        code=code,
    )


def test_the_message_has_a_text_and_an_html_part() -> None:
    message = build_message(otp_mail(), "Parley <no-reply@parley.test>")

    assert message.get_content_type() == "multipart/alternative"
    assert message["From"] == "Parley <no-reply@parley.test>"
    assert message["To"] == "alice@example.com"
    assert message["Subject"] == "Your Parley login code"
    assert message["Message-ID"].endswith("@parley.test>")
    assert message["Date"]
    found = mail_parts(message)
    assert set(found) == {"text/plain", "text/html"}
    assert "Your Parley login code is 482913" in found["text/plain"]
    html = found["text/html"]
    assert "482913</span>" in html, "the code is shown large"
    assert "&amp; works &lt;once&gt;." in html, "the text is escaped"


def test_a_notification_carries_one_click_unsubscribe_headers() -> None:
    link = "https://parley.example/api/v1/user/unsubscribe?user=6b133b7203133f0072c7f160&sig=abc"
    mail = MailRequest.model_validate(
        {"to": "alice@example.com", "subject": "New messages", "body": "Bob: hi", "unsubscribeUrl": link}
    )
    message = build_message(mail, "Parley <no-reply@parley.test>")
    assert message["List-Unsubscribe"] == f"<{link}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # A login code has none.
    assert build_message(otp_mail(), "no-reply@parley.test")["List-Unsubscribe"] is None


@pytest.mark.parametrize(
    "link", ["ftp://x", "javascript:alert(1)", "https://x/\r\nBcc: eve@example.com", "https://x/>, <y", ""]
)
def test_an_unsubscribe_link_that_could_write_headers_is_refused(link: str) -> None:
    with pytest.raises(ValueError, match="unsubscribeUrl"):
        MailRequest.model_validate(
            {"to": "a@example.com", "subject": "s", "body": "b", "unsubscribeUrl": link}
        )


def test_message_ids_use_the_senders_domain() -> None:
    assert sender_domain("Parley <no-reply@chat.example.org>") == "chat.example.org"
    assert sender_domain("no-reply@example.net") == "example.net"
    assert sender_domain("Parley") == "parley.local"


@pytest.mark.parametrize(
    ("tls", "port", "use_tls", "start_tls"),
    [("starttls", 587, False, True), ("ssl", 465, True, False), ("none", 25, False, False)],
)
def test_each_tls_mode_builds_its_client(tls: str, port: int, use_tls: bool, start_tls: bool) -> None:
    sender = SmtpSender(smtp_settings(smtp_host="smtp.example.com", smtp_tls=tls, smtp_timeout_seconds=7))
    options = sender.connection_options()
    assert options["hostname"] == "smtp.example.com"
    assert options["port"] == port
    assert options["use_tls"] is use_tls
    # starttls is required, never merely attempted: no silent fall back to plain text.
    assert options["start_tls"] is start_tls
    assert options["timeout"] == 7
    assert "username" not in options and "password" not in options, "no login without SMTP_USER"
    client = sender.client()
    assert (client.hostname, client.port, client.use_tls) == ("smtp.example.com", port, use_tls)


def test_login_only_when_a_user_is_set() -> None:
    sender = SmtpSender(
        smtp_settings(smtp_host="smtp.example.com", smtp_port=2525, smtp_user="me", smtp_password="pw")
    )
    options = sender.connection_options()
    assert (options["port"], options["username"], options["password"]) == (2525, "me", "pw")


def test_a_sender_needs_a_host_and_one_from_address() -> None:
    with pytest.raises(ValueError, match="SMTP_HOST"):
        SmtpSender(smtp_settings())
    for bad in ("Parley", "a@example.com, b@example.com", ""):
        with pytest.raises(ValueError, match="one address"):
            SmtpSender(smtp_settings(smtp_host="smtp.example.com", mail_from=bad))
    SmtpSender(smtp_settings(smtp_host="smtp.example.com", mail_from='"Parley, Inc" <hi@example.com>'))


async def test_a_mail_reaches_the_server(smtp: SmtpServer) -> None:
    to = address()
    sender = SmtpSender(smtp_settings(smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_tls="none"))
    await sender.send(otp_mail(to))

    [message] = await smtp.wait_for_mail(to)
    assert smtp.handler.envelopes == [("no-reply@parley.local", [to])]
    assert mail_parts(message)["text/plain"].startswith("Your Parley login code is 482913")


async def test_starttls_with_login(certificates: Certificates) -> None:
    logins = Logins()
    server = SmtpServer(
        tls_context=certificates.server_context(),
        require_starttls=True,
        authenticator=logins,
        auth_required=True,
    )
    await server.start()
    try:
        settings = smtp_settings(
            smtp_host="127.0.0.1",
            smtp_port=server.port,
            smtp_tls="starttls",
            smtp_user=SMTP_USER,
            smtp_password=SMTP_PASSWORD,
        )
        to = address()
        await SmtpSender(settings, tls_context=certificates.client_context()).send(otp_mail(to))
        await server.wait_for_mail(to)
        assert logins.tries == [SMTP_USER]

        wrong = smtp_settings(**{**settings.model_dump(), "smtp_password": "wrong-password"})
        with pytest.raises(MailDeferred, match="SMTPAuthenticationError"):
            await SmtpSender(wrong, tls_context=certificates.client_context()).send(otp_mail(address()))
    finally:
        await server.stop()


async def test_starttls_is_required_when_configured(smtp: SmtpServer) -> None:
    # This server offers no STARTTLS: the sender refuses to go on in plain text.
    settings = smtp_settings(smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_tls="starttls")
    with pytest.raises(MailDeferred):
        await SmtpSender(settings).send(otp_mail(address()))
    assert smtp.messages == []


async def test_implicit_tls(certificates: Certificates) -> None:
    server = SmtpServer(ssl_context=certificates.server_context())
    await server.start()
    try:
        settings = smtp_settings(smtp_host="127.0.0.1", smtp_port=server.port, smtp_tls="ssl")
        to = address()
        await SmtpSender(settings, tls_context=certificates.client_context()).send(otp_mail(to))
        await server.wait_for_mail(to)
        # Without trusting the server's certificate the sender does not send.
        with pytest.raises(MailDeferred):
            await SmtpSender(settings).send(otp_mail(address()))
    finally:
        await server.stop()


@pytest.mark.parametrize(
    ("where", "reply", "error"),
    [
        ("rcpt", "550 5.1.1 No such user", MailRejected),
        ("rcpt", "451 4.3.0 Try again later", MailDeferred),
        ("data", "554 5.7.1 Message refused", MailRejected),
        ("data", "452 4.3.1 Insufficient storage", MailDeferred),
    ],
)
async def test_the_servers_refusals(smtp: SmtpServer, where: str, reply: str, error: type[Exception]) -> None:
    setattr(smtp.handler, f"{where}_reply", reply)
    sender = SmtpSender(smtp_settings(smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_tls="none"))
    to = address()
    with pytest.raises(error) as caught:
        await sender.send(otp_mail(to))
    assert reply[:3] in str(caught.value)
    assert to not in str(caught.value), "errors do not carry the address"


async def test_a_server_that_is_down(smtp_server: SmtpServer) -> None:
    sender = SmtpSender(smtp_settings(smtp_host="127.0.0.1", smtp_port=smtp_server.port, smtp_tls="none"))
    with pytest.raises(MailDeferred) as caught:
        await sender.send(otp_mail())
    assert isinstance(caught.value.__cause__, aiosmtplib.SMTPConnectError | OSError)


def test_a_notification_has_its_links_clickable_and_no_code_highlighted() -> None:
    mail = MailRequest.model_validate(
        {
            "to": "bob@example.com",
            "subject": "Parley: 2 unread messages from Alice",
            "body": "Alice: call 555123\n\nOpen the chat: https://p.example/chats?c=1\n\nStop: https://p.example/u?s=2",
            "actionUrl": "https://p.example/chats?c=1",
            "unsubscribeUrl": "https://p.example/u?s=2",
        }
    )
    html = mail_parts(build_message(mail, "Parley <no-reply@p.example>"))["text/html"]
    assert 'href="https://p.example/chats?c=1"' in html and 'href="https://p.example/u?s=2"' in html
    assert "font-size:32px" not in html


def test_an_action_link_must_be_one_http_link() -> None:
    for bad in ("javascript:alert(1)", "https://a.example/\r\nBcc: x@y.z", "https://a b"):
        with pytest.raises(ValidationError):
            MailRequest.model_validate({"to": "a@example.com", "subject": "s", "body": "b", "actionUrl": bad})
