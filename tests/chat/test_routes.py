"""The chat API through the whole stack: chats, groups, messages, read state, bad input."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from parley.chat.users import CACHE_PREFIX
from parley.core.ids import new_id
from tests.chat.helpers import chat_list, direct_chat, group_chat, history, listed, send, user_messages
from tests.fixtures.stack import Person, Stack

ISO_UTC = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"


# --- 1:1 chats ---------------------------------------------------------------------------------------------


async def test_new_chat_is_created_once_and_then_found(alice: Person, bob: Person) -> None:
    first = await alice.client.post("/api/v1/chat/new", json={"otherUserId": bob.id})
    assert first.status_code == 201, first.text
    chat_id = first.json()["chatId"]
    assert set(first.json()) == {"message", "chatId"}

    for person, other in ((alice, bob), (bob, alice)):
        again = await person.client.post("/api/v1/chat/new", json={"otherUserId": other.id})
        assert again.status_code == 200
        assert again.json()["chatId"] == again.json()["chat"] == chat_id
        assert again.json()["message"]


async def test_chat_with_yourself_is_400(alice: Person) -> None:
    response = await alice.client.post("/api/v1/chat/new", json={"otherUserId": alice.id})
    assert response.status_code == 400
    assert response.json()["message"]


async def test_chat_with_an_unknown_user_is_404(alice: Person) -> None:
    response = await alice.client.post("/api/v1/chat/new", json={"otherUserId": new_id()})
    assert response.status_code == 404
    assert response.json()["message"] == "User not found"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"otherUserId": "not-an-id"}, 400),
        ({"otherUserId": "../../etc/passwd"}, 400),
        ({"otherUserId": ""}, 400),
        ({"otherUserId": 5}, 422),
        ({"otherUserId": None}, 422),
        ({}, 422),
        ([], 422),
    ],
)
async def test_new_chat_bad_input(alice: Person, body: Any, status: int) -> None:
    response = await alice.client.post("/api/v1/chat/new", json=body)
    assert response.status_code == status
    assert response.json()["message"]


async def test_new_chat_body_that_is_not_json_is_422(alice: Person) -> None:
    response = await alice.client.post(
        "/api/v1/chat/new", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["message"]


# --- groups ------------------------------------------------------------------------------------------------


async def test_group_is_created_with_the_creator_as_admin(alice: Person, bob: Person, carol: Person) -> None:
    response = await alice.client.post(
        "/api/v1/chat/group", json={"name": "  Weekend trip  ", "userIds": [bob.id, carol.id, bob.id]}
    )
    assert response.status_code == 201, response.text
    chat_id = response.json()["chatId"]

    view = await carol.client.get(f"/api/v1/chat/{chat_id}")
    assert view.status_code == 200
    chat = view.json()["chat"]
    assert chat["_id"] == chat_id
    assert chat["name"] == "Weekend trip"
    assert chat["isGroup"] is True
    assert chat["admins"] == [alice.id]
    assert sorted(chat["users"]) == sorted([alice.id, bob.id, carol.id])
    members = {m["_id"]: m for m in view.json()["members"]}
    # Alice made the group: Carol sees her address; Bob has not taken part yet, so his stays hidden.
    assert members[alice.id]["email"] == alice.email
    assert members[bob.id]["email"] == ""
    assert members[alice.id]["name"] == alice.name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "   ",
        "\u200b\u200b",
        "tab\there",
        "line\nbreak",
        "x" * 101,
        "evil\u202egpj.exe",  # a right-to-left override
        "ad\u200bmins",  # a zero-width space
        "x\u2066admins\u2069",  # bidirectional isolates
    ],
)
async def test_group_names_must_be_1_to_100_visible_characters(
    alice: Person, bob: Person, carol: Person, name: str
) -> None:
    response = await alice.client.post(
        "/api/v1/chat/group", json={"name": name, "userIds": [bob.id, carol.id]}
    )
    assert response.status_code == 400
    assert response.json()["message"]


async def test_names_with_a_lone_surrogate_are_400_and_change_nothing(
    alice: Person, bob: Person, carol: Person
) -> None:
    chat_id = await group_chat(alice, bob, carol, name="Team")
    before = await chat_list(alice)
    body = b'{"name": "Te\\ud800am", "userIds": ["' + bob.id.encode() + b'", "' + carol.id.encode() + b'"]}'
    headers = {"content-type": "application/json"}
    created = await alice.client.post("/api/v1/chat/group", content=body, headers=headers)
    assert created.status_code == 400, created.text
    assert created.json()["code"] == "invalid_name"
    renamed = await alice.client.post(
        f"/api/v1/chat/{chat_id}/rename", content=b'{"name": "\\udfffTeam"}', headers=headers
    )
    assert renamed.status_code == 400, renamed.text
    assert renamed.json()["message"]
    assert await chat_list(alice) == before


async def test_group_names_with_emoji_sequences_are_fine(alice: Person, bob: Person, carol: Person) -> None:
    name = "👩\u200d💻 devs 🏳️\u200d🌈"
    chat_id = await group_chat(alice, bob, carol, name=name)
    assert (await listed(bob, chat_id))["chat"]["name"] == name


async def test_renaming_to_the_same_name_is_fine(alice: Person, bob: Person, carol: Person) -> None:
    chat_id = await group_chat(alice, bob, carol, name="Team")
    for name in ("Team", " Team ", "Team"):
        response = await bob.client.post(f"/api/v1/chat/{chat_id}/rename", json={"name": name})
        assert response.status_code == 200, response.text
        assert response.json()["chat"]["name"] == "Team"


async def test_group_name_of_100_characters_is_fine(alice: Person, bob: Person, carol: Person) -> None:
    name = "é" * 100
    chat_id = await group_chat(alice, bob, carol, name=name)
    assert (await listed(bob, chat_id))["chat"]["name"] == name


async def test_group_needs_two_other_people_who_exist(alice: Person, bob: Person, carol: Person) -> None:
    post = alice.client.post
    too_few = await post("/api/v1/chat/group", json={"name": "G", "userIds": [bob.id]})
    assert too_few.status_code == 400
    with_self = await post("/api/v1/chat/group", json={"name": "G", "userIds": [bob.id, alice.id]})
    assert with_self.status_code == 400
    twice = await post("/api/v1/chat/group", json={"name": "G", "userIds": [bob.id, bob.id]})
    assert twice.status_code == 400
    unknown = await post("/api/v1/chat/group", json={"name": "G", "userIds": [bob.id, new_id()]})
    assert unknown.status_code == 404
    malformed = await post("/api/v1/chat/group", json={"name": "G", "userIds": [bob.id, "carol"]})
    assert malformed.status_code == 400
    assert await chat_list(carol) == []


@pytest.mark.parametrize(
    "body",
    [
        {"name": "G"},
        {"userIds": []},
        {"name": 5, "userIds": []},
        {"name": "G", "userIds": "abc"},
        {"name": "G", "userIds": [1, 2]},
    ],
)
async def test_group_schema_violations_are_422(alice: Person, body: dict[str, Any]) -> None:
    response = await alice.client.post("/api/v1/chat/group", json=body)
    assert response.status_code == 422
    assert response.json()["message"]


async def test_any_member_renames_a_group(alice: Person, bob: Person, carol: Person) -> None:
    chat_id = await group_chat(alice, bob, carol)
    response = await bob.client.post(f"/api/v1/chat/{chat_id}/rename", json={"name": " Book club "})
    assert response.status_code == 200, response.text
    assert response.json()["chat"]["name"] == "Book club"
    assert response.json()["chat"]["admins"] == [alice.id]
    assert (await listed(carol, chat_id))["chat"]["name"] == "Book club"

    bad = await bob.client.post(f"/api/v1/chat/{chat_id}/rename", json={"name": "  "})
    assert bad.status_code == 400
    assert (await listed(carol, chat_id))["chat"]["name"] == "Book club"


async def test_group_operations_on_a_1_to_1_chat_are_400(alice: Person, bob: Person, carol: Person) -> None:
    chat_id = await direct_chat(alice, bob)
    rename = await alice.client.post(f"/api/v1/chat/{chat_id}/rename", json={"name": "Us"})
    add = await alice.client.post(f"/api/v1/chat/{chat_id}/members", json={"userIds": [carol.id]})
    remove = await alice.client.delete(f"/api/v1/chat/{chat_id}/members/{bob.id}")
    leave = await alice.client.post(f"/api/v1/chat/{chat_id}/leave")
    assert [r.status_code for r in (rename, add, remove, leave)] == [400, 400, 400, 400]
    assert sorted((await listed(bob, chat_id))["chat"]["users"]) == sorted([alice.id, bob.id])


async def test_admins_add_people_who_then_see_the_history(
    alice: Person, bob: Person, carol: Person, dave: Person
) -> None:
    chat_id = await group_chat(alice, bob, carol)
    await send(bob, chat_id, "before dave")
    response = await alice.client.post(
        f"/api/v1/chat/{chat_id}/members", json={"userIds": [dave.id, carol.id]}
    )
    assert response.status_code == 200, response.text
    assert sorted(response.json()["chat"]["users"]) == sorted([alice.id, bob.id, carol.id, dave.id])

    entry = await listed(dave, chat_id)
    # The history is there for newcomers, but it does not count as unread for them.
    assert entry["chat"]["unseenCount"] == 0
    assert [m["text"] for m in user_messages(await history(dave, chat_id))] == ["before dave"]


async def test_members_who_are_not_admins_cannot_add_people(
    alice: Person, bob: Person, carol: Person, dave: Person
) -> None:
    chat_id = await group_chat(alice, bob, carol)
    refused = await bob.client.post(f"/api/v1/chat/{chat_id}/members", json={"userIds": [dave.id]})
    assert refused.status_code == 403
    assert refused.json()["code"] == "not_an_admin"
    assert dave.id not in (await listed(alice, chat_id))["chat"]["users"]


async def test_someone_an_admin_removed_cannot_be_brought_back_by_a_member(
    alice: Person, bob: Person, carol: Person, dave: Person
) -> None:
    chat_id = await group_chat(alice, bob, carol, dave)
    removed = await alice.client.delete(f"/api/v1/chat/{chat_id}/members/{dave.id}")
    assert removed.status_code == 200, removed.text
    readd = await bob.client.post(f"/api/v1/chat/{chat_id}/members", json={"userIds": [dave.id]})
    assert readd.status_code == 403
    assert (await dave.client.get(f"/api/v1/chat/{chat_id}")).status_code == 403
    back = await alice.client.post(f"/api/v1/chat/{chat_id}/members", json={"userIds": [dave.id]})
    assert back.status_code == 200, back.text
    assert (await dave.client.get(f"/api/v1/chat/{chat_id}")).status_code == 200


async def test_adding_unknown_or_malformed_users_changes_nothing(
    alice: Person, bob: Person, carol: Person
) -> None:
    chat_id = await group_chat(alice, bob, carol)
    unknown = await alice.client.post(f"/api/v1/chat/{chat_id}/members", json={"userIds": [new_id()]})
    assert unknown.status_code == 404
    malformed = await alice.client.post(f"/api/v1/chat/{chat_id}/members", json={"userIds": ["x"]})
    assert malformed.status_code == 400
    empty = await alice.client.post(f"/api/v1/chat/{chat_id}/members", json={"userIds": []})
    assert empty.status_code == 422
    assert len((await listed(alice, chat_id))["chat"]["users"]) == 3


async def test_only_admins_remove_members(alice: Person, bob: Person, carol: Person) -> None:
    chat_id = await group_chat(alice, bob, carol)
    refused = await bob.client.delete(f"/api/v1/chat/{chat_id}/members/{carol.id}")
    assert refused.status_code == 403
    assert carol.id in (await listed(alice, chat_id))["chat"]["users"]

    removed = await alice.client.delete(f"/api/v1/chat/{chat_id}/members/{carol.id}")
    assert removed.status_code == 200, removed.text
    assert sorted(removed.json()["chat"]["users"]) == sorted([alice.id, bob.id])
    assert (await carol.client.get(f"/api/v1/message/{chat_id}")).status_code == 403
    assert chat_id not in [e["chat"]["_id"] for e in await chat_list(carol)]

    again = await alice.client.delete(f"/api/v1/chat/{chat_id}/members/{carol.id}")
    assert again.status_code == 404
    malformed = await alice.client.delete(f"/api/v1/chat/{chat_id}/members/carol")
    assert malformed.status_code == 404
    yourself = await alice.client.delete(f"/api/v1/chat/{chat_id}/members/{alice.id}")
    assert yourself.status_code == 400


async def test_when_the_last_admin_leaves_the_longest_standing_member_takes_over(
    alice: Person, bob: Person, carol: Person, dave: Person
) -> None:
    chat_id = await group_chat(alice, bob, carol)
    await alice.client.post(f"/api/v1/chat/{chat_id}/members", json={"userIds": [dave.id]})
    await alice.client.delete(f"/api/v1/chat/{chat_id}/members/{carol.id}")

    response = await alice.client.post(f"/api/v1/chat/{chat_id}/leave")
    assert response.status_code == 200
    assert response.json()["message"]

    view = (await dave.client.get(f"/api/v1/chat/{chat_id}")).json()["chat"]
    assert view["admins"] == [bob.id]
    assert sorted(view["users"]) == sorted([bob.id, dave.id])
    assert (await alice.client.get(f"/api/v1/chat/{chat_id}")).status_code == 403
    assert (await alice.client.post(f"/api/v1/chat/{chat_id}/leave")).status_code == 403


async def test_a_member_leaving_keeps_the_admin(alice: Person, bob: Person, carol: Person) -> None:
    chat_id = await group_chat(alice, bob, carol)
    assert (await carol.client.post(f"/api/v1/chat/{chat_id}/leave")).status_code == 200
    view = (await bob.client.get(f"/api/v1/chat/{chat_id}")).json()["chat"]
    assert view["admins"] == [alice.id]
    assert sorted(view["users"]) == sorted([alice.id, bob.id])


# --- the chat list -------------------------------------------------------------------------------------------


async def test_chat_list_documents(alice: Person, bob: Person, carol: Person) -> None:
    direct = await direct_chat(alice, bob)
    group = await group_chat(alice, bob, carol, name="Trio")

    entries = {e["chat"]["_id"]: e for e in await chat_list(alice)}
    one = entries[direct]
    assert one["user"]["_id"] == bob.id
    assert one["user"]["email"] == ""  # Bob has not taken part in the chat yet
    assert one["chat"]["isGroup"] is False
    assert "name" not in one["chat"]
    assert one["chat"]["latestMessage"] is None
    assert one["chat"]["unseenCount"] == 0
    assert sorted(one["chat"]["users"]) == sorted([alice.id, bob.id])
    assert set(one["chat"]) == {
        "_id",
        "users",
        "isGroup",
        "latestMessage",
        "unseenCount",
        "mutedUntil",
        "createdAt",
        "updatedAt",
    }
    assert one["chat"]["mutedUntil"] is None

    many = entries[group]
    assert many["user"] is None
    assert many["chat"]["name"] == "Trio"
    assert many["chat"]["isGroup"] is True
    assert re.match(ISO_UTC, many["chat"]["createdAt"])


async def test_chat_list_is_newest_activity_first(alice: Person, bob: Person, carol: Person) -> None:
    with_bob = await direct_chat(alice, bob)
    with_carol = await direct_chat(alice, carol)
    group = await group_chat(alice, bob, carol)
    assert [e["chat"]["_id"] for e in await chat_list(alice)][:3] == [group, with_carol, with_bob]

    await send(bob, with_bob, "latest")
    ids = [e["chat"]["_id"] for e in await chat_list(alice)]
    assert ids[:3] == [with_bob, group, with_carol]
    entry = await listed(alice, with_bob)
    assert entry["chat"]["latestMessage"] == {"text": "latest", "sender": bob.id}
    assert entry["chat"]["unseenCount"] == 1


async def test_chat_list_says_unknown_user_when_the_user_service_is_down(
    alice: Person, bob: Person, chat_app: Any
) -> None:
    chat_id = await direct_chat(alice, bob)
    await chat_app.state.cache.delete(CACHE_PREFIX + bob.id)
    users = chat_app.state.users
    working = users.client
    users.client = httpx.AsyncClient(
        transport=httpx.MockTransport(lambda _: httpx.Response(503, json={"message": "down"})),
        base_url="http://user",
    )
    try:
        response = await alice.client.get("/api/v1/chat/all")
        assert response.status_code == 200
        entry = next(e for e in response.json()["chats"] if e["chat"]["_id"] == chat_id)
        assert entry["user"] == {"_id": bob.id, "name": "Unknown User", "email": ""}
        page = await history(alice, chat_id)
        assert page["user"]["name"] == "Unknown User"
        # Starting a chat needs the user service to say the other person exists.
        refused = await alice.client.post("/api/v1/chat/new", json={"otherUserId": new_id()})
        assert refused.status_code == 503
    finally:
        await users.client.aclose()
        users.client = working
    assert (await listed(alice, chat_id))["user"]["name"] == bob.name


async def test_profiles_are_cached_briefly(alice: Person, bob: Person, chat_app: Any) -> None:
    # Only profiles with their address are cached: Bob takes part, so Alice is shown his.
    await send(bob, await direct_chat(alice, bob), "hi")
    await chat_app.state.cache.delete(CACHE_PREFIX + bob.id)
    calls: list[httpx.Request] = []

    async def count(request: httpx.Request) -> None:
        calls.append(request)

    users = chat_app.state.users
    users.client.event_hooks["request"].append(count)
    try:
        await chat_list(alice)
        await chat_list(alice)
    finally:
        users.client.event_hooks["request"].remove(count)
    assert len(calls) == 1
    assert calls[0].url.path == "/api/v1/user/batch"
    assert calls[0].headers["authorization"] == f"Bearer {alice.token}"
    ttl = await chat_app.state.cache.ttl(CACHE_PREFIX + bob.id)
    assert 0 < ttl <= 60


# --- messages ------------------------------------------------------------------------------------------------


async def test_message_document(alice: Person, bob: Person) -> None:
    chat_id = await direct_chat(alice, bob)
    response = await alice.client.post(
        "/api/v1/message", data={"chatId": chat_id, "text": "  hi there \n", "sender": bob.id}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["sender"] == alice.id
    message = body["message"]
    assert message["sender"] == alice.id  # never what the client claims
    assert message["text"] == "hi there"
    assert message["chatId"] == chat_id
    assert message["messageType"] == "text"
    assert message["seen"] is False
    assert message["seenAt"] is None
    assert "image" not in message
    assert "clientId" not in message
    assert re.match(ISO_UTC, message["createdAt"])
    assert re.match(ISO_UTC, message["updatedAt"])
    assert len(message["_id"]) == 24


async def test_message_text_limits(alice: Person, bob: Person) -> None:
    chat_id = await direct_chat(alice, bob)
    longest = await alice.client.post("/api/v1/message", data={"chatId": chat_id, "text": "y" * 4000})
    assert longest.status_code == 201
    too_long = await alice.client.post("/api/v1/message", data={"chatId": chat_id, "text": "y" * 4001})
    assert too_long.status_code == 400
    assert "4000" in too_long.json()["message"]
    for empty in ("", "   ", "\n\t", "\x00"):
        response = await alice.client.post("/api/v1/message", data={"chatId": chat_id, "text": empty})
        assert response.status_code == 400, empty
    no_text = await alice.client.post("/api/v1/message", data={"chatId": chat_id})
    assert no_text.status_code == 400
    nul = await alice.client.post("/api/v1/message", data={"chatId": chat_id, "text": "a\x00b"})
    assert nul.status_code == 201
    assert nul.json()["message"]["text"] == "ab"
    assert len((await history(bob, chat_id))["messages"]) == 2


@pytest.mark.parametrize(
    ("data", "status"),
    [
        ({"text": "hi"}, 422),
        ({"chatId": "nope", "text": "hi"}, 400),
        ({"chatId": new_id(), "text": "hi"}, 404),
        ({"chatId": "", "text": "hi"}, 422),
    ],
)
async def test_message_bad_chat(alice: Person, data: dict[str, str], status: int) -> None:
    response = await alice.client.post("/api/v1/message", data=data)
    assert response.status_code == status
    assert response.json()["message"]


async def test_a_text_message_may_come_as_json(alice: Person, bob: Person, carol: Person) -> None:
    chat_id = await direct_chat(alice, bob)
    response = await alice.client.post(
        "/api/v1/message", json={"chatId": chat_id, "text": " hi ", "clientId": "j-1", "sender": bob.id}
    )
    assert response.status_code == 201, response.text
    message = response.json()["message"]
    assert (message["text"], message["sender"], message["clientId"]) == ("hi", alice.id, "j-1")
    # The same rules as the form: a repeat, a non-member, bad input, a reply (not supported yet).
    again = await alice.client.post(
        "/api/v1/message", json={"chatId": chat_id, "text": "hi", "clientId": "j-1"}
    )
    assert (again.status_code, again.json()) == (200, response.json())
    refused = [
        (await carol.client.post("/api/v1/message", json={"chatId": chat_id, "text": "x"}), 403),
        (await alice.client.post("/api/v1/message", json={"chatId": chat_id, "text": " "}), 400),
        (await alice.client.post("/api/v1/message", json={"chatId": chat_id, "text": "y" * 4001}), 400),
        (
            await alice.client.post("/api/v1/message", json={"chatId": chat_id, "text": "x", "replyTo": "a"}),
            400,
        ),
        (await alice.client.post("/api/v1/message", json={"text": "no chat"}), 422),
        (await alice.client.post("/api/v1/message", json=["not", "an", "object"]), 422),
        (await alice.client.post("/api/v1/message", json={"chatId": chat_id, "text": 5}), 422),
        (
            await alice.client.post(
                "/api/v1/message", content=b"{not json", headers={"Content-Type": "application/json"}
            ),
            422,
        ),
    ]
    for got, status in refused:
        assert got.status_code == status, got.text
        assert got.json()["message"] and got.json()["code"]
    assert [m["text"] for m in (await history(bob, chat_id))["messages"]] == ["hi"]


async def test_messages_carry_their_number_in_the_chat(alice: Person, bob: Person, carol: Person) -> None:
    chat_id = await direct_chat(alice, bob)
    other = await direct_chat(alice, carol)
    sent = [await send(alice if i % 2 else bob, chat_id, f"m{i}") for i in range(4)]
    assert [m["seq"] for m in sent] == [1, 2, 3, 4]
    assert [m["seq"] for m in (await history(bob, chat_id))["messages"]] == [1, 2, 3, 4]
    assert (await send(carol, other, "elsewhere"))["seq"] == 1


async def test_same_client_id_stores_one_message(alice: Person, bob: Person, carol: Person) -> None:
    chat_id = await direct_chat(alice, bob)
    first = await alice.client.post(
        "/api/v1/message", data={"chatId": chat_id, "text": "once", "clientId": "c-1"}
    )
    assert first.status_code == 201
    again = await alice.client.post(
        "/api/v1/message", data={"chatId": chat_id, "text": "once", "clientId": "c-1"}
    )
    assert again.status_code == 200
    assert again.json() == first.json()
    assert first.json()["message"]["clientId"] == "c-1"

    # Another sender's clientId is their own.
    bobs = await bob.client.post(
        "/api/v1/message", data={"chatId": chat_id, "text": "mine", "clientId": "c-1"}
    )
    assert bobs.status_code == 201
    assert [m["text"] for m in (await history(bob, chat_id))["messages"]] == ["once", "mine"]

    elsewhere = await direct_chat(alice, carol)
    reused = await alice.client.post(
        "/api/v1/message", data={"chatId": elsewhere, "text": "x", "clientId": "c-1"}
    )
    assert reused.status_code == 409
    assert (await history(carol, elsewhere))["messages"] == []
    too_long = await alice.client.post(
        "/api/v1/message", data={"chatId": chat_id, "text": "x", "clientId": "c" * 101}
    )
    assert too_long.status_code == 400


# --- history -------------------------------------------------------------------------------------------------


async def test_history_pages_back_oldest_first(alice: Person, bob: Person) -> None:
    chat_id = await direct_chat(alice, bob)
    sent = [await send(alice if i % 2 else bob, chat_id, f"m{i}") for i in range(7)]

    page = await history(alice, chat_id, limit=3)
    assert [m["text"] for m in page["messages"]] == ["m4", "m5", "m6"]
    assert page["user"]["_id"] == bob.id
    page = await history(alice, chat_id, limit=3, before=page["messages"][0]["_id"])
    assert [m["text"] for m in page["messages"]] == ["m1", "m2", "m3"]
    page = await history(alice, chat_id, limit=3, before=page["messages"][0]["_id"])
    assert [m["text"] for m in page["messages"]] == ["m0"]
    page = await history(alice, chat_id, limit=3, before=sent[0]["_id"])
    assert page["messages"] == []
    assert len((await history(alice, chat_id))["messages"]) == 7


async def test_history_of_a_group_has_no_user(alice: Person, bob: Person, carol: Person) -> None:
    chat_id = await group_chat(alice, bob, carol)
    assert (await history(carol, chat_id))["user"] is None


async def test_history_bad_parameters(alice: Person, bob: Person, carol: Person) -> None:
    chat_id = await direct_chat(alice, bob)
    other = await direct_chat(alice, carol)
    foreign = await send(alice, other, "elsewhere")
    get = alice.client.get
    assert (await get(f"/api/v1/message/{chat_id}", params={"limit": 0})).status_code == 422
    assert (await get(f"/api/v1/message/{chat_id}", params={"limit": 101})).status_code == 422
    assert (await get(f"/api/v1/message/{chat_id}", params={"limit": "many"})).status_code == 422
    assert (await get(f"/api/v1/message/{chat_id}", params={"limit": 100})).status_code == 200
    assert (await get(f"/api/v1/message/{chat_id}", params={"before": "nope"})).status_code == 400
    assert (await get(f"/api/v1/message/{chat_id}", params={"before": new_id()})).status_code == 400
    assert (await get(f"/api/v1/message/{chat_id}", params={"before": foreign["_id"]})).status_code == 400


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/chat/{bad}",
        "/api/v1/message/{bad}",
        "/api/v1/chat/{bad}/leave",
        "/api/v1/chat/{bad}/rename",
        "/api/v1/chat/{bad}/members",
    ],
)
@pytest.mark.parametrize("bad", ["nope", "0" * 23, "Z" * 24, "%20", pytest.param(new_id(), id="unknown-id")])
async def test_chat_ids_that_are_not_chats_are_404(alice: Person, path: str, bad: str) -> None:
    url = path.format(bad=bad)
    if url.endswith(("leave", "rename", "members")):
        body = {"name": "x"} if url.endswith("rename") else {"userIds": [alice.id]}
        response = await alice.client.post(url, json=body)
    else:
        response = await alice.client.get(url)
    assert response.status_code == 404
    assert response.json()["message"]


# --- read state ----------------------------------------------------------------------------------------------


async def test_read_state_in_a_1_to_1_chat(alice: Person, bob: Person) -> None:
    chat_id = await direct_chat(alice, bob)
    for text in ("one", "two", "three"):
        await send(alice, chat_id, text)
    await send(bob, chat_id, "from bob")

    assert (await listed(bob, chat_id))["chat"]["unseenCount"] == 3
    assert (await listed(alice, chat_id))["chat"]["unseenCount"] == 1

    page = await history(alice, chat_id)
    assert [(m["text"], m["seen"]) for m in page["messages"]] == [
        ("one", False),
        ("two", False),
        ("three", False),
        ("from bob", True),  # alice just opened the chat
    ]

    opened = await history(bob, chat_id)
    assert all(m["seen"] for m in opened["messages"])
    assert (await listed(bob, chat_id))["chat"]["unseenCount"] == 0
    page = await history(alice, chat_id)
    assert all(m["seen"] and m["seenAt"] for m in page["messages"])
    assert (await listed(alice, chat_id))["chat"]["unseenCount"] == 0


async def test_reading_the_latest_page_reads_everything_before_it(alice: Person, bob: Person) -> None:
    chat_id = await direct_chat(alice, bob)
    for text in ("one", "two", "three"):
        await send(alice, chat_id, text)
    older = (await history(bob, chat_id, limit=1))["messages"]
    assert [m["text"] for m in older] == ["three"]
    assert (await listed(bob, chat_id))["chat"]["unseenCount"] == 0
    assert all(m["seen"] for m in (await history(alice, chat_id))["messages"])

    # Paging back further reads nothing new, and a new message is unread again.
    await history(bob, chat_id, limit=1, before=older[0]["_id"])
    await send(alice, chat_id, "four")
    assert (await listed(bob, chat_id))["chat"]["unseenCount"] == 1
    assert [m["seen"] for m in (await history(alice, chat_id))["messages"]] == [True, True, True, False]


async def test_read_state_in_a_group(alice: Person, bob: Person, carol: Person) -> None:
    chat_id = await group_chat(alice, bob, carol)
    await send(alice, chat_id, "hello all")
    assert (await listed(bob, chat_id))["chat"]["unseenCount"] == 1
    assert (await listed(carol, chat_id))["chat"]["unseenCount"] == 1

    await history(bob, chat_id)
    assert (await listed(bob, chat_id))["chat"]["unseenCount"] == 0
    assert (await listed(carol, chat_id))["chat"]["unseenCount"] == 1
    [message] = user_messages(await history(alice, chat_id))
    assert message["seen"] is False  # carol has not read it yet

    await history(carol, chat_id)
    [message] = user_messages(await history(alice, chat_id))
    assert message["seen"] is True
    assert message["seenAt"]


async def test_a_message_becomes_seen_when_the_last_reader_leaves(
    alice: Person, bob: Person, carol: Person
) -> None:
    chat_id = await group_chat(alice, bob, carol)
    await send(alice, chat_id, "hello all")
    await history(bob, chat_id)
    await carol.client.post(f"/api/v1/chat/{chat_id}/leave")
    [message] = user_messages(await history(alice, chat_id))
    assert message["seen"] is True


async def test_stack_serves_the_chat_openapi(stack: Stack) -> None:
    doc = (await stack.client().get("/openapi.json")).json()
    for path in (
        "/api/v1/chat/new",
        "/api/v1/chat/{chatId}/members/{userId}",
        "/api/v1/message",
        "/media/{key}",
    ):
        assert path in doc["paths"]
    assert doc["paths"]["/api/v1/chat/all"]["get"]["operationId"] == "chat-list_chats"


# --- text that is not valid Unicode ----------------------------------------------------------------------


async def test_invalid_unicode_anywhere_is_4xx_never_500(alice: Person, bob: Person, carol: Person) -> None:
    """Lone surrogates (JSON escapes) and invalid UTF-8 (URLs, form fields) in every text input."""
    chat_id = await group_chat(alice, bob, carol, name="Team")
    before = await chat_list(alice)
    json_headers = {"content-type": "application/json"}
    attempts = [
        ("GET", "/api/v1/chat/%ED%A0%80", None, 404),
        ("GET", "/api/v1/message/%ff%fe", None, 404),
        ("GET", f"/api/v1/message/{chat_id}?before=%ED%A0%80", None, 400),
        ("GET", "/api/v1/chat/all?cursor=%ED%A0%80", None, 400),
        ("GET", "/media/%ED%A0%80?exp=%ED%A0%80&sig=x", None, 403),
        ("POST", "/api/v1/chat/new", b'{"otherUserId": "\\ud800"}', 400),
        ("POST", "/api/v1/chat/group", b'{"name": "ok", "userIds": ["\\ud800", "\\udfff"]}', 400),
        ("POST", f"/api/v1/chat/{chat_id}/members", b'{"userIds": ["\\ud800"]}', 400),
        ("POST", f"/api/v1/chat/{chat_id}/rename", b'{"name": "\\ud800"}', 400),
        ("DELETE", f"/api/v1/chat/{chat_id}/members/%ED%A0%80", None, 404),
    ]
    for method, url, body, status in attempts:
        headers = json_headers if body else None
        response = await alice.client.request(method, url, content=body, headers=headers)
        assert response.status_code == status, (url, response.text)
        assert response.json()["message"]

    form = (
        b'------x\r\nContent-Disposition: form-data; name="chatId"\r\n\r\n' + chat_id.encode() + b"\r\n"
        b'------x\r\nContent-Disposition: form-data; name="text"\r\n\r\nhi\r\n'
        b'------x\r\nContent-Disposition: form-data; name="clientId"\r\n\r\n\xed\xa0\x80\r\n------x--\r\n'
    )
    sent = await alice.client.post(
        "/api/v1/message", content=form, headers={"content-type": "multipart/form-data; boundary=----x"}
    )
    assert sent.status_code == 400, sent.text
    assert await chat_list(alice) == before
