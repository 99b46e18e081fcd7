"""The mail queue's message: what a service asks the mail service to send (queue ``send-otp``).

One model for both ends: the user service builds its login-code mail with it and the mail service
reads every queue message through it. It stays compatible with the seed's ``{to, subject, body}``:
the other fields are optional, and fields it does not know are ignored, so publishers may add to
the message before the mail service knows what to do with them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

SUBJECT_MAX = 200
BODY_MAX = 20_000
URL_MAX = 2000

# ``kind`` of a login-code mail.
OTP_KIND = "otp"


class MailRequest(BaseModel):
    """One message of the mail queue."""

    model_config = ConfigDict(
        extra="ignore", str_strip_whitespace=False, validate_by_name=True, validate_by_alias=True
    )

    to: EmailStr
    subject: str = Field(min_length=1, max_length=SUBJECT_MAX)
    body: str = Field(min_length=1, max_length=BODY_MAX, description="The plain-text mail.")
    kind: str | None = Field(
        None,
        max_length=64,
        pattern=r"^[a-z][a-z0-9_.-]*$",
        description="What the mail is, for its layout: `otp` for a login code; none for a plain mail.",
    )
    code: str | None = Field(
        None,
        pattern=r"^[0-9]{4,12}$",
        description="A login code the body contains, shown large; none for every other mail.",
    )
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

    def to_message(self) -> dict[str, Any]:
        """The queue message: JSON, wire names, and no field that is not set."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
