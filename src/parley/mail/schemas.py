"""The mail queue's message and the dev mailbox's documents."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

SUBJECT_MAX = 200
BODY_MAX = 20_000
URL_MAX = 2000


class MailRequest(BaseModel):
    """One message of the mail queue: ``{to, subject, body}`` as the seed publishes it.

    Fields other than these three are ignored, so publishers may add to the message.
    """

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False, populate_by_name=True)

    to: EmailStr
    subject: str = Field(min_length=1, max_length=SUBJECT_MAX)
    body: str = Field(min_length=1, max_length=BODY_MAX)
    # Notification mails: the one-click unsubscribe link, sent as RFC 8058 ``List-Unsubscribe``
    # and ``List-Unsubscribe-Post`` headers.
    unsubscribe_url: str | None = Field(None, alias="unsubscribeUrl", max_length=URL_MAX)
    # The link the mail is about (a chat): clickable in the HTML part.
    action_url: str | None = Field(None, alias="actionUrl", max_length=URL_MAX)

    @field_validator("unsubscribe_url", "action_url")
    @classmethod
    def _link(cls, v: str | None) -> str | None:
        # RFC 8058 asks for HTTPS; plain HTTP is kept for local and development setups. Nothing that
        # could end the header or the angle brackets around the link.
        if v is not None and (
            not v.startswith(("https://", "http://")) or any(ch in v for ch in "\r\n\x00<> ")
        ):
            raise ValueError("must be one http(s) link")
        return v

    @field_validator("subject")
    @classmethod
    def _one_line(cls, v: str) -> str:
        # A line break in a header would let the subject write headers of its own.
        if any(ch in v for ch in "\r\n\x00"):
            raise ValueError("the subject must be one line")
        return v


class MailboxEntry(BaseModel):
    """A mail the dev mailbox received, as ``GET /dev/mail/messages`` lists it."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True)

    to: str = Field(examples=["alice@example.com"])
    subject: str = Field(examples=["Your Parley login code"])
    body: str = Field(examples=["Your Parley login code is 123456"])
    received_at: str = Field(alias="receivedAt", examples=["2026-11-25T10:00:00.000Z"])
