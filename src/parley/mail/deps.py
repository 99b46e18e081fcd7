"""The mail service's dependencies, declared once as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from parley.core.app import is_local_client
from parley.mail.errors import MailboxDisabled, MailboxNotLocal
from parley.mail.mailbox import DevMailbox


async def get_mailbox(request: Request) -> DevMailbox:
    """The dev mailbox; 404 when a real SMTP server is configured (there is none then).

    It shows every login code, so it answers only clients on this machine (through a proxy too:
    every ``X-Forwarded-For`` hop must be local) unless the operator set ``DEV_MAILBOX=true``.
    """
    mailbox: DevMailbox | None = request.app.state.mailbox
    if mailbox is None:
        raise MailboxDisabled()
    settings = getattr(request.app.state, "settings", None)
    public = settings is not None and settings.smtp.dev_mailbox_public
    if not public and not is_local_client(request.scope):
        raise MailboxNotLocal()
    return mailbox


Mailbox = Annotated[DevMailbox, Depends(get_mailbox)]
