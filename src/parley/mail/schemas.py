"""The dev mailbox's documents; the mail queue's message is :class:`parley.core.mail.MailRequest`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from parley.core.mail import BODY_MAX, SUBJECT_MAX, URL_MAX, MailRequest

__all__ = ["BODY_MAX", "SUBJECT_MAX", "URL_MAX", "MailRequest", "MailboxEntry"]


class MailboxEntry(BaseModel):
    """A mail the dev mailbox received, as ``GET /dev/mail/messages`` lists it."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True)

    to: str = Field(examples=["alice@example.com"])
    subject: str = Field(examples=["Your Parley login code"])
    body: str = Field(examples=["Your Parley login code is 123456"])
    received_at: str = Field(alias="receivedAt", examples=["2026-11-25T10:00:00.000Z"])
    # The page shows a code mail's code large; the listing keeps to ``{to, subject, body, receivedAt}``.
    code: str | None = Field(None, exclude=True)
