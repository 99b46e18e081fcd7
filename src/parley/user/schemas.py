"""The user service's API documents, shaped like the seed app's (``_id``, ``createdAt`` …)."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from parley.user.avatars import avatar_url
from parley.user.store import LoginSession, User

BATCH_MAX = 500


def iso(moment: datetime) -> str:
    """``2026-11-25T10:00:00.000Z``: UTC, milliseconds, as the seed's documents."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class AvatarDocument(BaseModel):
    """Where a user's avatar is: square WebP pictures, for any signed-in caller."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True)

    url: str = Field(
        examples=["/api/v1/user/avatar/6745a1b2c3d4e5f6a7b8c9d0/256?v=q3Jx0b2Qm7yTn1VhZk4sWcPe"],
        description="About 256×256 pixels; the URL changes with every new avatar",
    )
    thumb_url: str = Field(
        alias="thumbUrl",
        examples=["/api/v1/user/avatar/6745a1b2c3d4e5f6a7b8c9d0/64?v=q3Jx0b2Qm7yTn1VhZk4sWcPe"],
        description="About 64×64 pixels",
    )

    @classmethod
    def of(cls, user: User) -> AvatarDocument | None:
        if user.avatar_id is None:
            return None
        return cls(
            url=avatar_url(user.id, user.avatar_id, "256"),
            thumb_url=avatar_url(user.id, user.avatar_id, "64"),
        )


class UserDocument(BaseModel):
    """A user as every client sees one."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True)

    id: str = Field(alias="_id", examples=["6745a1b2c3d4e5f6a7b8c9d0"])
    name: str = Field(examples=["alice"])
    email: str | None = Field(
        default=None,
        examples=["alice@example.com"],
        description=(
            "Only for people who took part in a chat you share (started it or sent something), "
            "or whose exact address you searched for"
        ),
    )
    created_at: str = Field(alias="createdAt", examples=["2026-11-25T10:00:00.000Z"])
    updated_at: str = Field(alias="updatedAt", examples=["2026-11-25T10:00:00.000Z"])
    avatar: AvatarDocument | None = Field(default=None, description="Absent when the user has no avatar")

    @classmethod
    def of(cls, user: User, *, show_email: bool = True) -> UserDocument:
        return cls(
            id=user.id,
            name=user.name,
            email=user.email if show_email else None,
            created_at=iso(user.created_at),
            updated_at=iso(user.updated_at),
            avatar=AvatarDocument.of(user),
        )


class ProfileDocument(UserDocument):
    """A user as ``/user/batch`` describes one to the services acting for the caller."""

    read_receipts: bool = Field(
        alias="readReceipts", description="Whether the user sends and sees read receipts"
    )

    @classmethod
    def of_profile(cls, user: User, *, show_email: bool) -> ProfileDocument:
        return cls(
            **UserDocument.of(user, show_email=show_email).model_dump(), read_receipts=user.read_receipts
        )


class SessionDocument(BaseModel):
    """A signed-in device, as its owner sees it in their list of sessions."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True)

    id: str = Field(alias="_id", examples=["6745a1b2c3d4e5f6a7b8c9d0"])
    created_at: str = Field(alias="createdAt", examples=["2026-11-25T10:00:00.000Z"])
    last_used_at: str = Field(
        alias="lastUsedAt",
        examples=["2026-11-25T10:00:00.000Z"],
        description="When the session last called the user service (recorded at most once a minute)",
    )
    user_agent: str = Field(alias="userAgent", examples=["Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"])
    current: bool = Field(description="Whether this is the session of the request's token")

    @classmethod
    def of(cls, row: LoginSession, current_session: str) -> SessionDocument:
        return cls(
            id=row.id,
            created_at=iso(row.created_at),
            last_used_at=iso(row.last_used_at),
            user_agent=row.user_agent,
            current=row.id == current_session,
        )


class LoginRequest(BaseModel):
    email: str = Field(max_length=1000, examples=["alice@example.com"])


class VerifyRequest(BaseModel):
    # Some clients send the code as a number; it is read as the digits they typed.
    model_config = ConfigDict(coerce_numbers_to_str=True)

    email: str = Field(max_length=1000, examples=["alice@example.com"])
    otp: str = Field(max_length=100, examples=["042917"], description="The 6-digit code from the email")


class UpdateUserRequest(BaseModel):
    name: str = Field(
        max_length=1000,
        examples=["Alice Liddell"],
        description="1 to 50 visible characters; surrounding spaces are trimmed",
    )


class BatchRequest(BaseModel):
    ids: list[str] = Field(max_length=BATCH_MAX, description=f"At most {BATCH_MAX} user ids")


class SettingsDocument(BaseModel):
    """The caller's settings."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True)

    email_notifications: bool = Field(
        alias="emailNotifications", description="Email me about messages I have not seen for a while"
    )
    read_receipts: bool = Field(
        alias="readReceipts", description="Send and see read receipts (unread counts work either way)"
    )

    @classmethod
    def of(cls, user: User) -> SettingsDocument:
        return cls(email_notifications=user.email_notifications, read_receipts=user.read_receipts)


class SettingsPatch(BaseModel):
    """The settings to change; those left out stay as they are."""

    model_config = ConfigDict(extra="forbid", validate_by_name=False, validate_by_alias=True)

    email_notifications: StrictBool | None = Field(default=None, alias="emailNotifications")
    read_receipts: StrictBool | None = Field(default=None, alias="readReceipts")

    @field_validator("email_notifications", "read_receipts", mode="before")
    @classmethod
    def not_null(cls, value: object) -> object:
        # Left out means "unchanged"; an explicit null is a mistake, not a third value.
        if value is None:
            raise ValueError("must be true or false")
        return value


class BlockRelationsRequest(BaseModel):
    ids: list[str] = Field(max_length=BATCH_MAX, description=f"At most {BATCH_MAX} user ids")


class BlockRelations(BaseModel):
    """How the caller and each of the users asked about stand: who blocked whom."""

    blocking: list[str] = Field(description="Those of the ids the caller has blocked")
    blocked_by: list[str] = Field(
        alias="blockedBy", description="Those of the ids who have blocked the caller"
    )

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True)


class MessageResponse(BaseModel):
    message: str


class ProfileChanged(BaseModel):
    """A profile change that keeps the token: the user as they are now."""

    message: str
    user: UserDocument


class LoginResponse(MessageResponse):
    """A code is on its way; how long it works, and when another may be asked for."""

    expiresIn: int = Field(description="Seconds the code works for, from now.", examples=[300])
    resendIn: int = Field(description="Seconds until another code may be asked for.", examples=[60])


class AuthResponse(BaseModel):
    """A successful login or profile change: the user and a token that says who they are now."""

    message: str
    user: UserDocument
    token: str


class UsersResponse(BaseModel):
    users: list[ProfileDocument]


class ErrorResponse(BaseModel):
    message: str
    code: str
