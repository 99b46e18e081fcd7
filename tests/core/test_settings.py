"""``core.settings``: defaults, the seed's variable names, ``.env`` files and clear errors."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from parley.core.settings import SettingError, Settings, get_settings


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run in an empty directory (no stray ``.env``) with no Parley variable set."""
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def write_env(path: Path, text: str) -> None:
    (path / ".env").write_text(text, encoding="utf-8")


def test_defaults_are_the_embedded_system(isolated: Path) -> None:
    s = Settings()
    assert s.app.env == "dev"
    assert s.dev
    assert s.app.public_url == "http://localhost:3000"
    assert s.cache.redis_url == "memory://"
    assert s.cache.embedded
    assert s.bus.url == "memory://"
    assert s.bus.embedded
    assert s.bus.mail_queue == "send-otp"
    assert s.database_url("user") == "sqlite+aiosqlite:///.parley/user.db"
    assert s.database_url("chat") == "sqlite+aiosqlite:///.parley/chat.db"
    assert s.smtp.dev_mailbox
    assert s.services.user_service is None
    assert s.media_url() == "file://.parley/media"
    limits = s.limits
    assert (limits.otp_resend_seconds, limits.otp_ttl_seconds, limits.otp_max_attempts) == (60, 300, 5)
    assert (limits.login_rate_per_minute, limits.verify_rate_per_minute) == (20, 30)
    assert not limits.trust_forwarded_for


def test_the_seed_rabbitmq_names_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("Rabbitmq_Host", "broker")
    monkeypatch.setenv("Rabbitmq_Username", "parley")
    monkeypatch.setenv("Rabbitmq_Password", "p@ss/word")
    s = Settings()
    assert s.bus.url == "amqp://parley:p%40ss%2Fword@broker:5672/%2F"
    assert not s.bus.embedded


def test_amqp_url_wins_over_the_seed_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RABBITMQ_HOST", "broker")
    monkeypatch.setenv("AMQP_URL", "amqp://u:p@elsewhere:5672/parley")
    assert Settings().bus.url == "amqp://u:p@elsewhere:5672/parley"


def test_names_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("redis_url", "redis://cache:6379/4")
    monkeypatch.setenv("Login_Rate_Per_Minute", "7")
    s = Settings()
    assert s.cache.redis_url == "redis://cache:6379/4"
    assert s.limits.login_rate_per_minute == 7


def test_a_dotenv_file_is_read_and_the_environment_overrides_it(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_env(
        isolated,
        "REDIS_URL=redis://from-file:6379/1\nOTP_RESEND_SECONDS=30\nPUBLIC_URL=https://chat.example.com/\n",
    )
    monkeypatch.setenv("OTP_RESEND_SECONDS", "45")
    s = Settings()
    assert s.cache.redis_url == "redis://from-file:6379/1"
    assert s.limits.otp_resend_seconds == 45
    assert s.app.public_url == "https://chat.example.com"


def test_the_dotenv_file_can_be_ignored(isolated: Path) -> None:
    write_env(isolated, "REDIS_URL=redis://from-file:6379/1\n")
    assert Settings(env_file=False).cache.redis_url == "memory://"


def test_overrides_win_and_unknown_ones_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://env:6379/0")
    assert Settings(redis_url="redis://override:6379/0").cache.redis_url == "redis://override:6379/0"
    with pytest.raises(TypeError, match="no_such_setting"):
        Settings(no_such_setting=1)


def test_each_service_has_its_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://parley@db:5432/shared")
    monkeypatch.setenv("USER_DATABASE_URL", "postgresql://parley@db:5432/users")
    s = Settings()
    assert s.database_url("user") == "postgresql+asyncpg://parley@db:5432/users"
    assert s.database_url("chat") == "postgresql+asyncpg://parley@db:5432/shared"


def test_an_empty_database_url_means_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "")
    assert Settings(data_dir=Path("/data")).database_url("chat") == "sqlite+aiosqlite:////data/chat.db"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REDIS_URL", "ftp://cache"),
        ("DATABASE_URL", "mysql://db/parley"),
        ("AMQP_URL", "http://broker"),
        ("PUBLIC_URL", "chat.example.com"),
        ("JWT_SECRET", "short"),
        ("LOGIN_RATE_PER_MINUTE", "many"),
        ("OTP_MAX_ATTEMPTS", "0"),
        ("SMTP_TLS", "sometimes"),
        ("SMTP_PORT", "twenty-five"),
        ("USER_SERVICE", "user:5000"),
        ("MAIL_RETRY_DELAYS", "10,soon"),
        ("PARLEY_ENV", "staging"),
        ("MISSED_MESSAGE_EMAIL_SECONDS", "0"),
    ],
)
def test_a_malformed_value_names_its_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingError) as caught:
        get_settings()
    assert caught.value.name == name
    assert str(caught.value).startswith(name)
    assert "\n" not in str(caught.value)


def test_a_malformed_value_in_the_dotenv_file_names_its_variable(isolated: Path) -> None:
    write_env(isolated, "VERIFY_RATE_PER_MINUTE=lots\n")
    with pytest.raises(SettingError) as caught:
        get_settings()
    assert caught.value.name == "VERIFY_RATE_PER_MINUTE"


