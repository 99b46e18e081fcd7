"""Email addresses never reach the logs: through logins, refusals, a lockout and the mail sent."""

from __future__ import annotations

import json
from typing import Any

import pytest
from structlog.testing import capture_logs

from parley.core.bus import Envelope, PermanentFailure
from parley.mail.consumer import MailConsumer
from parley.mail.errors import MailDeferred, MailRejected
from parley.mail.schemas import MailRequest
from parley.user.otp import OtpStore
from tests.fixtures.stack import Stack, unique_email
from tests.user.test_routes import ask_code, wrong


async def test_no_address_is_logged_through_a_login(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    email = unique_email("private")
    otps: OtpStore = stack.apps["user"].state.login.otps
    monkeypatch.setattr(otps, "max_failures", 1)
    caplog.set_level("INFO")  # libraries below INFO (SQL parameters) are masked by the formatter: test_redact
    with capture_logs() as events:
        code = await ask_code(stack, email)  # the mail is sent (and logged) before the code is read
        client = stack.client()
        assert (
            await client.post("/api/v1/verify", json={"email": email, "otp": wrong(code)})
        ).status_code == 400
        assert (await client.post("/api/v1/verify", json={"email": email, "otp": code})).status_code == 429
        assert (
            await client.post("/api/v1/verify", json={"email": "x" + email, "otp": code})
        ).status_code == 400
        await stack.apps["user"].state.cache.delete(f"parley:otp:failures:{email}")
        assert (await client.post("/api/v1/verify", json={"email": email, "otp": code})).status_code == 200
    names = {event["event"] for event in events}
    assert {"user.otp.sent", "mail.sent", "user.otp.refused", "user.otp.locked", "user.login"} <= names
    logged = json.dumps(events, default=str) + caplog.text
    assert email not in logged
    assert email.split("@")[0] not in logged


class FailingSender:
    def __init__(self, error: Exception) -> None:
        self.error = error

    async def send(self, mail: MailRequest) -> None:
        raise self.error


@pytest.mark.parametrize(
    "error",
    [
        MailDeferred("SMTPRecipientsRefused: {'bob@example.com': (450, 'try later')}"),
        MailRejected("550 5.1.1 <bob@example.com>: Recipient address rejected"),
    ],
)
async def test_a_failed_send_logs_no_address(error: Exception) -> None:
    mail = {"to": "bob@example.com", "subject": "Your Parley login code", "body": "Your code is 123456"}
    consumer = MailConsumer(FailingSender(error), retry_delays=[1])
    with capture_logs() as events, pytest.raises(Exception) as raised:
        await consumer(Envelope(body=mail, attempt=2))
    logged: list[dict[str, Any]] = list(events)
    assert logged and "bob@example.com" not in json.dumps(logged, default=str)
    if isinstance(raised.value, PermanentFailure):
        # The reason is kept with the parked message: no address there either.
        assert "bob@example.com" not in str(raised.value)
