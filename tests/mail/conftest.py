"""Fixtures of the mail service's tests: a real SMTP server (aiosmtpd) that records what it is
sent and can refuse on demand, both buses (a fresh RabbitMQ virtual host per module), and the
mail worker built from its own settings."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from parley.core.bus import MemoryBus, RabbitBus, create_bus
from parley.core.settings import Settings
from tests.mail.helpers import Certificates, MailSettings, QueueProbe, SmtpServer


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """An SMTP server, not started yet (``await smtp_server.start()``)."""
    server = SmtpServer()
    yield server
    server.stop_now()


@pytest.fixture
async def smtp(smtp_server: SmtpServer) -> SmtpServer:
    """A running SMTP server, plain text (``SMTP_TLS=none``)."""
    await smtp_server.start()
    return smtp_server


# --- TLS: a throw-away certificate authority and a certificate for 127.0.0.1 ---------------------


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return Certificates(tmp_path_factory.mktemp("smtp-tls"))


# --- Buses ----------------------------------------------------------------------------------


@pytest.fixture
def mail_queue() -> str:
    """A queue of the test's own, so no test sees another's leftovers."""
    return f"send-otp-{secrets.token_hex(4)}"


@pytest.fixture
async def publisher(bus_url: str) -> AsyncIterator[MemoryBus | RabbitBus]:
    """What the user service does: a bus that only publishes to the mail queue."""
    bus = create_bus(bus_url)
    await bus.connect()
    yield bus
    await bus.close()


@pytest.fixture
async def probe(bus_url: str) -> AsyncIterator[QueueProbe]:
    p = QueueProbe(bus_url)
    yield p
    await p.close()


@pytest.fixture
def mail_settings(bus_url: str, mail_queue: str, smtp_server: SmtpServer, tmp_path: Path) -> MailSettings:
    """Settings of a mail worker sending to ``smtp_server`` in plain text; keywords override."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "env": "test",
            "data_dir": tmp_path,
            "amqp_url": bus_url,
            "mail_queue": mail_queue,
            "mail_retry_delays": [0.2, 0.4],
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_server.port,
            "smtp_tls": "none",
            "smtp_timeout_seconds": 5,
            "mail_from": "Parley <no-reply@parley.test>",
        }
        values.update(overrides)
        return Settings(env_file=False, **values)

    return make
