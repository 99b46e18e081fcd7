"""Configuration from the environment (and a ``.env`` file), one class per concern.

Every class reads the same flat variable names the contract lists (``DATABASE_URL``,
``REDIS_URL`` …), case-insensitively; the seed app's names (``Rabbitmq_Host`` …) are accepted too.
Nothing here is read at import time: :func:`get_settings` builds one :class:`Settings`, cached.
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, TypeVar
from urllib.parse import quote

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError as _SourceError

SERVICES = ("user", "chat", "mail", "web")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Secrets shipped in the example and deployment files: fine to read, never to run with.
PLACEHOLDER_SECRETS = ("change-me", "changeme", "replace-me", "example", "placeholder", "secret")


class _Base(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        case_sensitive=False,
        extra="ignore",
        env_ignore_empty=True,
    )


class AppSettings(_Base):
    """Where Parley runs and how it presents itself."""

    env: Literal["dev", "production", "test"] = Field(
        "dev", validation_alias=AliasChoices("PARLEY_ENV", "ENV")
    )
    data_dir: Path = Field(Path(".parley"), validation_alias=AliasChoices("PARLEY_DATA_DIR", "DATA_DIR"))
    public_url: str = "http://localhost:3000"
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: str = "INFO"
    web_dir: Path | None = None
    # Where ``parley serve`` listens unless --host/--port say otherwise.
    host: str | None = None
    port: int | None = Field(None, ge=1, le=65535)
    # Browser origins allowed to call the API and open sockets; empty means PUBLIC_URL alone.
    cors_origins: Annotated[list[str], NoDecode] = []
    # A bearer token that unlocks /metrics (see docs/deploy.md, "Security model").
    metrics_token: str | None = None
    # Keys the references that stand for email addresses in logs; unset: the token secret.
    log_ref_secret: str | None = None
    # Connections (and requests in flight) one process serves at once; beyond, 503.
    max_connections: int = Field(10000, ge=10)
    # Compressed WebSocket frames (permessage-deflate) for clients that offer it: about 50 KiB a socket.
    ws_per_message_deflate: bool = False

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        level = v.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return level

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, v: object) -> object:
        if isinstance(v, str):
            v = [x.strip() for x in v.split(",") if x.strip()]
        if isinstance(v, list):
            for origin in v:
                if not isinstance(origin, str) or not origin.startswith(("http://", "https://")):
                    raise ValueError(f"{origin!r} is not an origin such as https://chat.example.com")
            return [str(o).rstrip("/") for o in v]
        return v

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")


class DatabaseSettings(_Base):
    """One database per service; ``<SERVICE>_DATABASE_URL`` wins over ``DATABASE_URL``."""

    database_url: str | None = None
    user_database_url: str | None = None
    chat_database_url: str | None = None
    # Seconds a statement (or a wait for a pooled connection or a lock) may take before the
    # request is answered 503 instead of hanging.
    database_statement_timeout: float = Field(5.0, gt=0, le=300)

    @field_validator("database_url", "user_database_url", "chat_database_url")
    @classmethod
    def _check(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        if v.startswith("postgres://") or v.startswith("postgresql://"):
            # The seed-style URL names no driver; Parley always talks asyncpg.
            v = "postgresql+asyncpg://" + v.split("://", 1)[1]
        if not v.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
            raise ValueError("must be postgresql+asyncpg://… or sqlite+aiosqlite:///…")
        return v

    def url_for(self, service: str, data_dir: Path) -> str:
        specific = getattr(self, f"{service}_database_url", None)
        if specific:
            return str(specific)
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{data_dir / f'{service}.db'}"


class CacheSettings(_Base):
    redis_url: str = "memory://"

    @field_validator("redis_url")
    @classmethod
    def _check(cls, v: str) -> str:
        v = v or "memory://"
        if not v.startswith(("memory://", "redis://", "rediss://", "unix://")):
            raise ValueError("must be redis://host:port/db, rediss://… or memory://")
        return v

    @property
    def embedded(self) -> bool:
        return self.redis_url.startswith("memory://")


class BusSettings(_Base):
    amqp_url: str | None = None
    rabbitmq_host: str | None = None
    rabbitmq_port: int = 5672
    rabbitmq_username: str = "guest"
    rabbitmq_password: str = "guest"  # noqa: S105 RabbitMQ's own default, as the seed
    rabbitmq_vhost: str = "/"
    mail_queue: str = "send-otp"
    # Seconds between delivery attempts; the number of retries is the number of delays.
    mail_retry_delays: Annotated[list[float], NoDecode] = [10, 30, 90, 180, 300]

    @field_validator("amqp_url")
    @classmethod
    def _check(cls, v: str | None) -> str | None:
        if not v:
            return None
        if not v.startswith(("amqp://", "amqps://", "memory://")):
            raise ValueError("must be amqp://user:password@host:5672/vhost")
        return v

    @field_validator("mail_retry_delays", mode="before")
    @classmethod
    def _split(cls, v: object) -> object:
        if isinstance(v, str):
            return [float(x) for x in v.replace(" ", "").split(",") if x]
        return v

    @property
    def url(self) -> str:
        """The broker URL, ``memory://`` for the in-process queue."""
        if self.amqp_url:
            return self.amqp_url
        if self.rabbitmq_host:
            user, pw = quote(self.rabbitmq_username, safe=""), quote(self.rabbitmq_password, safe="")
            vhost = quote(self.rabbitmq_vhost, safe="")
            return f"amqp://{user}:{pw}@{self.rabbitmq_host}:{self.rabbitmq_port}/{vhost}"
        return "memory://"

    @property
    def embedded(self) -> bool:
        return self.url.startswith("memory://")


