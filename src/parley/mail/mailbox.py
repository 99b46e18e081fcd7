"""The dev mailbox: where mail goes when no SMTP server is configured.

Each mail is printed to the console as one readable block (in development that is how a login
code reaches the person at the terminal; it is output for them, not a log line) and kept in
memory, the newest first, for ``/dev/mail``.
"""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime

from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from parley.mail.schemas import MailboxEntry, MailRequest

CAPACITY = 200


def iso(moment: datetime) -> str:
    """``2026-11-25T10:00:00.000Z``: UTC, milliseconds, as every Parley document."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class DevMailbox:
    """A :class:`~parley.mail.sender.Sender` that prints mail and keeps the last ``capacity``."""

    def __init__(self, *, capacity: int = CAPACITY, console: Console | None = None) -> None:
        self._mails: deque[MailboxEntry] = deque(maxlen=capacity)
        # No file given: rich writes to whatever sys.stdout is when it prints.
        self.console = console or Console(highlight=False)

    async def send(self, mail: MailRequest) -> None:
        entry = MailboxEntry(
            to=str(mail.to),
            subject=mail.subject,
            body=mail.body,
            received_at=iso(datetime.now(UTC)),
            code=mail.code,
        )
        self._mails.appendleft(entry)
        self.show(entry)

    def show(self, mail: MailboxEntry) -> None:
        body = Text(mail.body)
        if mail.code:
            body.highlight_words([mail.code], "bold reverse")
        title = Text.assemble(("Mail to ", "dim"), (mail.to, "bold"), ("  ·  ", "dim"), mail.subject)
        self.console.print(Panel(body, title=title, title_align="left", expand=False))

    def messages(self) -> list[MailboxEntry]:
        """Every mail kept, the newest first."""
        return list(self._mails)
