"""The queue handler on its own: what it accepts, and what it tells the bus for each outcome."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from parley.core.bus import Envelope, PermanentFailure
from parley.mail.consumer import MailConsumer
from parley.mail.errors import MailDeferred, MailRejected
from parley.mail.schemas import BODY_MAX, SUBJECT_MAX, MailRequest


class FakeSender:
    def __init__(self, error: Exception | None = None) -> None:
        self.sent: list[MailRequest] = []
        self.error = error

    async def send(self, mail: MailRequest) -> None:
        if self.error is not None:
            raise self.error
        self.sent.append(mail)


def mails(outcome: str) -> float:
    return REGISTRY.get_sample_value("parley_mails_total", {"outcome": outcome}) or 0.0


def envelope(body: dict[str, Any], attempt: int = 1) -> Envelope:
    return Envelope(body=body, attempt=attempt)


GOOD = {"to": "alice@example.com", "subject": "Your Parley login code", "body": "Your code is 123456"}


async def test_a_good_message_is_sent_and_logged_by_domain_only() -> None:
    sender = FakeSender()
    before = mails("sent")
    with capture_logs() as logs:
        await MailConsumer(sender, retry_delays=[1])(envelope({**GOOD, "extra": "ignored"}))

    assert [(m.to, m.subject, m.body) for m in sender.sent] == [
        ("alice@example.com", GOOD["subject"], GOOD["body"])
    ]
    assert mails("sent") == before + 1
    [sent] = [e for e in logs if e["event"] == "mail.sent"]
    assert sent["domain"] == "example.com"
    assert "123456" not in repr(logs) and "alice" not in repr(logs)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"to": "alice@example.com", "subject": "Hi"},
        {"to": "not an address", "subject": "Hi", "body": "text"},
        {"to": "alice@example.com", "subject": "", "body": "text"},
        {"to": "alice@example.com", "subject": "x" * (SUBJECT_MAX + 1), "body": "text"},
        {"to": "alice@example.com", "subject": "Hi\r\nBcc: eve@example.com", "body": "text"},
        {"to": "alice@example.com", "subject": "Hi", "body": ""},
        {"to": "alice@example.com", "subject": "Hi", "body": "x" * (BODY_MAX + 1)},
        {"to": ["alice@example.com"], "subject": "Hi", "body": "text"},
        {"to": "alice@example.com", "subject": 42, "body": "text"},
        {**GOOD, "code": "12ab56"},
        {**GOOD, "code": 123456},
        {**GOOD, "kind": "Not a kind"},
    ],
)
async def test_an_invalid_message_fails_for_good(body: dict[str, Any]) -> None:
    sender = FakeSender()
    before = mails("dead")
    with pytest.raises(PermanentFailure) as caught:
        await MailConsumer(sender, retry_delays=[1])(envelope(body))
    assert sender.sent == []
    assert mails("dead") == before + 1
    assert str(caught.value).startswith("invalid mail (")
    assert "eve@" not in str(caught.value), "the reason names fields, not values"


async def test_the_code_is_a_field_of_its_own_and_the_seeds_message_still_works() -> None:
    sender = FakeSender()
    consumer = MailConsumer(sender, retry_delays=[1])
    await consumer(envelope({**GOOD, "kind": "otp", "code": "123456"}))
    await consumer(envelope(GOOD))  # as the seed publishes it
    await consumer(envelope({**GOOD, "kind": "digest", "template": "v2"}))  # kinds it does not know yet
    assert [(m.kind, m.code) for m in sender.sent] == [("otp", "123456"), (None, None), ("digest", None)]


async def test_limits_are_inclusive() -> None:
    sender = FakeSender()
    longest = {"to": "a@example.com", "subject": "s" * SUBJECT_MAX, "body": "b" * BODY_MAX}
    await MailConsumer(sender, retry_delays=[1])(envelope(longest))
    assert len(sender.sent) == 1


async def test_a_refused_mail_fails_for_good() -> None:
    before = mails("dead")
    consumer = MailConsumer(FakeSender(MailRejected("recipient refused (550)")), retry_delays=[1, 2])
    with capture_logs() as logs, pytest.raises(PermanentFailure, match="recipient refused"):
        await consumer(envelope(GOOD))
    assert mails("dead") == before + 1
    assert [e["event"] for e in logs] == ["mail.rejected"]


async def test_a_deferred_mail_is_retried_until_the_last_attempt() -> None:
    consumer = MailConsumer(FakeSender(MailDeferred("ConnectionRefusedError")), retry_delays=[1, 2])
    retried, dead = mails("retried"), mails("dead")
    for attempt in (1, 2):
        with pytest.raises(MailDeferred):
            await consumer(envelope(GOOD, attempt=attempt))
    assert (mails("retried"), mails("dead")) == (retried + 2, dead)

    with capture_logs() as logs, pytest.raises(MailDeferred):
        await consumer(envelope(GOOD, attempt=3))
    assert (mails("retried"), mails("dead")) == (retried + 2, dead + 1)
    assert [e["event"] for e in logs] == ["mail.dead"]
