"""Helpers of the mail and bus tests: a RabbitMQ virtual host of their own, a look into queues
around the bus, dropping the broker's connections, waiting with a deadline, a real SMTP server
(aiosmtpd) that records what it is sent and refuses on demand, TLS certificates for it, and the
mail service started from its own settings."""

from __future__ import annotations

import asyncio
import email
import email.policy
import secrets
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import aio_pika
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from asgi_lifespan import LifespanManager
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi import FastAPI

from parley.core.bus import MemoryBus
from parley.core.settings import Settings
from parley.mail.app import create_app
from tests.fixtures.backends import AMQP_HOST, AMQP_PORT, rabbitmqctl, reachable, require

KINDS = ["memory", "rabbitmq"]


async def wait_for(
    condition: Callable[[], Awaitable[object]] | Callable[[], object], *, timeout: float = 15, what: str = ""
) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        await asyncio.sleep(0.02)


@asynccontextmanager
async def rabbit_vhost() -> AsyncIterator[str]:
    """A fresh virtual host (deleted afterwards) and its AMQP URL; skips, or fails under CI, without RabbitMQ."""
    require(reachable(AMQP_HOST, AMQP_PORT), f"RabbitMQ at {AMQP_HOST}:{AMQP_PORT}")
    vhost = f"parley-test-{secrets.token_hex(4)}"
    created = await asyncio.to_thread(rabbitmqctl, "add_vhost", vhost)
    require(created, "rabbitmqctl (to create a virtual host)")
    try:
        ok = await asyncio.to_thread(rabbitmqctl, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        assert ok, "rabbitmqctl set_permissions failed"
        yield f"amqp://guest:guest@{AMQP_HOST}:{AMQP_PORT}/{vhost}"
    finally:
        await asyncio.to_thread(rabbitmqctl, "delete_vhost", vhost)


def vhost_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


async def drop_connections(url: str) -> None:
    """Have the broker close every client connection of ``url``'s virtual host (and only those)."""
    ok = await asyncio.to_thread(
        rabbitmqctl, "close_all_connections", "--vhost", vhost_of(url), "--limit", "1000", "test"
    )
    assert ok, "rabbitmqctl close_all_connections failed"


@dataclass
class Parked:
    """A message found in a queue: its raw body and headers."""

    body: bytes
    headers: dict[str, Any]


class QueueProbe:
    """Counts and takes messages straight from a broker's queues, around the bus under test."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._connection: aio_pika.abc.AbstractConnection | None = None
        self._channel: aio_pika.abc.AbstractChannel | None = None

    @property
    def memory(self) -> bool:
        return self.url.startswith("memory://")

    def _memory_queue(self, name: str) -> asyncio.Queue[tuple[bytes, dict[str, Any]]]:
        return MemoryBus._brokers.setdefault(self.url, {}).setdefault(name, asyncio.Queue())

    async def _rabbit(self) -> aio_pika.abc.AbstractChannel:
        if self._channel is None:
            self._connection = await aio_pika.connect(self.url)
            self._channel = await self._connection.channel()
        return self._channel

    async def count(self, queue: str) -> int:
        """Messages ready in ``queue`` (not those a consumer holds unacknowledged)."""
        if self.memory:
            return self._memory_queue(queue).qsize()
        channel = await self._rabbit()
        declared = await channel.declare_queue(queue, passive=True)
        assert declared.declaration_result.message_count is not None
        return declared.declaration_result.message_count

    async def take(self, queue: str) -> Parked | None:
        """Remove and return the first message of ``queue``, if there is one."""
        if self.memory:
            q = self._memory_queue(queue)
            if q.empty():
                return None
            raw, headers = q.get_nowait()
            return Parked(raw, dict(headers))
        channel = await self._rabbit()
        declared = await channel.declare_queue(queue, passive=True)
        message = await declared.get(no_ack=True, fail=False)
        if message is None:
            return None
        return Parked(message.body, dict(message.headers or {}))

    async def wait_parked(self, queue: str, count: int = 1, *, timeout: float = 15) -> list[Parked]:
        """Await ``count`` messages in ``queue`` and take them."""
        found: list[Parked] = []

        async def enough() -> bool:
            while len(found) < count and (parked := await self.take(queue)) is not None:
                found.append(parked)
            return len(found) >= count

        await wait_for(enough, timeout=timeout, what=f"{count} message(s) in {queue}")
        return found

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()


# --- SMTP -------------------------------------------------------------------------------------

SMTP_USER = "parley"
SMTP_PASSWORD = "smtp-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class RecordingHandler:
    """An aiosmtpd handler that keeps every accepted message and refuses when told to.

    Runs in the SMTP server's own thread; the lists are only appended to there.
    """

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        # Replies instead of "250" while set, e.g. "550 5.1.1 No such user" or "451 4.3.0 Try later".
        self.rcpt_reply: str | None = None
        self.data_reply: str | None = None
        self.refusals = 0
        # Seconds to take over DATA (a slow server), and how many DATA commands began.
        self.data_delay = 0.0
        self.data_started = 0

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if self.rcpt_reply:
            self.refusals += 1
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.data_started += 1
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        if self.data_reply:
            self.refusals += 1
            return self.data_reply
        assert isinstance(envelope.content, bytes)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        self.messages.append(message)
        return "250 Message accepted for delivery"


class SmtpServer:
    """An SMTP server on 127.0.0.1 that tests start and stop (a fresh controller each time)."""

    def __init__(self, **smtp_parameters: Any) -> None:
        self.port = free_port()
        self.handler = RecordingHandler()
        self.smtp_parameters = smtp_parameters
        self._controller: Controller | None = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start_now(self) -> None:
        controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, ready_timeout=10, **self.smtp_parameters
        )
        controller.start()
        self._controller = controller

    async def start(self) -> None:
        await asyncio.to_thread(self.start_now)

    def stop_now(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    async def stop(self) -> None:
        await asyncio.to_thread(self.stop_now)

    @property
    def messages(self) -> list[EmailMessage]:
        return self.handler.messages

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    async def wait_for_mail(self, address: str, count: int = 1, *, timeout: float = 15) -> list[EmailMessage]:
        await wait_for(lambda: len(self.to(address)) >= count, timeout=timeout, what=f"mail to {address}")
        return self.to(address)


class Certificates:
    def __init__(self, directory: Path) -> None:
        now = datetime.now(UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Parley test CA")])
        ca = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]), critical=False
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        self.ca_file = directory / "ca.pem"
        self.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        self.cert_file = directory / "server.pem"
        self.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.key_file = directory / "server.key"
        self.key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        """What a client that trusts this CA uses (hostname checked against 127.0.0.1)."""
        return ssl.create_default_context(cafile=str(self.ca_file))


class Logins:
    """An aiosmtpd authenticator that accepts one user and counts the tries."""

    def __init__(self) -> None:
        self.tries: list[str] = []
        self._lock = threading.Lock()

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        with self._lock:
            self.tries.append(auth_data.login.decode())
        ok = auth_data.login.decode() == SMTP_USER and auth_data.password.decode() == SMTP_PASSWORD
        # handled=False: aiosmtpd answers the client itself (535 on failure).
        return AuthResult(success=ok, handled=False)


# --- The mail service -------------------------------------------------------------------------


MailSettings = Callable[..., Settings]


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[FastAPI]:
    """The mail service started (consuming) for the block, and stopped after it."""
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=60):
        yield app


def mail(to: str, code: str | None = None, **extra: Any) -> dict[str, Any]:
    """A queue message as the user service publishes it."""
    code = code or f"{secrets.randbelow(10**6):06d}"
    return {
        "to": to,
        "subject": "Your Parley login code",
        "body": f"Your Parley login code is {code}\n\nIt expires in 5 minutes and works once.",
        "kind": "otp",
        "code": code,
        **extra,
    }


def mail_parts(message: EmailMessage) -> dict[str, str]:
    """A message's leaf parts by content type: ``{"text/plain": ..., "text/html": ...}``."""
    found: dict[str, str] = {}
    for part in message.walk():
        if not part.is_multipart():
            assert isinstance(part, EmailMessage)
            found[part.get_content_type()] = str(part.get_content())
    return found


def address() -> str:
    return f"user-{secrets.token_hex(4)}@example.com"
