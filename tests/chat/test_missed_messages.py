"""Missed-message emails end to end: the chat service schedules and claims, the user service writes
the mail, the mail service sends it to a real SMTP server (aiosmtpd).

Each backend gets a stack of its own here (the user and chat services in process, the mail worker
started apart so it can be restarted) with a short ``MISSED_MESSAGE_EMAIL_SECONDS`` and a broker
of its own (a fresh RabbitMQ virtual host, or a fresh in-process queue), so no other stack of the
session consumes its queues.

Where a test asserts that someone gets *no* email, a control member of the same chat (who left the
same messages unseen) gets theirs from the same check; the test then gives the pipeline a moment
(:data:`GRACE`) to show any mail it would still deliver.
"""

from __future__ import annotations

import asyncio
import importlib
import re
import secrets
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from parley.chat import store
from parley.chat.notifications import CHECK_QUEUE, MissedMessages, parse_check
from parley.core.bus import PermanentFailure
from parley.core.database import migrate
from parley.core.settings import Settings
from parley.mail.app import create_app as create_mail_app
from parley.web.gateway import create_app
from tests.chat.helpers import direct_chat, group_chat, history, send
from tests.chat.live_helpers import serve
from tests.chat.realtime_helpers import Peer
from tests.fixtures.backends import PG_HOST, PG_PORT, PG_USER, Backend, create_databases, drop_databases
from tests.fixtures.stack import OTP_PATTERN, Person, Stack, make_settings, unique_email
from tests.mail.helpers import SmtpServer, mail_parts, rabbit_vhost, wait_for

DELAY = 1.5
# The broker outage test's check: long enough for the command line to take the broker away first.
OUTAGE_DELAY = 10.0
# How long a test that expects no (more) mail lets the pipeline run after the control's mail came.
GRACE = 2 * DELAY


@dataclass
class Setup:
    """A stack with a separately started mail worker sending to ``smtp``."""

    stack: Stack
    smtp: SmtpServer
    settings: Settings
    mail_worker: AsyncExitStack = field(default_factory=AsyncExitStack)

    async def start_mail(self) -> None:
        app: FastAPI = create_mail_app(self.settings)
        await self.mail_worker.enter_async_context(
            LifespanManager(app, startup_timeout=30, shutdown_timeout=60)
        )

    async def stop_mail(self) -> None:
        await self.mail_worker.aclose()
        self.mail_worker = AsyncExitStack()

    async def login(self, who: str) -> Person:
        email = unique_email(who)
        client = self.stack.client()
        response = await client.post("/api/v1/login", json={"email": email})
        assert response.status_code == 200, response.text
        (mail,) = await self.smtp.wait_for_mail(email)
        match = OTP_PATTERN.search(mail_parts(mail)["text/plain"])
        assert match
        response = await client.post("/api/v1/verify", json={"email": email, "otp": match.group(1)})
        assert response.status_code == 200, response.text
        body = response.json()
        client.headers["Authorization"] = f"Bearer {body['token']}"
        return Person(token=body["token"], user=body["user"], client=client)

    def notifications(self, person: Person) -> list[EmailMessage]:
        """The missed-message mails ``person`` got (not their login code)."""
        return [m for m in self.smtp.to(person.email) if m["List-Unsubscribe"]]

    async def notified(self, person: Person, count: int = 1) -> list[EmailMessage]:
        await wait_for(
            lambda: len(self.notifications(person)) >= count, timeout=30, what="a missed-message mail"
        )
        return self.notifications(person)


@asynccontextmanager
async def backends_of_its_own(backend: Backend) -> AsyncIterator[dict[str, Any]]:
    """A broker and databases of the module's own: no other stack consumes its queues, and the
    start-up recovery sees only this module's chats."""
    tag = secrets.token_hex(4)
    if not backend.real:
        yield {
            "amqp_url": f"memory://missed-{tag}",
            "data_dir": backend.overrides["data_dir"] / f"missed-{tag}",
        }
        return
    names = {service: f"parley_test_missed_{service}_{tag}" for service in ("user", "chat")}
    await create_databases(list(names.values()))
    pg = f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}"
    try:
        async with rabbit_vhost() as url:
            yield {
                "amqp_url": url,
                "user_database_url": f"{pg}/{names['user']}",
                "chat_database_url": f"{pg}/{names['chat']}",
            }
    finally:
        await drop_databases(list(names.values()))


