"""What the chat service hands to the real-time layer, and that it does so only after the commit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from parley.chat import store
from parley.chat.events import NullSink, Outbox
from parley.chat.store import Message
from parley.chat.uow import unit_of_work
from parley.core.database import Database, migrate
from parley.core.ids import new_id
from tests.chat.helpers import CapturingSink, direct_chat, group_chat, history, listed, send
from tests.fixtures.stack import Person


async def test_new_message_goes_to_every_member_after_it_is_stored(
    alice: Person, bob: Person, carol: Person, events: CapturingSink, chat_app: Any
) -> None:
    chat_id = await group_chat(alice, bob, carol)
    stored_when_emitted: list[bool] = []

    async def check_stored(event: str, payload: dict[str, Any]) -> None:
        if event == "newMessage":
            # A separate connection sees the message: the transaction has committed.
            async with chat_app.state.db.session() as session:
                found = await session.scalar(select(Message.id).where(Message.id == payload["_id"]))
            stored_when_emitted.append(found is not None)

    events.on_emit = check_stored
    events.events.clear()
    message = await send(bob, chat_id, "to everyone")

    [(payload, to)] = events.named("newMessage")
    assert payload == message
    assert sorted(to) == sorted([alice.id, bob.id, carol.id])
    assert stored_when_emitted == [True]


async def test_messages_seen_goes_to_the_senders(
    alice: Person, bob: Person, carol: Person, events: CapturingSink
) -> None:
    chat_id = await group_chat(alice, bob, carol)
    from_alice = [(await send(alice, chat_id, f"a{i}"))["_id"] for i in range(2)]
    from_bob = (await send(bob, chat_id, "b"))["_id"]
    events.events.clear()

    await history(carol, chat_id)
    seen = {tuple(to): payload for payload, to in events.named("messagesSeen")}
    assert seen == {
        (alice.id,): {"chatId": chat_id, "seenBy": carol.id, "messageIds": from_alice},
        (bob.id,): {"chatId": chat_id, "seenBy": carol.id, "messageIds": [from_bob]},
    }
    assert len(events.events) == 2

    events.events.clear()
    await history(carol, chat_id)  # nothing new to read
    assert events.events == []


async def test_new_chat_goes_to_the_members_added(
    alice: Person, bob: Person, carol: Person, dave: Person, events: CapturingSink
) -> None:
    direct = await direct_chat(alice, bob)
    assert events.named("newChat") == [({"chatId": direct}, [alice.id, bob.id])]

    events.events.clear()
    await direct_chat(bob, alice)  # it exists: nothing new
    assert events.events == []

    group = await group_chat(alice, bob, carol)
    [(payload, to)] = events.named("newChat")
    assert payload == {"chatId": group}
    assert sorted(to) == sorted([alice.id, bob.id, carol.id])

    events.events.clear()
    await alice.client.post(f"/api/v1/chat/{group}/members", json={"userIds": [dave.id, bob.id]})
    assert events.named("newChat") == [({"chatId": group}, [dave.id])]


async def test_failed_requests_emit_nothing(
    alice: Person, bob: Person, carol: Person, dave: Person, events: CapturingSink
) -> None:
    chat_id = await group_chat(alice, bob, carol)
    events.events.clear()
    attempts = [
        await alice.client.post("/api/v1/message", data={"chatId": chat_id, "text": " "}),
        await alice.client.post("/api/v1/message", data={"chatId": chat_id, "text": "x" * 4001}),
        await dave.client.post("/api/v1/message", data={"chatId": chat_id, "text": "let me in"}),
        await alice.client.post("/api/v1/chat/group", json={"name": "G", "userIds": [bob.id, new_id()]}),
        await dave.client.get(f"/api/v1/message/{chat_id}"),
        await alice.client.post(f"/api/v1/chat/{chat_id}/members", json={"userIds": [new_id()]}),
    ]
    assert [r.status_code for r in attempts] == [400, 400, 403, 404, 403, 404]
    assert events.events == []


async def test_a_failing_sink_does_not_fail_the_request(
    alice: Person, bob: Person, events: CapturingSink
) -> None:
    chat_id = await direct_chat(alice, bob)

    async def broken(event: str, payload: dict[str, Any]) -> None:
        raise ConnectionError("the real-time layer is down")

    events.on_emit = broken
    message = await send(alice, chat_id, "stored anyway")
    assert [m["_id"] for m in (await history(bob, chat_id))["messages"]] == [message["_id"]]


# --- the unit of work on its own ---------------------------------------------------------------------------


@pytest.fixture
async def database(tmp_path: Path) -> Any:
    url = f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}"
    await migrate(url, "chat", store.MIGRATIONS_DIR)
    db = Database(url)
    try:
        yield db
    finally:
        await db.close()


async def test_unit_of_work_emits_after_commit_in_order(database: Database) -> None:
    sink = CapturingSink()
    async with unit_of_work(database, sink) as uow:
        uow.emit("first", {"n": 1}, to_users=["u1", "u1", "u2"])
        uow.emit("second", {"n": 2}, to_users=["u2"])
        uow.emit("nobody", {"n": 3}, to_users=[])
        assert sink.events == []
    assert sink.events == [("first", {"n": 1}, ["u1", "u2"]), ("second", {"n": 2}, ["u2"])]


async def test_unit_of_work_without_database_work_opens_no_session(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A text message needs no session of its own (the writer stores it): none is opened, none committed."""
    opened: list[object] = []
    sessions = database.sessions
    monkeypatch.setattr(database, "sessions", lambda: opened.append(1) or sessions())
    sink = CapturingSink()
    async with unit_of_work(database, sink) as uow:
        uow.emit("only-an-event", {"n": 1}, to_users=["u1"])
    assert opened == []
    assert sink.events == [("only-an-event", {"n": 1}, ["u1"])]

    async with unit_of_work(database, sink) as uow:
        await uow.session.execute(select(Message.id).limit(1))
    assert opened == [1]


