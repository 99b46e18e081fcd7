"""The mail service's errors: why a mail was not sent, and the dev mailbox being off."""

from __future__ import annotations

from parley.core.errors import Forbidden, NotFound


class MailNotSent(Exception):
    """The mail was not handed to the SMTP server.

    Messages carry the SMTP reply code and the error's kind, never the address or the text.
    """


class MailDeferred(MailNotSent):
    """The server could not take the mail now (down, timed out, a 4xx reply): try again later."""


class MailRejected(MailNotSent):
    """The server refused the mail for good (a 5xx reply to the recipient or the content)."""


class MailboxDisabled(NotFound):
    code, message = "mailbox_disabled", "The dev mailbox is off: mail goes to the SMTP server"


class MailboxNotLocal(Forbidden):
    code = "mailbox_local_only"
    message = (
        "The dev mailbox answers only this machine (it shows login codes): "
        "set DEV_MAILBOX=true to open it to others"
    )