class TokenSettings(_Base):
    jwt_secret: str | None = None
    jwt_private_key: str | None = None
    jwt_public_keys: str | None = None
    jwt_ttl_seconds: int = 7 * 24 * 3600

    @field_validator("jwt_secret")
    @classmethod
    def _check(cls, v: str | None) -> str | None:
        if v is not None and len(v) < 32:
            raise ValueError("must be at least 32 characters")
        return v


class ServiceUrls(_Base):
    """Base URLs of the other services; unset means the service runs in this process."""

    user_service: str | None = None
    chat_service: str | None = None
    mail_service: str | None = None

    @field_validator("user_service", "chat_service", "mail_service")
    @classmethod
    def _check(cls, v: str | None) -> str | None:
        if not v:
            return None
        if not v.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return v.rstrip("/")


class MediaSettings(_Base):
    media_storage: str | None = None
    s3_endpoint_url: str | None = None
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    aws_region: str | None = None
    media_url_ttl_seconds: int = 3600


class SmtpSettings(_Base):
    smtp_host: str | None = None
    smtp_port: int | None = None
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_tls: Literal["starttls", "ssl", "none"] = "starttls"
    smtp_timeout_seconds: float = 20
    mail_from: str = "Parley <no-reply@parley.local>"
    # DEV_MAILBOX: unset (None) keeps the dev mailbox for local clients only, and refuses it in
    # production; true lets anyone who reaches /dev/mail read it (a try-out on a trusted network).
    dev_mailbox_in_production: bool | None = Field(
        None, validation_alias=AliasChoices("DEV_MAILBOX", "dev_mailbox_in_production")
    )

    @property
    def dev_mailbox_public(self) -> bool:
        """The operator set ``DEV_MAILBOX=true``: the mailbox answers clients on other machines too."""
        return self.dev_mailbox_in_production is True

    @property
    def dev_mailbox(self) -> bool:
        return not self.smtp_host

    @property
    def port(self) -> int:
        if self.smtp_port:
            return self.smtp_port
        return {"ssl": 465, "starttls": 587, "none": 25}[self.smtp_tls]


class LimitSettings(_Base):
    otp_resend_seconds: int = Field(60, ge=0)
    otp_ttl_seconds: int = Field(300, ge=1)
    otp_max_attempts: int = Field(5, ge=1)
    # Wrong codes an address may send in 24 hours, across every code it asks for.
    otp_max_failures_per_day: int = Field(50, ge=1)
    login_rate_per_minute: int = Field(20, ge=1)
    verify_rate_per_minute: int = Field(30, ge=1)
    # Sockets one user may hold at once (every instance together); a new one past it ends the oldest.
    max_sockets_per_user: int = Field(20, ge=1)
    # Events (sendMessage, typing, joinChat, ...) one socket may send a second, with bursts of twice
    # that; a socket that keeps going faster for 5 s is disconnected.
    socket_event_rate: float = Field(20, gt=0)
    # Per user, on the chat service: messages sent, and chats (1:1 and groups) started.
    message_rate_per_minute: int = Field(300, ge=1)
    chat_rate_per_hour: int = Field(60, ge=1)
    # Chat exports (GET /chat/{id}/export) per user and minute.
    export_rate_per_minute: int = Field(5, ge=1)
    # Avatar uploads (POST /user/avatar) per user and hour.
    avatar_rate_per_hour: int = Field(20, ge=1)
    # How long after sending a sender may still edit a message.
    edit_window_seconds: int = Field(3600, ge=0)
    # How long a message may stay unseen by a member before they get a missed-message email.
    missed_message_email_seconds: float = Field(600, gt=0, le=7 * 24 * 3600)
    # Trust X-Forwarded-For from a proxy in front (the web gateway, an ingress).
    trust_forwarded_for: bool = False


_S = TypeVar("_S", bound=_Base)


def _build(cls: type[_S], overrides: dict[str, object], env_file: bool) -> _S:
    """``cls`` from the environment, with the ``overrides`` that name its fields on top."""
    mine = {k: v for k, v in overrides.items() if k in cls.model_fields}
    if not env_file:
        mine["_env_file"] = None
    return cls(**mine)  # type: ignore[arg-type]