@pytest.fixture(scope="module")
async def setup(backend: Backend) -> AsyncIterator[Setup]:
    smtp = SmtpServer()
    await smtp.start()
    async with backends_of_its_own(backend) as own:
        settings = make_settings(
            backend,
            **own,
            missed_message_email_seconds=DELAY,
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
            smtp_tls="none",
            mail_from="Parley <no-reply@parley.test>",
            otp_resend_seconds=0,
        )
        for service in ("user", "chat"):
            store = importlib.import_module(f"parley.{service}.store")
            await migrate(settings.database_url(service), service, store.MIGRATIONS_DIR)
        app = create_app(settings, embedded=("user", "chat"))
        async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60):
            built = Setup(Stack(settings, app, backend), smtp, settings)
            await built.start_mail()
            try:
                yield built
            finally:
                await built.stop_mail()
                await built.stack.close()
    await smtp.stop()


def text_of(mail: EmailMessage) -> str:
    return mail_parts(mail)["text/plain"]


async def test_one_email_covers_every_unseen_message_of_a_chat(setup: Setup) -> None:
    alice, bob = await setup.login("alice"), await setup.login("bob")
    chat_id = await direct_chat(alice, bob)
    await send(alice, chat_id, "Are you coming tonight?")
    await send(alice, chat_id, "Bring the <b>cake</b> & the candles")
    gone = await send(alice, chat_id, "a secret I took back")
    deleted = await alice.client.delete(f"/api/v1/message/{gone['_id']}")
    assert deleted.status_code == 200, deleted.text
    await send(alice, chat_id, "Reply when you can")

    (mail,) = await setup.notified(bob)
    text = text_of(mail)
    html = mail_parts(mail)["text/html"]
    assert alice.name in mail["Subject"]
    assert "3 unread messages" in text
    assert f"{alice.name}: Are you coming tonight?" in text
    assert f"{alice.name}: Bring the <b>cake</b> & the candles" in text
    assert "Reply when you can" in text
    assert "secret" not in text, "a deleted message is never quoted"
    chat_link = f"{setup.settings.app.public_url}/chats?c={chat_id}"
    assert chat_link in text
    # The unsubscribe link: in the body, as List-Unsubscribe (RFC 8058), and clickable in the HTML.
    unsubscribe = str(mail["List-Unsubscribe"]).strip("<>")
    assert unsubscribe in text
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parse_qs(urlsplit(unsubscribe).query)["user"] == [bob.id]
    assert "&lt;b&gt;cake&lt;/b&gt; &amp; the candles" in html and "<b>cake</b>" not in html
    assert f'href="{chat_link}"' in html
    assert 'href="' + unsubscribe.replace("&", "&amp;") + '"' in html
    # Nobody else's address is in it, and the sender got nothing about their own messages.
    assert alice.email not in mail.as_string()
    assert mail["To"] == bob.email
    assert setup.notifications(alice) == []

    # The link works without logging in: it turns emailNotifications off.
    path = urlsplit(unsubscribe)
    done = await setup.stack.client().post(
        f"{path.path}?{path.query}", data={"List-Unsubscribe": "One-Click"}
    )
    assert done.status_code == 200, done.text
    settings = await bob.client.get("/api/v1/me/settings")
    assert settings.json()["emailNotifications"] is False

    await asyncio.sleep(GRACE)
    assert len(setup.notifications(bob)) == 1, "one email for the chat"


async def test_messages_read_in_time_muted_chats_and_notifications_off_send_nothing(setup: Setup) -> None:
    alice = await setup.login("alice")
    reader, muter, opted_out, control = [
        await setup.login(who) for who in ("reader", "muter", "off", "control")
    ]
    chat_id = await group_chat(alice, reader, muter, opted_out, control, name="Book club")
    mute = await muter.client.post(f"/api/v1/chat/{chat_id}/mute", json={"until": "9999-12-31T23:59:59Z"})
    assert mute.status_code == 200, mute.text
    off = await opted_out.client.patch("/api/v1/me/settings", json={"emailNotifications": False})
    assert off.status_code == 200, off.text

    await send(alice, chat_id, "Chapter 3 for Thursday")
    await history(reader, chat_id)  # reads it before the delay has passed

    (mail,) = await setup.notified(control)
    assert "Book club" in mail["Subject"]
    assert "Chapter 3 for Thursday" in text_of(mail)
    await asyncio.sleep(GRACE)
    for nobody in (alice, reader, muter, opted_out):
        assert setup.notifications(nobody) == [], nobody.name
    assert len(setup.notifications(control)) == 1