async def test_unit_of_work_that_fails_emits_nothing(database: Database) -> None:
    sink = CapturingSink()
    committed: list[int] = []
    with pytest.raises(RuntimeError):
        async with unit_of_work(database, sink) as uow:
            uow.emit("lost", {}, to_users=["u1"])
            uow.on_commit(lambda: committed.append(1))
            raise RuntimeError("boom")
    assert sink.events == []
    assert committed == []


async def test_unit_of_work_whose_commit_fails_emits_nothing(database: Database) -> None:
    sink = CapturingSink()
    now = store.utcnow()
    chat_id = new_id()
    with pytest.raises(IntegrityError):
        async with unit_of_work(database, sink) as uow:
            uow.emit("lost", {}, to_users=["u1"])
            # A member of a chat that does not exist: refused when the work is flushed at commit.
            uow.session.add(
                store.Member(chat_id=chat_id, user_id="u1", role="member", joined_at=now, last_read_seq=0)
            )
    assert sink.events == []


async def test_outbox_logs_a_failing_sink_and_carries_on() -> None:
    delivered: list[str] = []

    class Flaky:
        async def emit(self, event: str, payload: dict[str, Any], *, to_users: list[str]) -> None:
            if event == "bad":
                raise ConnectionError("down")
            delivered.append(event)

    outbox = Outbox()
    outbox.add("bad", {}, ["u"])
    outbox.add("good", {}, ["u"])
    await outbox.flush(Flaky())
    assert delivered == ["good"]
    await outbox.flush(NullSink())
    assert outbox.events == []


async def test_members_with_the_chat_open_read_new_messages_at_once(
    alice: Person, bob: Person, carol: Person, events: CapturingSink, chat_app: Any
) -> None:
    chat_id = await direct_chat(alice, bob)
    await send(bob, chat_id, "are you there?")
    watching = {bob.id, carol.id}  # carol is no member: her being "there" changes nothing

    async def viewers(chats: list[str]) -> dict[str, set[str]]:
        return {chat: watching if chat == chat_id else set() for chat in chats}

    previous = chat_app.state.viewers
    chat_app.state.viewers = viewers
    try:
        events.events.clear()
        message = await send(alice, chat_id, "yes")  # alice's own viewing is not a receipt
    finally:
        chat_app.state.viewers = previous
    assert message["seen"] is True
    assert [name for name, _, _ in events.events] == ["newMessage", "messagesSeen"]
    assert events.events[0][1]["seen"] is False  # delivered first, read right after
    assert events.named("messagesSeen") == [
        ({"chatId": chat_id, "seenBy": bob.id, "messageIds": [message["_id"]]}, [alice.id])
    ]
    assert (await listed(bob, chat_id))["chat"]["unseenCount"] == 0
    assert (await listed(alice, chat_id))["chat"]["unseenCount"] == 1  # alice never opened bob's


async def test_a_failing_viewers_lookup_does_not_fail_the_send(
    alice: Person, bob: Person, chat_app: Any
) -> None:
    chat_id = await direct_chat(alice, bob)

    async def broken(chats: list[str]) -> dict[str, set[str]]:
        raise ConnectionError("cache down")

    previous = chat_app.state.viewers
    chat_app.state.viewers = broken
    try:
        message = await send(alice, chat_id, "still sent")
    finally:
        chat_app.state.viewers = previous
    assert message["seen"] is False
    assert [m["_id"] for m in (await history(bob, chat_id))["messages"]] == [message["_id"]]
