"""The mail worker end to end, on the in-process queue and on RabbitMQ, with a real SMTP server:
a mail leaves the queue only once the server took it, survives the server, the worker and bad
neighbours, and what can never be sent ends in ``<queue>.dead``."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client import REGISTRY

from parley.core.bus import ERROR_HEADER, MemoryBus, RabbitBus, dead_queue
from parley.core.settings import SettingError
from tests.mail.helpers import (
    MailSettings,
    QueueProbe,
    SmtpServer,
    address,
    mail,
    mail_parts,
    running,
    wait_for,
)

Publisher = MemoryBus | RabbitBus


def mails(outcome: str) -> float:
    return REGISTRY.get_sample_value("parley_mails_total", {"outcome": outcome}) or 0.0


async def test_the_login_code_reaches_the_smtp_server(
    smtp: SmtpServer, mail_settings: MailSettings, publisher: Publisher, probe: QueueProbe, mail_queue: str
) -> None:
    settings = mail_settings(mail_from="Parley Login <login@parley.test>")
    to = address()
    sent = mails("sent")
    async with running(settings):
        await publisher.publish(mail_queue, mail(to, code="314159"))
        [message] = await smtp.wait_for_mail(to)
        # At least: the counter is the process's, and other stacks of the session may send meanwhile.
        await wait_for(lambda: mails("sent") >= sent + 1, what="the mail to be counted as sent")

    assert message["From"] == "Parley Login <login@parley.test>"
    assert message["Subject"] == "Your Parley login code"
    body = mail_parts(message)
    assert "Your Parley login code is 314159" in body["text/plain"]
    assert ">314159</span>" in body["text/html"]
    assert smtp.handler.envelopes == [("login@parley.test", [to])]
    assert await probe.count(mail_queue) == 0, "acknowledged once sent"
    assert await probe.count(dead_queue(mail_queue)) == 0


async def test_mail_waits_while_the_smtp_server_is_down(
    smtp_server: SmtpServer,
    mail_settings: MailSettings,
    publisher: Publisher,
    probe: QueueProbe,
    mail_queue: str,
) -> None:
    settings = mail_settings(mail_retry_delays=[0.3] * 30)
    to = address()
    retried = mails("retried")
    async with running(settings):
        await publisher.publish(mail_queue, mail(to))
        await wait_for(lambda: mails("retried") >= retried + 2, what="the worker to fail and retry")
        assert smtp_server.messages == []

        await smtp_server.start()
        [message] = await smtp_server.wait_for_mail(to)

    assert message["To"] == to
    assert await probe.count(dead_queue(mail_queue)) == 0
    assert await probe.count(mail_queue) == 0


async def test_mail_queued_while_the_worker_is_stopped_is_sent_when_it_starts(
    smtp: SmtpServer, mail_settings: MailSettings, publisher: Publisher, probe: QueueProbe, mail_queue: str
) -> None:
    settings = mail_settings()
    first, second = address(), address()
    async with running(settings):
        await publisher.publish(mail_queue, mail(first))
        await smtp.wait_for_mail(first)

    # A login while the mail service is down: the code waits in the queue.
    await publisher.publish(mail_queue, mail(second))
    await wait_for(lambda: probe.count(mail_queue), what="the mail to wait in the queue")
    assert smtp.to(second) == []

    async with running(settings):
        await smtp.wait_for_mail(second)
    assert len(smtp.to(first)) == 1, "the first mail was not sent again"


async def test_a_refused_recipient_is_parked_in_the_dead_queue(
    smtp: SmtpServer, mail_settings: MailSettings, publisher: Publisher, probe: QueueProbe
) -> None:
    settings = mail_settings(mail_queue="send-otp")
    smtp.handler.rcpt_reply = "550 5.1.1 No such user here"
    to = address()
    async with running(settings):
        await publisher.publish("send-otp", mail(to))
        [parked] = await probe.wait_parked("send-otp.dead")

    assert parked.headers[ERROR_HEADER] == "rejected: recipient refused (550)"
    assert to in parked.body.decode(), "the mail is kept as it was published"
    assert smtp.handler.refusals == 1, "a permanent refusal is not retried"
    assert await probe.count("send-otp") == 0


@pytest.mark.parametrize("failure", ["server down", "451 reply"])
async def test_a_mail_that_keeps_failing_is_parked_after_the_last_retry(
    smtp_server: SmtpServer,
    mail_settings: MailSettings,
    publisher: Publisher,
    probe: QueueProbe,
    mail_queue: str,
    failure: str,
) -> None:
    if failure == "451 reply":
        smtp_server.handler.rcpt_reply = "451 4.3.0 Mailbox busy, try later"
        await smtp_server.start()
    settings = mail_settings(mail_retry_delays=[0.05, 0.1])
    retried, dead = mails("retried"), mails("dead")
    async with running(settings):
        await publisher.publish(mail_queue, mail(address()))
        [parked] = await probe.wait_parked(dead_queue(mail_queue))

    assert str(parked.headers[ERROR_HEADER]).startswith("MailDeferred: ")
    assert (mails("retried"), mails("dead")) == (retried + 2, dead + 1), "two retries, then parked"
    if failure == "451 reply":
        assert smtp_server.handler.refusals == 3
    assert await probe.count(mail_queue) == 0


async def test_malformed_messages_are_parked_and_the_worker_goes_on(
    smtp: SmtpServer, mail_settings: MailSettings, publisher: Publisher, probe: QueueProbe, mail_queue: str
) -> None:
    to = address()
    async with running(mail_settings()):
        await publisher.publish_raw(mail_queue, b"{not json")
        await publisher.publish(mail_queue, {"to": to, "subject": "No body"})
        await publisher.publish(mail_queue, {"to": "nobody", "subject": "Hi", "body": "text"})
        await publisher.publish(mail_queue, mail(to))
        await smtp.wait_for_mail(to)
        parked = await probe.wait_parked(dead_queue(mail_queue), 3)

    errors = sorted(str(p.headers[ERROR_HEADER]) for p in parked)
    assert errors == [
        "malformed: not a JSON object",
        "rejected: invalid mail (body: missing)",
        "rejected: invalid mail (to: value_error)",
    ]
    assert len(smtp.messages) == 1


async def test_a_bad_mail_from_stops_the_worker_at_start(mail_settings: MailSettings) -> None:
    with pytest.raises(SettingError) as caught:
        async with running(mail_settings(mail_from="Parley")):
            pass
    assert caught.value.name == "MAIL_FROM"


async def test_the_worker_is_ready_while_the_smtp_server_is_down(
    smtp_server: SmtpServer, mail_settings: MailSettings
) -> None:
    async with running(mail_settings()) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mail") as client:
            ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"] == {"broker": "ok"}
            assert (await client.get("/healthz")).status_code == 200
            metrics = await client.get("/metrics")
            assert "parley_mails_total" in metrics.text


async def test_shutdown_finishes_the_mail_in_hand(
    smtp: SmtpServer,
    mail_settings: MailSettings,
    publisher: Publisher,
    probe: QueueProbe,
    mail_queue: str,
) -> None:
    smtp.handler.data_delay = 1.0
    to = address()
    sent = mails("sent")
    async with running(mail_settings()):
        await publisher.publish(mail_queue, mail(to))
        await wait_for(lambda: smtp.handler.data_started == 1, what="the server to be receiving the mail")
        # Leaving the block stops the worker while the server is still taking the mail.

    assert len(smtp.to(to)) == 1
    assert mails("sent") == sent + 1, "the worker waited for the server's answer"
    assert await probe.count(mail_queue) == 0, "and acknowledged, so it is not sent twice"
