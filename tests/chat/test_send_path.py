"""The send path: group commit, ``sendMessage`` over the socket, admission control, order under load.

Runs on both backends unless a test needs several instances (then PostgreSQL, Redis, RabbitMQ).
Counts and behaviour only, never speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, update
from sqlalchemy.engine import make_url

from parley.chat import writer as writer_module
from parley.chat.app import create_app as create_chat_app
from parley.chat.batches import Batch, Repeats
from parley.chat.store import Chat, Member, utcnow
from parley.chat.writer import Draft, MessageWriter
from parley.core.errors import ServiceUnavailable
from parley.core.ids import new_id
from tests.chat.helpers import direct_chat, eventually, group_chat, history, send
from tests.chat.live_helpers import Live, full_history
from tests.chat.test_queries import counting_statements
from tests.fixtures.backends import pg_admin_value, terminate_connections
from tests.fixtures.stack import Person, Stack, make_settings
from tests.fixtures.topology import PARLEY, free_port


@contextlib.asynccontextmanager
async def chat_held(chat_app: Any, chat_id: str) -> AsyncIterator[None]:
    """Hold the chat's row (and, on SQLite, the database's write lock) until the block ends.

    The writer's next batch waits for it, so what is sent meanwhile queues up behind it.
    """
    async with chat_app.state.db.session() as session:
        await session.execute(update(Chat).where(Chat.id == chat_id).values(name=Chat.name))
        yield


async def until(check: Callable[[], bool]) -> None:
    async def probe() -> bool:
        return check()

    await eventually(probe)


def writer_of(chat_app: Any) -> MessageWriter:
    writer: MessageWriter = chat_app.state.writer
    return writer


async def post_json(person: Person, chat_id: str, text: str, **fields: str) -> Any:
    return await person.client.post("/api/v1/message", json={"chatId": chat_id, "text": text, **fields})


# ---------------------------------------------------------------------------- group commit


def chat_db_is_postgres(chat_app: Any) -> bool:
    return not chat_app.state.db.is_sqlite


async def test_concurrent_sends_are_stored_in_one_transaction(
    alice: Person, bob: Person, chat_app: Any
) -> None:
    chat_id = await direct_chat(alice, bob)
    writer = writer_of(chat_app)
    batches_before = writer.batches
    sent_before = getattr(writer.backend, "statements", 0)
    with counting_statements(chat_app) as statements:
        async with chat_held(chat_app, chat_id):
            first = asyncio.create_task(post_json(alice, chat_id, "first"))
            await until(lambda: writer.pending == 1 and writer.waiting == 0)
            rest = [
                asyncio.create_task(post_json(bob if i % 2 else alice, chat_id, f"m{i}")) for i in range(20)
            ]
            await until(lambda: writer.waiting == 20)
        responses = [await first, *[await task for task in rest]]

    assert [r.status_code for r in responses] == [201] * 21, [r.text for r in responses]
    # Two transactions: the one that waited for the chat, and one for the twenty queued behind it.
    assert writer.batches - batches_before == 2
    inserts = [s for s in statements if re.match(r"\s*INSERT INTO messages\b", s, re.IGNORECASE)]
    if chat_db_is_postgres(chat_app):
        # Each batch is one statement on the driver, past SQLAlchemy; the one that waited for the
        # chat found its row changed by the holder (members could have changed) and went again.
        assert getattr(writer.backend, "statements", 0) - sent_before == 3
        assert inserts == []
    else:
        assert len(inserts) == 2
        # The search index (SQLite) takes one more statement per batch, none per message.
        indexed = [s for s in statements if re.match(r"\s*INSERT INTO messages_fts\b", s, re.IGNORECASE)]
        assert len(indexed) == 2
    stored = (await history(bob, chat_id))["messages"]
    assert [m["seq"] for m in stored] == list(range(1, 22))
    assert stored[0]["text"] == "first"
    assert sorted(m["text"] for m in stored[1:]) == sorted(f"m{i}" for i in range(20))
    assert {r.json()["message"]["_id"] for r in responses} == {m["_id"] for m in stored}


async def test_a_batch_keeps_each_send_to_its_own_rules(
    alice: Person, bob: Person, carol: Person, chat_app: Any
) -> None:
    """In one batch: a non-member refused, a clientId sent twice stored once, the rest stored."""
    chat_id = await direct_chat(alice, bob)
    writer = writer_of(chat_app)
    async with chat_held(chat_app, chat_id):
        first = asyncio.create_task(post_json(alice, chat_id, "first"))
        await until(lambda: writer.pending == 1 and writer.waiting == 0)
        calls = [
            post_json(carol, chat_id, "intruder"),
            post_json(alice, chat_id, "twice", clientId="same"),
            post_json(alice, chat_id, "twice", clientId="same"),
            post_json(bob, chat_id, "fine"),
        ]
        tasks = [asyncio.create_task(c) for c in calls]
        await until(lambda: writer.waiting == 4)
    intruder, once, again, fine = [await t for t in tasks]
    assert (await first).status_code == 201
    assert intruder.status_code == 403
    assert sorted([once.status_code, again.status_code]) == [200, 201]
    assert once.json()["message"] == again.json()["message"]
    assert fine.status_code == 201
    texts = [m["text"] for m in (await history(bob, chat_id))["messages"]]
    assert texts[0] == "first"
    assert sorted(texts[1:]) == ["fine", "twice"]


async def waiting_for_a_lock(chat_app: Any) -> bool:
    """A statement on the chat service's database waits for a lock (PostgreSQL)."""
    waiting = await pg_admin_value(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'",
        make_url(chat_app.state.db.url).database,
    )
    return bool(waiting)


