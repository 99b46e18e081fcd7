"""The dev mailbox: printed to the console, the last 200 kept newest first, shown only to this machine."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI

from parley.mail.mailbox import DevMailbox
from parley.mail.schemas import MailRequest
from tests.mail.helpers import MailSettings, running

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def request(n: int) -> MailRequest:
    return MailRequest(to=f"user{n}@example.com", subject=f"Mail {n}", body=f"Your code is {n:06d}")


async def test_keeps_mail_newest_first() -> None:
    box = DevMailbox()
    for n in range(3):
        await box.send(request(n))
    listed = box.messages()
    assert [m.subject for m in listed] == ["Mail 2", "Mail 1", "Mail 0"]
    assert all(ISO_MS.match(m.received_at) for m in listed)
    assert listed[0].model_dump(by_alias=True).keys() == {"to", "subject", "body", "receivedAt"}


async def test_keeps_only_the_last_200() -> None:
    box = DevMailbox()
    for n in range(205):
        await box.send(request(n))
    listed = box.messages()
    assert len(listed) == 200
    assert (listed[0].subject, listed[-1].subject) == ("Mail 204", "Mail 5")


async def test_prints_each_mail_to_the_console(capsys: pytest.CaptureFixture[str]) -> None:
    box = DevMailbox()
    await box.send(
        MailRequest(to="bob@example.com", subject="Your Parley login code", body="Your code is 042917 [b]")
    )
    out = capsys.readouterr().out
    assert "bob@example.com" in out
    assert "Your Parley login code" in out
    assert "042917" in out, "the code reaches the person at the terminal"
    assert "[b]" in out, "the text is printed as it is, not as markup"


# Who may read it: it shows every login code.


async def read_mailbox(app: FastAPI, ip: str, headers: dict[str, str] | None = None) -> list[int]:
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://mail") as client:
        return [
            (await client.get(path, headers=headers)).status_code
            for path in ("/dev/mail/messages", "/dev/mail")
        ]


async def test_the_dev_mailbox_answers_only_this_machine(mail_settings: MailSettings) -> None:
    async with running(mail_settings(smtp_host=None, smtp_port=None)) as app:
        assert await read_mailbox(app, "127.0.0.1") == [200, 200]
        assert await read_mailbox(app, "::1") == [200, 200]
        assert await read_mailbox(app, "192.0.2.10") == [403, 403]
        # Through a proxy on this machine, the client it names is what counts.
        assert await read_mailbox(app, "127.0.0.1", {"X-Forwarded-For": "192.0.2.10"}) == [403, 403]
        transport = httpx.ASGITransport(app=app, client=("192.0.2.10", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://mail") as client:
            refused = await client.get("/dev/mail/messages")
        assert refused.json()["code"] == "mailbox_local_only"
        assert "DEV_MAILBOX=true" in refused.json()["message"]


async def test_dev_mailbox_true_opens_it_to_other_machines(mail_settings: MailSettings) -> None:
    async with running(mail_settings(smtp_host=None, smtp_port=None, dev_mailbox_in_production=True)) as app:
        assert await read_mailbox(app, "192.0.2.10") == [200, 200]