async def test_messages_read_by_opening_the_chat_send_nothing(setup: Setup) -> None:
    """``joinChat`` reads what is there, and while the chat is open new messages are read at once."""
    alice, viewer, control = await setup.login("alice"), await setup.login("viewer"), await setup.login("ctl")
    chat_id = await group_chat(alice, viewer, control, name="Open")
    served = await serve(setup.stack.app, lifespan=False)
    tab = Peer(served.url)
    try:
        await tab.connect(viewer.token)
        await tab.wait_for("getOnlineUser")
        await send(alice, chat_id, "there before opening")
        await tab.call("joinChat", {"chatId": chat_id})
        await send(alice, chat_id, "arrives while open")
        (mail,) = await setup.notified(control)
        assert "2 unread messages" in text_of(mail)
        await asyncio.sleep(GRACE)
        assert setup.notifications(viewer) == []
    finally:
        await tab.close()
        await served.stop()


async def test_later_messages_get_a_later_email_not_a_second_one_for_the_same(setup: Setup) -> None:
    alice, bob = await setup.login("alice"), await setup.login("bob")
    chat_id = await direct_chat(alice, bob)
    await send(alice, chat_id, "first")
    (first,) = await setup.notified(bob)
    assert "1 unread message" in text_of(first)
    await send(alice, chat_id, "second")
    mails = await setup.notified(bob, 2)
    assert "2 unread messages" in text_of(mails[1]), "the email covers every message still unseen"
    await asyncio.sleep(GRACE)
    assert len(setup.notifications(bob)) == 2


async def test_exactly_one_email_across_a_restart_of_the_mail_service(setup: Setup) -> None:
    alice, bob = await setup.login("alice"), await setup.login("bob")
    chat_id = await direct_chat(alice, bob)
    await setup.stop_mail()
    try:
        await send(alice, chat_id, "while the mail service was away")
        await asyncio.sleep(DELAY)  # the check comes due while no mail worker runs
    finally:
        await setup.start_mail()
    (mail,) = await setup.notified(bob)
    assert "while the mail service was away" in text_of(mail)
    await asyncio.sleep(GRACE)
    assert len(setup.notifications(bob)) == 1


def rabbitmqctl(*args: str) -> str:
    exe = shutil.which("rabbitmqctl")
    assert exe, "rabbitmqctl is needed to take the broker away"
    done = subprocess.run([exe, *args], capture_output=True, text=True, timeout=60, check=True)  # noqa: S603
    return done.stdout


def cut_off(vhost: str) -> None:
    """The broker goes away for this virtual host: new connections refused, open ones closed."""
    rabbitmqctl("clear_permissions", "-p", vhost, "guest")
    rabbitmqctl("close_all_connections", "--vhost", vhost, "--limit", "1000", "outage test")


def queued(vhost: str, queue: str) -> int:
    for line in rabbitmqctl(
        "list_queues", "-p", vhost, "name", "messages", "--no-table-headers", "--quiet"
    ).splitlines():
        name, _, count = line.partition("\t")
        if name == queue:
            return int(count)
    return 0


async def send_with_a_long_check(setup: Setup, sender: Person, chat_id: str, text: str) -> str:
    """Send ``text`` with its check scheduled :data:`OUTAGE_DELAY` ahead instead of the module's
    delay, so the check is still waiting in the broker when a test takes the broker away; returns
    the virtual host."""
    chat_app: Any = setup.stack.apps["chat"]
    missed: MissedMessages = chat_app.state.missed_messages
    chat_app.state.writer.after_batch = None
    try:
        message = await send(sender, chat_id, text)
    finally:
        chat_app.state.writer.after_batch = missed.schedule
    async with chat_app.state.db.session() as session:
        seq = (await store.messages_by_ids(session, [message["_id"]]))[message["_id"]].seq
    await missed.bus.publish_later(CHECK_QUEUE, {"chats": {chat_id: seq}}, OUTAGE_DELAY)
    vhost = unquote(urlsplit(setup.settings.bus.url).path.lstrip("/"))
    assert await asyncio.to_thread(queued, vhost, f"{CHECK_QUEUE}.delay.{int(OUTAGE_DELAY * 1000)}") == 1
    return vhost


