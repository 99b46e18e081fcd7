"""The directory cannot be used to harvest addresses: an email shows only to contacts, or to an exact search."""

from __future__ import annotations

from typing import Any

from parley.core.auth import Identity
from parley.user.contacts import ChatContacts
from tests.chat.helpers import send
from tests.fixtures.stack import Person, Stack
from tests.user.test_routes import rename


async def directory(person: Person, **params: Any) -> dict[str, dict[str, Any]]:
    response = await person.client.get("/api/v1/user/all", params={"limit": 100, **params})
    assert response.status_code == 200, response.text
    return {user["_id"]: user for user in response.json()}


async def profile(person: Person, other: Person) -> dict[str, Any]:
    response = await person.client.get(f"/api/v1/user/{other.id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_strangers_address_is_hidden(stack: Stack, alice: Person, bob: Person) -> None:
    await rename(bob, f"Bob {bob.id}")
    found = await directory(alice, q=bob.id)
    assert set(found) == {bob.id}
    assert "email" not in found[bob.id]
    assert found[bob.id]["name"] == f"Bob {bob.id}"
    assert "email" not in await profile(alice, bob)
    # Nor does part of an address find anyone: it could be spelled out a letter at a time.
    await rename(bob, "Bob")
    assert bob.id not in await directory(alice, q=bob.email[:-3])
    assert bob.id not in await directory(alice, q=bob.email.split("@")[1])


async def test_an_exact_address_finds_its_owner_with_the_address(
    stack: Stack, alice: Person, bob: Person
) -> None:
    await rename(bob, "Bob")
    found = await directory(alice, q=f"  {bob.email.upper()} ")
    assert list(found) == [bob.id]
    assert found[bob.id]["email"] == bob.email


async def test_an_address_shows_to_contacts_once_its_owner_took_part(
    stack: Stack, alice: Person, bob: Person, carol: Person
) -> None:
    created = await alice.client.post("/api/v1/chat/new", json={"otherUserId": bob.id})
    assert created.status_code == 201, created.text
    await rename(bob, f"Bob {bob.id}")
    await rename(carol, f"Carol {bob.id}")

    # Alice started the chat: Bob sees her address. Bob has not answered: Alice does not see his.
    assert (await profile(bob, alice))["email"] == alice.email
    found = await directory(alice, q=bob.id)
    assert "email" not in found[bob.id]
    assert "email" not in await profile(alice, bob)

    await send(bob, created.json()["chatId"], "hi Alice")
    found = await directory(alice, q=bob.id)
    assert found[bob.id]["email"] == bob.email
    assert "email" not in found[carol.id]
    assert (await profile(alice, bob))["email"] == bob.email
    assert "email" not in await profile(carol, alice)
    # Your own address you always see.
    me = await alice.client.get(f"/api/v1/user/{alice.id}")
    assert me.json()["email"] == alice.email


async def test_the_chat_service_lists_those_whose_address_the_caller_may_see(
    stack: Stack, alice: Person, bob: Person, carol: Person
) -> None:
    response = await alice.client.post("/api/v1/chat/new", json={"otherUserId": bob.id})
    assert response.status_code == 201, response.text
    contacts = await alice.client.get("/api/v1/chat/contacts")
    assert contacts.status_code == 200
    assert contacts.json() == {"users": []}
    assert (await bob.client.get("/api/v1/chat/contacts")).json() == {"users": [alice.id]}
    await send(bob, response.json()["chatId"], "hello")
    assert (await alice.client.get("/api/v1/chat/contacts")).json() == {"users": [bob.id]}
    assert (await carol.client.get("/api/v1/chat/contacts")).json() == {"users": []}
    assert (await stack.client().get("/api/v1/chat/contacts")).status_code == 401


async def test_without_the_chat_service_addresses_stay_hidden() -> None:
    contacts = ChatContacts("http://127.0.0.1:1")
    identity = Identity(id="a" * 24, name="A", email="a@example.com", jti="j", exp=0, token="t")
    try:
        assert await contacts.of(identity) == set()
    finally:
        await contacts.close()


async def batch(person: Person, *others: Person) -> dict[str, dict[str, Any]]:
    response = await person.client.post("/api/v1/user/batch", json={"ids": [o.id for o in others]})
    assert response.status_code == 200, response.text
    return {user["_id"]: user for user in response.json()["users"]}


async def test_a_strangers_address_cannot_be_had_from_the_batch(
    stack: Stack, alice: Person, bob: Person, carol: Person
) -> None:
    # Ids are easy to come by (the directory lists everyone): the batch must not turn them into addresses.
    found = await batch(alice, alice, bob, carol)
    assert found[alice.id]["email"] == alice.email
    assert "email" not in found[bob.id]
    assert "email" not in found[carol.id]
    assert found[bob.id]["name"] == bob.name

    created = await alice.client.post("/api/v1/chat/new", json={"otherUserId": bob.id})
    assert created.status_code == 201, created.text
    assert "email" not in (await batch(alice, bob))[bob.id]  # opening a chat is not enough
    await send(bob, created.json()["chatId"], "hello")
    found = await batch(alice, bob, carol)
    assert found[bob.id]["email"] == bob.email
    assert "email" not in found[carol.id]
    assert "email" not in (await batch(carol, alice, bob))[alice.id]


async def test_a_group_of_strangers_yields_none_of_their_addresses(
    stack: Stack, alice: Person, bob: Person, carol: Person
) -> None:
    """Carol puts Alice and Bob into a group: she learns neither address, anywhere."""
    group = await carol.client.post("/api/v1/chat/group", json={"name": "G", "userIds": [alice.id, bob.id]})
    assert group.status_code == 201, group.text
    chat_id = group.json()["chatId"]
    direct = await carol.client.post("/api/v1/chat/new", json={"otherUserId": alice.id})
    assert direct.status_code == 201, direct.text

    async def addresses_carol_sees() -> set[str | None]:
        seen = {u.get("email") for u in (await directory(carol, q="")).values()}
        seen |= {u.get("email") for u in (await batch(carol, alice, bob)).values()}
        view = (await carol.client.get(f"/api/v1/chat/{chat_id}")).json()
        seen |= {m["email"] for m in view["members"]}
        chats = (await carol.client.get("/api/v1/chat/all")).json()["chats"]
        seen |= {c["user"]["email"] for c in chats if c["user"]}
        return seen

    assert alice.email not in await addresses_carol_sees()
    assert bob.email not in await addresses_carol_sees()
    # Carol started both chats: her address is no secret to the people she wrote to.
    assert (await profile(alice, carol))["email"] == carol.email
    # Members who never spoke see nothing of one another either.
    assert "email" not in await profile(alice, bob)

    # Alice answers in the group: from then on the group's members see her address (Bob still not).
    await send(alice, chat_id, "who is this?")
    view = (await carol.client.get(f"/api/v1/chat/{chat_id}")).json()
    members = {m["_id"]: m["email"] for m in view["members"]}
    assert members == {alice.id: alice.email, bob.id: "", carol.id: carol.email}
    assert (await profile(bob, alice))["email"] == alice.email
    assert bob.email not in await addresses_carol_sees()


async def test_the_chat_service_shows_the_addresses_of_members_who_took_part(
    stack: Stack, alice: Person, bob: Person, carol: Person
) -> None:
    # Starting a chat looks a stranger up (without their address): that look-up must not be
    # what the chat then shows of them, to this caller or to anyone.
    created = await alice.client.post("/api/v1/chat/new", json={"otherUserId": bob.id})
    assert created.status_code == 201, created.text
    chat_id = created.json()["chatId"]
    await send(bob, chat_id, "hello")
    chats = (await alice.client.get("/api/v1/chat/all")).json()["chats"]
    [entry] = [c for c in chats if c["chat"]["_id"] == chat_id]
    assert entry["user"]["_id"] == bob.id
    assert entry["user"]["name"] == bob.name
    assert entry["user"]["email"] == bob.email
    # The chat service keeps profiles (with their address) a while for everyone: still, Carol's
    # group shows Bob's address to nobody who has not had it from Bob.
    group = await carol.client.post("/api/v1/chat/group", json={"name": "G", "userIds": [alice.id, bob.id]})
    assert group.status_code == 201, group.text
    group_id = group.json()["chatId"]
    await send(alice, group_id, "hi all")
    view = (await carol.client.get(f"/api/v1/chat/{group_id}")).json()
    members = {m["_id"]: m for m in view["members"]}
    assert {uid: m["email"] for uid, m in members.items()} == {
        alice.id: alice.email,
        bob.id: "",
        carol.id: carol.email,
    }