async def test_a_member_removed_while_their_message_waited_for_the_chat_is_refused(
    alice: Person, bob: Person, carol: Person, chat_app: Any
) -> None:
    """The batch reads the members after the chat's lock is granted, not as they were before."""
    chat_id = await group_chat(alice, bob, carol)
    writer = writer_of(chat_app)
    async with chat_app.state.db.session() as session:
        # As a removal does: the chat's row locked and changed, the member gone, in one transaction.
        await session.execute(update(Chat).where(Chat.id == chat_id).values(name=Chat.name))
        await session.execute(delete(Member).where(Member.chat_id == chat_id, Member.user_id == bob.id))
        sent = asyncio.create_task(post_json(bob, chat_id, "after I was removed"))
        await until(lambda: writer.pending == 1 and writer.waiting == 0)  # taken into a batch
        if chat_db_is_postgres(chat_app):
            await eventually(lambda: waiting_for_a_lock(chat_app))  # its statement waits for the chat
    response = await sent
    assert response.status_code == 403, response.text
    texts = [m["text"] for m in (await history(alice, chat_id))["messages"]]
    assert "after I was removed" not in texts
    assert (await post_json(carol, chat_id, "still here")).status_code == 201


async def test_a_batch_stored_in_part_answers_that_part_when_the_rest_then_fails(
    alice: Person, bob: Person, chat_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A message stored in a batch's first round is answered as stored, whatever its second round meets."""
    chat_id = await direct_chat(alice, bob)
    writer = writer_of(chat_app)
    real_store = writer.backend.store
    rounds = 0

    async def first_half_then_down(drafts: list[Draft]) -> Batch:
        nonlocal rounds
        rounds += 1
        if rounds > 1:
            raise ServiceUnavailable("The database did not answer in time")
        batch = await real_store(drafts[:1])
        batch.stale = drafts[1:]  # as if their chat had changed meanwhile
        return batch

    monkeypatch.setattr(writer.backend, "store", first_half_then_down)
    drafts = [Draft(new_id(), chat_id, alice.id, text, None, utcnow()) for text in ("stored", "not stored")]
    batch = await writer._commit(drafts)
    monkeypatch.undo()

    assert [s.draft.text for s in batch.stored] == ["stored"]
    assert [(d.text, type(error)) for d, error in batch.failed] == [("not stored", ServiceUnavailable)]
    assert [m["text"] for m in (await history(bob, chat_id))["messages"]] == ["stored"]


async def test_a_clientid_that_keeps_colliding_is_a_503_not_a_500(
    alice: Person, bob: Person, chat_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer tries a few rounds of clientId collisions, then answers 503: busy, not a bug."""
    chat_id = await direct_chat(alice, bob)

    async def collides(drafts: list[Any]) -> Any:
        raise Repeats()  # as if another instance stored every clientId first, each round

    monkeypatch.setattr(writer_of(chat_app).backend, "store", collides)
    response = await post_json(alice, chat_id, "again and again", clientId="collides")
    assert response.status_code == 503
    assert response.headers["retry-after"]
    monkeypatch.undo()
    assert (await history(bob, chat_id))["messages"] == []


async def test_after_the_database_drops_every_connection_one_batch_fails_then_sends_work(
    alice: Person, bob: Person, chat_app: Any
) -> None:
    """The writer's own statement path tells the pool about a dead connection, as SQLAlchemy's does."""
    if not chat_db_is_postgres(chat_app):
        pytest.skip("PostgreSQL: SQLite has no server to drop connections")
    chat_id = await direct_chat(alice, bob)
    await send(alice, chat_id, "before")  # the pool holds connections now
    assert await terminate_connections(str(make_url(chat_app.state.db.url).database)) >= 1

    try:
        # The first batch may find a dead connection; then all works.
        during = await post_json(alice, chat_id, "during")
        assert during.status_code in (201, 503), during.text
        after = [await post_json(alice, chat_id, f"after {i}") for i in range(3)]
        assert [r.status_code for r in after] == [201] * 3, [r.text for r in after]
    finally:
        await chat_app.state.db.engine.dispose()  # the next test starts with a fresh pool either way
    texts = [m["text"] for m in (await history(bob, chat_id))["messages"]]
    assert texts[-3:] == ["after 0", "after 1", "after 2"]


async def test_stopping_answers_every_committed_send_even_when_delivery_is_stuck(
    alice: Person, bob: Person, chat_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch stored but not yet delivered when the writer stops is answered, not left hanging."""
    chat_id = await direct_chat(alice, bob)
    writer = writer_of(chat_app)
    stuck = asyncio.Event()

    async def never_delivered(sink: Any, events: Any) -> None:
        await stuck.wait()

    monkeypatch.setattr(writer_module, "emit_all", never_delivered)
    before = writer.batches
    first = asyncio.create_task(post_json(alice, chat_id, "first", clientId="stuck-1"))
    await until(lambda: writer.batches == before + 1)  # stored, delivery stuck
    second = asyncio.create_task(post_json(alice, chat_id, "second", clientId="stuck-2"))
    await until(lambda: writer.batches == before + 2)  # stored, queued behind it
    assert writer.pending == 2
    await writer.stop(timeout=0.1)
    answers = await asyncio.wait_for(asyncio.gather(first, second), timeout=10)
    assert [a.status_code for a in answers] == [201, 201]
    monkeypatch.undo()
    texts = [m["text"] for m in (await history(bob, chat_id))["messages"]]
    assert texts == ["first", "second"]


# ---------------------------------------------------------------------------- admission control


async def test_past_capacity_a_send_gets_503_with_retry_after(live: Live, chat_app: Any) -> None:
    alice, bob = await live.people("alice", "bob")
    chat_id = await direct_chat(alice, bob)
    alice_tab = await live.socket(alice)
    writer = writer_of(chat_app)
    capacity = writer.max_pending
    writer.max_pending = 1
    try:
        async with chat_held(chat_app, chat_id):
            waiting = asyncio.create_task(post_json(alice, chat_id, "taken"))
            await until(lambda: writer.pending == 1)
            refused = await post_json(bob, chat_id, "too many")
            assert refused.status_code == 503, refused.text
            assert int(refused.headers["Retry-After"]) >= 1
            assert refused.json()["code"] == "overloaded"
            ack = await alice_tab.call("sendMessage", {"chatId": chat_id, "text": "too many"})
            assert ack["error"]["code"] == "overloaded"
        taken = await waiting
    finally:
        writer.max_pending = capacity
    assert taken.status_code == 201
    assert [m["text"] for m in (await history(bob, chat_id))["messages"]] == ["taken"]


# ---------------------------------------------------------------------------- sendMessage


async def test_send_message_over_the_socket_is_acknowledged_once_stored(live: Live) -> None:
    alice, bob = await live.people("alice", "bob")
    chat_id = await direct_chat(alice, bob)
    alice_tab, alice_phone, bob_tab = (
        await live.socket(alice),
        await live.socket(alice),
        await live.socket(bob),
    )

    ack = await alice_tab.call(
        "sendMessage", {"chatId": chat_id, "text": "  over the socket ", "clientId": "s-1"}
    )
    message = ack["message"]
    assert (message["text"], message["sender"], message["clientId"], message["seq"]) == (
        "over the socket",
        alice.id,
        "s-1",
        1,
    )
    for peer in (alice_tab, alice_phone, bob_tab):
        assert await peer.payload("newMessage") == message
    assert (await history(alice, chat_id))["messages"] == [message]

    # The same clientId again: the same message, stored and announced once.
    again = await alice_phone.call(
        "sendMessage", {"chatId": chat_id, "text": "over the socket", "clientId": "s-1"}
    )
    assert again == {"message": message}
    reply = await bob_tab.call("sendMessage", {"chatId": chat_id, "text": "got it"})
    assert [m["_id"] for m in await alice_tab.collect("newMessage", 2)] == [
        message["_id"],
        reply["message"]["_id"],
    ]
    assert [m["text"] for m in (await history(alice, chat_id))["messages"]] == ["over the socket", "got it"]


async def test_send_message_errors_are_acknowledged_and_store_nothing(live: Live) -> None:
    alice, bob, carol = await live.people("alice", "bob", "carol")
    chat_id = await direct_chat(alice, bob)
    other = await group_chat(carol, alice, bob)
    alice_tab, bob_tab, carol_tab = await live.socket(alice), await live.socket(bob), await live.socket(carol)

    cases: list[tuple[Any, Any, str]] = [
        (carol_tab, {"chatId": chat_id, "text": "let me in"}, "not_a_member"),
        (alice_tab, {"chatId": "f" * 24, "text": "nowhere"}, "chat_not_found"),
        (alice_tab, {"chatId": "nope", "text": "x"}, "invalid_id"),
        (alice_tab, {"chatId": chat_id, "text": "  "}, "invalid_message"),
        (alice_tab, {"chatId": chat_id, "text": "y" * 4001}, "invalid_message"),
        (alice_tab, {"chatId": chat_id, "text": "x", "replyTo": "a"}, "invalid_message"),
        (alice_tab, {"text": "no chat"}, "invalid"),
        (alice_tab, {"chatId": chat_id, "text": 5}, "invalid"),
        (alice_tab, "not an object", "invalid"),
    ]
    for tab, payload, code in cases:
        ack = await tab.call("sendMessage", payload)
        assert set(ack) == {"error"}, (payload, ack)
        assert ack["error"]["code"] == code, (payload, ack)
        assert ack["error"]["message"]

    # Nothing was stored or announced: the control message is the first bob hears.
    control = await carol_tab.call("sendMessage", {"chatId": other, "text": "control"})
    assert await bob_tab.collect("newMessage", 1) == [control["message"]]
    assert (await history(alice, chat_id))["messages"] == []


async def test_a_flood_of_sends_over_one_socket_is_rate_limited(live: Live) -> None:
    alice, bob = await live.people("alice", "bob")
    chat_id = await direct_chat(alice, bob)
    alice_tab = await live.socket(alice)
    acks = await asyncio.gather(
        *(alice_tab.call("sendMessage", {"chatId": chat_id, "text": f"m{i}"}, timeout=30) for i in range(60))
    )
    stored = [a["message"] for a in acks if "message" in a]
    limited = [a["error"] for a in acks if "error" in a]
    assert limited, "60 sends at once must exceed the socket's allowance"
    assert {e["code"] for e in limited} == {"rate_limited"}
    assert len(stored) + len(limited) == 60
    assert len(await full_history(bob, chat_id)) == len(stored)


# ---------------------------------------------------------------------------- several instances


@pytest.mark.timeout(300)
async def test_five_thousand_messages_on_two_instances_arrive_once_each_in_order(
    live: Live, stack: Stack
) -> None:
    if not stack.backend.real:
        pytest.skip("embedded, one process is the only instance; instances share Redis and RabbitMQ")
    second = await live.add_server(
        create_chat_app(make_settings(stack.backend, user_service=live.served.url)), lifespan=True
    )
    # 25 people, each sending 200 (under MESSAGE_RATE_PER_MINUTE) into the two chats of a ring.
    people = await live.people(*(f"sender{n}" for n in range(25)))
    members: dict[str, list[Person]] = {}
    for n in range(25):
        pair = [people[n], people[(n + 1) % 25]]
        members[await direct_chat(*pair)] = pair
    chats_of = {p.id: [c for c, ps in members.items() if p in ps] for p in people}
    # Half the people listen on each instance; every other message is sent through the other one.
    tabs = {p.id: await live.socket(p, second if n % 2 else None) for n, p in enumerate(people)}
    clients = {p.id: (p.client, live.on(p, second).client) for p in people}

    async def stream(n: int, lane: int) -> int:
        person = people[n]
        targets = chats_of[person.id]
        for i in range(50):
            chat = targets[(i + lane) % len(targets)]
            client = clients[person.id][(i + lane) % 2]
            body = {"chatId": chat, "text": f"{n}:{lane}:{i}", "clientId": f"{n}-{lane}-{i}"}
            response = await client.post("/api/v1/message", json=body)
            # Overloaded (503), or over the message limit (429: each instance leases part of the
            # limit ahead, so two instances may count a sender's 200 as more): as a client does,
            # send it again after Retry-After, with the same clientId.
            while response.status_code in (429, 503):
                await asyncio.sleep(min(float(response.headers.get("Retry-After", "1")), 5.0))
                response = await client.post("/api/v1/message", json=body)
            assert response.status_code == 201, response.text
        return 50

    sent = sum(await asyncio.gather(*(stream(n, lane) for n in range(25) for lane in range(4))))
    assert sent == 5000

    stored = {chat: await full_history(ps[0], chat) for chat, ps in members.items()}
    assert sum(len(messages) for messages in stored.values()) == 5000
    for messages in stored.values():
        assert [m["seq"] for m in messages] == list(range(1, len(messages) + 1))
    for person in people:
        expected = sum(len(stored[c]) for c in chats_of[person.id])
        received = await tabs[person.id].collect("newMessage", expected, timeout=120)
        for chat in chats_of[person.id]:
            assert [m["_id"] for m in received if m["chatId"] == chat] == [m["_id"] for m in stored[chat]]
    # A last message in every chat: what arrived before it is all that will ever arrive.
    for chat, pair in members.items():
        last = await send(pair[0], chat, "that is all")
        for person in pair:
            await tabs[person.id].wait_for(
                "newMessage", lambda m, last=last: m["_id"] == last["_id"], timeout=30
            )
    for person in people:
        received = tabs[person.id].named("newMessage")
        assert len(received) == sum(len(stored[c]) for c in chats_of[person.id]) + 2


async def _start_chat_process(
    stack: Stack, user_service: str, data_dir: Path
) -> tuple[asyncio.subprocess.Process, str]:
    overrides = stack.backend.overrides
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")},
        "PYTHONUNBUFFERED": "1",
        "PARLEY_ENV": "test",
        "PARLEY_DATA_DIR": str(data_dir),
        "LOG_LEVEL": "WARNING",
        "JWT_SECRET": overrides["jwt_secret"],
        "CHAT_DATABASE_URL": overrides["chat_database_url"],
        "REDIS_URL": overrides["redis_url"],
        "AMQP_URL": overrides["amqp_url"],
        "USER_SERVICE": user_service,
        "PUBLIC_URL": overrides["public_url"],
        "MEDIA_STORAGE": f"file://{data_dir / 'media'}",
    }
    with (data_dir / "chat.log").open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            *PARLEY,
            *("serve", "chat", "--host", "127.0.0.1", "--port", str(port), "--no-migrate"),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(timeout=2) as client:
        for _ in range(600):
            if proc.returncode is not None:
                raise AssertionError((data_dir / "chat.log").read_text())
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return proc, url
            await asyncio.sleep(0.1)
    proc.kill()
    await proc.wait()
    raise AssertionError("the chat instance did not get ready")


async def test_a_killed_chat_instance_loses_no_acknowledged_message_and_retries_store_none_twice(
    live: Live, stack: Stack, tmp_path: Path
) -> None:
    if not stack.backend.real:
        pytest.skip("needs a chat instance of its own on the shared PostgreSQL, Redis and RabbitMQ")
    proc, url = await _start_chat_process(stack, live.served.url, tmp_path)
    try:
        people = await live.people("alice", "bob", "carol", "dave")
        chats = [await direct_chat(people[0], people[1]), await direct_chat(people[2], people[3])]
        doomed = {
            p.id: httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {p.token}"})
            for p in people
        }
        acked: dict[str, str] = {}  # clientId → message id, answered by the doomed instance
        attempted: dict[str, tuple[Person, str, str]] = {}  # clientId → (sender, chat, text)
        enough = asyncio.Event()

        async def stream(n: int, lane: int) -> None:
            person = people[n]
            chat = chats[n // 2]
            for i in range(1000):
                client_id = f"kill-{n}-{lane}-{i}"
                attempted[client_id] = (person, chat, client_id)
                try:
                    response = await doomed[person.id].post(
                        "/api/v1/message", json={"chatId": chat, "text": client_id, "clientId": client_id}
                    )
                except httpx.HTTPError:
                    return  # the instance is gone: this one may or may not have been stored
                if response.status_code != 201:
                    return
                acked[client_id] = response.json()["message"]["_id"]
                if len(acked) >= 200:
                    enough.set()

        streams = [asyncio.create_task(stream(n, lane)) for n in range(4) for lane in range(4)]
        await asyncio.wait_for(enough.wait(), 60)
        proc.send_signal(signal.SIGKILL)
        await asyncio.gather(*streams)
        for client in doomed.values():
            await client.aclose()
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()

    # Every sender retries whatever it sent, with the same clientId, on the instance still up.
    for client_id, (person, chat, text) in attempted.items():
        response = await person.client.post(
            "/api/v1/message", json={"chatId": chat, "text": text, "clientId": client_id}
        )
        assert response.status_code in (200, 201), response.text
        if client_id in acked:
            assert response.status_code == 200, "an acknowledged message was lost"
            assert response.json()["message"]["_id"] == acked[client_id]
    stored = [m for chat in chats for m in await full_history(people[0 if chat == chats[0] else 2], chat)]
    client_ids = [m["clientId"] for m in stored]
    assert len(client_ids) == len(set(client_ids)), "a message was stored twice"
    assert set(client_ids) == set(attempted)
    assert len(acked) >= 200