async def test_exactly_one_email_across_a_broker_outage_mid_delay(setup: Setup) -> None:
    """The check waits in the broker (a durable queue, a persistent message) while every service
    has lost its connection and cannot reconnect; it comes due during the outage, and once the
    services are back it is handled once."""
    if not setup.stack.backend.real:
        pytest.skip("the in-process queue cannot be taken away")
    alice, bob = await setup.login("alice"), await setup.login("bob")
    chat_id = await direct_chat(alice, bob)
    # The check waits longer than the module's delay: taking the broker away takes the CLI a few
    # seconds, and the check must come due while it is away.
    vhost = await send_with_a_long_check(setup, alice, chat_id, "sent just before the outage")
    try:
        await asyncio.to_thread(cut_off, vhost)
        # Due while nobody is connected: the TTL moved it into the (durable) check queue.
        await wait_for(
            lambda: asyncio.to_thread(queued, vhost, CHECK_QUEUE), timeout=30, what="the due check"
        )
    finally:
        await asyncio.to_thread(rabbitmqctl, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    (mail,) = await setup.notified(bob)
    assert "sent just before the outage" in text_of(mail)
    await asyncio.sleep(GRACE)
    assert len(setup.notifications(bob)) == 1


@pytest.mark.serial
async def test_exactly_one_email_across_a_restart_of_rabbitmq_mid_delay(setup: Setup) -> None:
    """A real broker restart while the check waits in its delay queue and every service runs: the
    chat, user and mail services reconnect on their own, the check survives on disk and leads to
    exactly one email; checks scheduled after the restart are published and handled too.

    Other test runs may share this broker, so the test restarts it once and at once."""
    if not setup.stack.backend.real:
        pytest.skip("the in-process queue cannot be restarted")
    alice, bob, carol = await setup.login("alice"), await setup.login("bob"), await setup.login("carol")
    chat_id = await direct_chat(alice, bob)
    await send_with_a_long_check(setup, alice, chat_id, "sent just before the restart")
    # Stop the RabbitMQ application and start it again (the node stays up): every connection
    # drops, durable queues and their persistent messages are recovered from disk.
    await asyncio.to_thread(rabbitmqctl, "stop_app")
    try:
        assert setup.notifications(bob) == [], "the check was still waiting when the broker stopped"
    finally:
        await asyncio.to_thread(rabbitmqctl, "start_app")

    (mail,) = await setup.notified(bob)
    assert "sent just before the restart" in text_of(mail)
    # The scheduler publishes over the recovered connection, and its check is handled.
    later = await direct_chat(alice, carol)
    await send(alice, later, "sent after the restart")
    (after,) = await setup.notified(carol)
    assert "sent after the restart" in text_of(after)
    await asyncio.sleep(GRACE)
    assert len(setup.notifications(bob)) == 1
    assert len(setup.notifications(carol)) == 1


async def test_the_unsubscribe_link_cannot_be_forged_for_someone_else(setup: Setup) -> None:
    alice, bob = await setup.login("alice"), await setup.login("bob")
    chat_id = await direct_chat(alice, bob)
    await send(alice, chat_id, "hi")
    (mail,) = await setup.notified(bob)
    link = urlsplit(str(mail["List-Unsubscribe"]).strip("<>"))
    sig = parse_qs(link.query)["sig"][0]
    forged = await setup.stack.client().post(link.path, params={"user": alice.id, "sig": sig})
    assert forged.status_code == 400
    settings = await alice.client.get("/api/v1/me/settings")
    assert settings.json()["emailNotifications"] is True
    assert re.search(r"\?user=[0-9a-f]+&sig=", str(mail["List-Unsubscribe"]))


async def test_checks_of_the_same_messages_at_once_email_one_time(setup: Setup) -> None:
    """Redelivered or repeated checks (several instances, the start-up recovery) race on the claim."""
    alice, bob = await setup.login("alice"), await setup.login("bob")
    chat_id = await direct_chat(alice, bob)
    missed: MissedMessages = setup.stack.apps["chat"].state.missed_messages
    message = await send(alice, chat_id, "raced")
    async with setup.stack.apps["chat"].state.db.session() as session:
        seq = (await store.messages_by_ids(session, [message["_id"]]))[message["_id"]].seq
    await asyncio.gather(*(missed.check(chat_id, seq) for _ in range(4)))
    (mail,) = await setup.notified(bob)
    assert "raced" in text_of(mail)
    await asyncio.sleep(GRACE)
    assert len(setup.notifications(bob)) == 1


async def test_a_check_lost_before_it_was_published_is_made_up_at_start(setup: Setup) -> None:
    """The chat service dies between storing a batch and publishing its check: at start-up it checks
    the recently active chats again, and the member still gets exactly one email."""
    alice, bob = await setup.login("alice"), await setup.login("bob")
    chat_id = await direct_chat(alice, bob)
    writer = setup.stack.apps["chat"].state.writer
    missed: MissedMessages = setup.stack.apps["chat"].state.missed_messages
    writer.after_batch = None  # the check of this batch is never published
    try:
        await send(alice, chat_id, "stored, never scheduled")
    finally:
        writer.after_batch = missed.schedule
    assert await missed.recover() >= 1  # what the chat service does when it starts
    (mail,) = await setup.notified(bob)
    assert "stored, never scheduled" in text_of(mail)
    await missed.recover()  # a second instance starting: checks again, emails nobody twice
    await asyncio.sleep(GRACE)
    assert len(setup.notifications(bob)) == 1


def test_a_malformed_check_is_parked_not_retried() -> None:
    for body in (
        {},
        {"chats": []},
        {"chats": {"x": 1}},
        {"chats": {"a" * 24: "1"}},
        {"chats": {"a" * 24: 0}},
    ):
        with pytest.raises(PermanentFailure):
            parse_check(body)


async def test_messages_stored_while_the_broker_is_away_are_checked_once_it_is_back(setup: Setup) -> None:
    """Sending needs no broker; the check is kept and published when the broker returns."""
    if not setup.stack.backend.real:
        pytest.skip("the in-process queue cannot be taken away")
    vhost = unquote(urlsplit(setup.settings.bus.url).path.lstrip("/"))
    alice, bob = await setup.login("alice"), await setup.login("bob")
    chat_id = await direct_chat(alice, bob)
    missed: MissedMessages = setup.stack.apps["chat"].state.missed_messages
    try:
        await asyncio.to_thread(cut_off, vhost)
        before = missed.published
        await send(alice, chat_id, "sent while the broker was away")
        await asyncio.sleep(DELAY)  # the check could not be published meanwhile
        assert missed.published == before and not missed.scheduled
    finally:
        await asyncio.to_thread(rabbitmqctl, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    (mail,) = await setup.notified(bob)
    assert "sent while the broker was away" in text_of(mail)
    await asyncio.sleep(GRACE)
    assert len(setup.notifications(bob)) == 1


class RecordingBus:
    """Takes the scheduler's delayed publishes (it consumes nothing here)."""

    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    async def consume(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def publish_later(self, queue: str, body: dict[str, Any], delay: float) -> None:
        self.published.append(body["chats"])


async def test_a_busy_writers_checks_are_gathered_into_one_publish_and_stopping_publishes_them() -> None:
    bus = RecordingBus()
    missed = MissedMessages(None, bus, delay=600)  # type: ignore[arg-type]  # no database: recovery fails, harmlessly
    missed.gather = 60  # longer than this test
    await missed.start()
    try:
        await missed.schedule({"a": 1})
        await wait_for(lambda: missed.scheduled, what="the first check published")
        for chat_id in "bcd":  # three batches, each given time to be published on its own
            await missed.schedule({chat_id: 1})
            for _ in range(20):
                await asyncio.sleep(0)
        assert bus.published == [{"a": 1}]
    finally:
        await missed.stop()
    assert bus.published == [{"a": 1}, {"b": 1, "c": 1, "d": 1}]
    assert missed.scheduled
