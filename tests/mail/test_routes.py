"""The mail service's HTTP side: the dev mailbox (``/dev/mail`` and ``/dev/mail/messages``), on
its own and behind the gateway of the whole stack."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from parley.core.bus import MemoryBus, RabbitBus
from tests.fixtures.stack import Person, Stack
from tests.mail.helpers import MailSettings, address, mail, running, wait_for

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


async def client_of(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mail")


@pytest.fixture
async def dev_mail(mail_settings: MailSettings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a running mail service without SMTP: the dev mailbox."""
    async with running(mail_settings(smtp_host=None, smtp_port=None)) as app, await client_of(app) as client:
        yield client


async def test_the_dev_mailbox_lists_mail_newest_first(
    dev_mail: httpx.AsyncClient, publisher: MemoryBus | RabbitBus, mail_queue: str
) -> None:
    first, second = address(), address()
    await publisher.publish(mail_queue, mail(first, code="111111"))

    async def listed(count: int) -> bool:
        return len((await dev_mail.get("/dev/mail/messages")).json()) == count

    await wait_for(lambda: listed(1), what="the first mail")
    await publisher.publish(mail_queue, mail(second, code="222222"))
    await wait_for(lambda: listed(2), what="the second mail")

    response = await dev_mail.get("/dev/mail/messages")
    assert response.status_code == 200
    newest, oldest = response.json()
    assert newest.keys() == {"to", "subject", "body", "receivedAt"}
    assert (newest["to"], oldest["to"]) == (second, first)
    assert "222222" in newest["body"] and newest["subject"] == "Your Parley login code"
    assert ISO_MS.match(newest["receivedAt"]) and newest["receivedAt"] >= oldest["receivedAt"]

    page = await dev_mail.get("/dev/mail")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.text.index(second) < page.text.index(first)
    assert '<div class="code">222222</div>' in page.text


async def test_no_dev_mailbox_when_smtp_is_configured(mail_settings: MailSettings) -> None:
    async with running(mail_settings()) as app, await client_of(app) as client:
        for path in ("/dev/mail/messages", "/dev/mail"):
            response = await client.get(path)
            assert response.status_code == 404
            assert response.json()["message"] == "The dev mailbox is off: mail goes to the SMTP server"


async def test_the_openapi_document_names_the_mail_routes(mail_settings: MailSettings) -> None:
    async with running(mail_settings()) as app, await client_of(app) as client:
        paths = (await client.get("/openapi.json")).json()["paths"]
    assert paths["/dev/mail/messages"]["get"]["operationId"] == "mail-list_dev_mail"
    assert paths["/dev/mail"]["get"]["operationId"] == "mail-dev_mail_page"


# Through the whole stack, as a person logging in sees it (both backends).


async def test_a_login_code_reaches_the_dev_mailbox_through_the_gateway(stack: Stack, alice: Person) -> None:
    client = stack.client(ip="127.0.0.1")
    mine = await stack.mails_to(alice.email)
    assert len(mine) == 1
    assert mine[0]["subject"] and ISO_MS.match(mine[0]["receivedAt"])
    assert re.search(r"\b\d{6}\b", mine[0]["body"])

    page = await client.get("/dev/mail")
    assert page.status_code == 200
    assert alice.email in page.text


async def test_the_stack_mail_worker_counts_what_it_sent(stack: Stack, bob: Person) -> None:
    metrics = await stack.client(ip="127.0.0.1").get("/metrics")
    assert metrics.status_code == 200
    sent = re.search(r'^parley_mails_total\{outcome="sent"\} (\S+)$', metrics.text, re.MULTILINE)
    assert sent and float(sent.group(1)) >= 1
    ready = (await stack.client().get("/readyz")).json()
    assert ready["checks"]["mail.broker"] == "ok"
