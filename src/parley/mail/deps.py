"""The mail service's dependencies, declared once as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from parley.mail.errors import MailboxDisabled
from parley.mail.mailbox import DevMailbox


async def get_mailbox(request: Request) -> DevMailbox:
    """The dev mailbox; 404 when a real SMTP server is configured (there is none then)."""
    mailbox: DevMailbox | None = request.app.state.mailbox
    if mailbox is None:
        raise MailboxDisabled()
    return mailbox


Mailbox = Annotated[DevMailbox, Depends(get_mailbox)]