def test_settings_are_built_once() -> None:
    assert get_settings() is get_settings()


def test_retry_delays_are_a_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAIL_RETRY_DELAYS", "1, 2.5,10")
    assert Settings().bus.mail_retry_delays == [1.0, 2.5, 10.0]


def test_the_smtp_port_follows_the_tls_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_HOST", "smtp.example.com")
    for mode, port in (("ssl", 465), ("starttls", 587), ("none", 25)):
        monkeypatch.setenv("SMTP_TLS", mode)
        s = Settings()
        assert not s.smtp.dev_mailbox
        assert s.smtp.port == port
    monkeypatch.setenv("SMTP_PORT", "2525")
    assert Settings().smtp.port == 2525


def test_a_configured_jwt_secret_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET", "s" * 40)
    assert Settings().jwt_secret() == "s" * 40


def test_outside_production_a_jwt_secret_is_generated_once(isolated: Path) -> None:
    data = isolated / "data"
    first = Settings(data_dir=data).jwt_secret()
    assert len(first) >= 32
    assert Settings(data_dir=data).jwt_secret() == first
    mode = stat.S_IMODE(os.stat(data / "jwt_secret").st_mode)
    assert mode == 0o600


def test_production_requires_a_jwt_secret(isolated: Path) -> None:
    s = Settings(env="production", data_dir=isolated / "data")
    assert not s.dev
    with pytest.raises(SettingError) as caught:
        s.jwt_secret()
    assert caught.value.name == "JWT_SECRET"
    assert not (isolated / "data" / "jwt_secret").exists()


def test_an_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    # Compose files and env templates often leave optional variables empty: `REDIS_URL=`.
    for name in ("REDIS_URL", "AMQP_URL", "SMTP_HOST", "USER_SERVICE", "JWT_SECRET"):
        monkeypatch.setenv(name, "")
    s = Settings()
    assert s.cache.embedded
    assert s.bus.embedded
    assert s.smtp.dev_mailbox
    assert s.services.user_service is None
    assert s.tokens.jwt_secret is None


def test_cors_origins_add_to_the_public_url(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().cors_origins() == ["http://localhost:3000"]
    monkeypatch.setenv("CORS_ORIGINS", "https://seed.example.com/, http://localhost:3001")
    assert Settings().cors_origins() == [
        "http://localhost:3000",
        "https://seed.example.com",
        "http://localhost:3001",
    ]
    monkeypatch.setenv("CORS_ORIGINS", "seed.example.com")
    with pytest.raises(SettingError, match="CORS_ORIGINS"):
        get_settings()


def test_log_level_is_checked(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "warning")
    assert Settings().app.log_level == "WARNING"
    monkeypatch.setenv("LOG_LEVEL", "loud")
    with pytest.raises(SettingError, match="LOG_LEVEL"):
        get_settings()


def test_host_and_port_come_from_the_env_file(isolated: Path) -> None:
    write_env(isolated, "HOST=127.0.0.1\nPORT=5100\n")
    s = Settings()
    assert (s.app.host, s.app.port) == ("127.0.0.1", 5100)


def test_dev_mailbox_is_public_only_when_set_true(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert not Settings().smtp.dev_mailbox_public
    monkeypatch.setenv("DEV_MAILBOX", "false")
    assert not Settings().smtp.dev_mailbox_public
    monkeypatch.setenv("DEV_MAILBOX", "true")
    assert Settings().smtp.dev_mailbox_public


GENERATED = "kF3n9QpL2xW7vB4mZ8cR1tY6uH0jS5aDgE"


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        ({"jwt_secret": "change-me-to-a-long-random-string"}, "JWT_SECRET"),
        ({"jwt_secret": "x" * 48}, "JWT_SECRET"),
        ({"jwt_secret": GENERATED, "metrics_token": "too-short"}, "METRICS_TOKEN"),
        ({"jwt_secret": GENERATED, "metrics_token": "my-example-metrics-token-0123456789"}, "METRICS_TOKEN"),
    ],
)
def test_production_refuses_placeholders_and_short_secrets(
    isolated: Path, overrides: dict[str, str], name: str
) -> None:
    s = Settings(env="production", amqp_url="amqp://localhost/", **overrides)
    with pytest.raises(SettingError, match=name):
        s.check_production("chat")
    assert Settings(env="dev", **overrides).check_production("chat") is None


def test_a_production_user_service_needs_a_broker(isolated: Path) -> None:
    with pytest.raises(SettingError, match="AMQP_URL"):
        Settings(env="production", jwt_secret=GENERATED).check_production("user")
    Settings(env="production", jwt_secret=GENERATED).check_production("chat")
    Settings(env="production", jwt_secret=GENERATED, amqp_url="amqp://localhost/").check_production("user")


def test_the_missed_message_email_delay_defaults_to_ten_minutes(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings(env_file=False).limits.missed_message_email_seconds == 600
    monkeypatch.setenv("MISSED_MESSAGE_EMAIL_SECONDS", "1.5")
    assert Settings(env_file=False).limits.missed_message_email_seconds == 1.5
