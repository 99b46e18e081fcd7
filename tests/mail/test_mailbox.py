"""The dev mailbox: printed to the console, the last 200 kept newest first."""

from __future__ import annotations

import re

import pytest

from parley.mail.mailbox import DevMailbox
from parley.mail.schemas import MailRequest

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