class Settings:
    """Every concern's settings, built and validated together."""

    def __init__(self, *, env_file: bool = True, **overrides: object) -> None:
        unknown = [k for k in overrides if not any(k in c.model_fields for c in _CONCERNS)]
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(unknown)}")
        self.app = _build(AppSettings, overrides, env_file)
        self.database = _build(DatabaseSettings, overrides, env_file)
        self.cache = _build(CacheSettings, overrides, env_file)
        self.bus = _build(BusSettings, overrides, env_file)
        self.tokens = _build(TokenSettings, overrides, env_file)
        self.services = _build(ServiceUrls, overrides, env_file)
        self.media = _build(MediaSettings, overrides, env_file)
        self.smtp = _build(SmtpSettings, overrides, env_file)
        self.limits = _build(LimitSettings, overrides, env_file)

    @property
    def dev(self) -> bool:
        return self.app.env != "production"

    def database_url(self, service: str) -> str:
        return self.database.url_for(service, self.app.data_dir)

    def token_secret(self) -> str | None:
        """The HS256 key, unless only asymmetric keys are configured (then verifiers need none)."""
        t = self.tokens
        if t.jwt_secret or not (t.jwt_private_key or t.jwt_public_keys):
            return self.jwt_secret()
        return None

    def log_ref_secret(self) -> str | None:
        """What keys email references in logs: ``LOG_REF_SECRET``, else the token secret (or
        private key); None for a process that has neither (it then keys them at random)."""
        t = self.tokens
        configured = self.app.log_ref_secret or t.jwt_secret or t.jwt_private_key
        if configured:
            return configured
        if self.dev and not t.jwt_public_keys:
            return self.jwt_secret()  # the one generated into the data dir
        return None

    def check_mail(self) -> None:
        """In production, login codes go by SMTP: the dev mailbox would show them to anyone."""
        if not self.dev and self.smtp.dev_mailbox and not self.smtp.dev_mailbox_in_production:
            raise SettingError(
                "SMTP_HOST",
                "is required in production (or DEV_MAILBOX=true to try Parley out: anyone can then "
                "read every login code at /dev/mail)",
            )

    def cors_origins(self) -> list[str]:
        """The browser origins allowed to call the API and open sockets: ``PUBLIC_URL`` (where
        Parley's own web app is) and those ``CORS_ORIGINS`` adds."""
        return list(dict.fromkeys([self.app.public_url, *self.app.cors_origins]))

    def check_production(self, service: str) -> None:
        """In production, refuse what works only by accident: example secrets, a missing broker."""
        if self.dev:
            return
        secrets_set = {
            "JWT_SECRET": self.tokens.jwt_secret,
            "METRICS_TOKEN": self.app.metrics_token,
            "LOG_REF_SECRET": self.app.log_ref_secret,
        }
        for name, value in secrets_set.items():
            if value is None:
                continue
            if len(value) < 32:
                raise SettingError(name, "must be at least 32 characters in production")
            if is_placeholder(value):
                raise SettingError(
                    name,
                    "looks like a placeholder, not a generated secret: make one with "
                    "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'",
                )
        if service == "user" and self.bus.embedded:
            raise SettingError(
                "AMQP_URL",
                "is required in production: without a broker no login code ever reaches the mail service",
            )

    def media_url(self) -> str:
        return self.media.media_storage or f"file://{self.app.data_dir / 'media'}"

    def jwt_secret(self) -> str:
        """The HS256 key: configured, or (outside production) generated once into the data dir."""
        if self.tokens.jwt_secret:
            return self.tokens.jwt_secret
        if not self.dev:
            raise SettingError("JWT_SECRET", "is required in production")
        path = self.app.data_dir / "jwt_secret"
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        secret = secrets.token_urlsafe(48)
        path.write_text(secret)
        path.chmod(0o600)
        return secret


def is_placeholder(value: str) -> bool:
    """A value copied from an example file rather than generated: placeholder words or one repeated character."""
    lowered = value.lower()
    return any(word in lowered for word in PLACEHOLDER_SECRETS) or len(set(value)) <= 4


class SettingError(Exception):
    """A setting is missing or malformed; carries the variable's name for a one-line message."""

    def __init__(self, name: str, problem: str) -> None:
        self.name = name.upper()
        self.problem = problem
        super().__init__(f"{self.name} {problem}")


def describe_validation_error(exc: ValidationError) -> SettingError:
    err = exc.errors()[0]
    name = str(err["loc"][0]) if err["loc"] else "setting"
    return SettingError(name, f"is invalid: {err['msg']}")


_CONCERNS: tuple[type[_Base], ...] = (
    AppSettings,
    DatabaseSettings,
    CacheSettings,
    BusSettings,
    TokenSettings,
    ServiceUrls,
    MediaSettings,
    SmtpSettings,
    LimitSettings,
)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, built once. Raises :class:`SettingError` naming a bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        raise describe_validation_error(exc) from None
    except _SourceError as exc:
        # pydantic-settings says 'error parsing value for field "x" from source …'
        name = str(exc).split('"')[1] if '"' in str(exc) else "setting"
        raise SettingError(name, "is malformed") from None
