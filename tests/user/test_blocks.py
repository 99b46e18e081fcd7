"""Blocking people: ``POST``/``DELETE /user/{id}/block``, ``GET /user/blocked``, and how the chat
service learns who blocked whom (``POST /user/block-relations``, through its ``UserDirectory``)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from redis.asyncio import Redis

from parley.chat.errors import UserServiceUnavailable
from parley.chat.users import BlockRelations, UserDirectory
from parley.core.ids import new_id
from parley.user import service
from tests.fixtures.stack import Person, Stack, unique_email
from tests.user.helpers import block, blocked_ids, relations


async def test_blocking_and_unblocking(alice: Person, bob: Person, carol: Person) -> None:
    assert await blocked_ids(alice) == []
    await block(alice, bob.id)
    await block(alice, carol.id)
    assert sorted(await blocked_ids(alice)) == sorted([bob.id, carol.id])
    # Blocking someone again changes nothing.
    await block(alice, bob.id)
    assert sorted(await blocked_ids(alice)) == sorted([bob.id, carol.id])

    response = await alice.client.delete(f"/api/v1/user/{bob.id}/block")
    assert response.status_code == 200, response.text
    assert response.json()["message"]
    assert await blocked_ids(alice) == [carol.id]
    # Unblocking someone not blocked changes nothing either.
    again = await alice.client.delete(f"/api/v1/user/{bob.id}/block")
    assert again.status_code == 200
    assert await blocked_ids(alice) == [carol.id]
    # A block is one way: Bob and Carol have blocked nobody.
    assert await blocked_ids(bob) == []
    assert await blocked_ids(carol) == []


async def test_the_blocked_list_shows_profiles_without_strangers_addresses(
    alice: Person, bob: Person
) -> None:
    await block(alice, bob.id)
    response = await alice.client.get("/api/v1/user/blocked")
    assert response.status_code == 200
    assert response.json() == [{k: v for k, v in bob.user.items() if k != "email"}]


async def test_you_cannot_block_yourself(alice: Person) -> None:
    response = await alice.client.post(f"/api/v1/user/{alice.id}/block")
    assert response.status_code == 400
    assert response.json()["code"] == "block_yourself"
    assert response.json()["message"]
    assert await blocked_ids(alice) == []


@pytest.mark.parametrize(
    "user_id", ["nope", pytest.param(new_id(), id="unknown-id"), "0" * 24, "A" * 24, "x" * 500]
)
@pytest.mark.parametrize("method", ["POST", "DELETE"])
async def test_an_unknown_or_malformed_user_is_404(alice: Person, method: str, user_id: str) -> None:
    response = await alice.client.request(method, f"/api/v1/user/{user_id}/block")
    assert response.status_code == 404, response.text
    assert response.json()["code"] == "user_not_found"
    assert await blocked_ids(alice) == []


async def test_how_many_one_may_block_is_limited(
    stack: Stack, alice: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "MAX_BLOCKS", 2)
    others = [await stack.login(unique_email("blockee")) for _ in range(3)]
    await block(alice, others[0].id)
    await block(alice, others[1].id)
    refused = await alice.client.post(f"/api/v1/user/{others[2].id}/block")
    assert refused.status_code == 409
    assert refused.json()["code"] == "too_many_blocks"
    assert "at most 2" in refused.json()["message"]
    assert sorted(await blocked_ids(alice)) == sorted([others[0].id, others[1].id])
    # Blocking someone already blocked is still fine at the limit; unblocking makes room.
    await block(alice, others[1].id)
    assert (await alice.client.delete(f"/api/v1/user/{others[0].id}/block")).status_code == 200
    await block(alice, others[2].id)
    assert sorted(await blocked_ids(alice)) == sorted([others[1].id, others[2].id])


async def test_blocks_at_once_stay_within_the_limit(
    stack: Stack, alice: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "MAX_BLOCKS", 2)
    others = [await stack.login(unique_email("blockee")) for _ in range(4)]
    answers = await asyncio.gather(*(alice.client.post(f"/api/v1/user/{o.id}/block") for o in others))
    assert sorted(a.status_code for a in answers) == [200, 200, 409, 409]
    assert len(await blocked_ids(alice)) == 2


async def test_the_blocked_list_is_paged(stack: Stack, alice: Person) -> None:
    others = [await stack.login(unique_email("blockee")) for _ in range(5)]
    for other in others:
        await block(alice, other.id)
    first = await alice.client.get("/api/v1/user/blocked", params={"limit": 2})
    assert first.status_code == 200
    assert len(first.json()) == 2
    assert first.headers["X-Next-Cursor"]
    everyone = await blocked_ids(alice, limit=2)
    assert sorted(everyone) == sorted(o.id for o in others)
    assert len(everyone) == len(set(everyone))


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 101}, {"limit": "many"}, {"cursor": "not-a-cursor"}, {"cursor": "x" * 1001}],
)
async def test_the_blocked_list_refuses_bad_parameters(alice: Person, params: dict[str, object]) -> None:
    response = await alice.client.get("/api/v1/user/blocked", params=params)
    assert response.status_code in (400, 422), response.text
    assert response.json()["message"]


async def test_relations_tell_each_side_only_about_themselves(
    alice: Person, bob: Person, carol: Person
) -> None:
    await block(alice, bob.id)
    await block(carol, alice.id)
    ids = [bob.id, carol.id, "junk", new_id(), alice.id]
    assert await relations(alice, ids) == {"blocking": [bob.id], "blockedBy": [carol.id]}
    assert await relations(bob, ids) == {"blocking": [], "blockedBy": [alice.id]}
    # Carol asking about Alice and Bob learns nothing about what Alice did to Bob.
    assert await relations(carol, ids) == {"blocking": [alice.id], "blockedBy": []}
    assert await relations(alice, []) == {"blocking": [], "blockedBy": []}


@pytest.mark.parametrize("body", [{"ids": [new_id() for _ in range(501)]}, {"ids": "x"}, {}, {"ids": [1, 2]}])
async def test_relations_refuse_bad_input(alice: Person, body: dict[str, object]) -> None:
    response = await alice.client.post("/api/v1/user/block-relations", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["message"]


async def test_the_chat_service_learns_blocks_from_the_user_service(
    stack: Stack, alice: Person, bob: Person, carol: Person
) -> None:
    directory: UserDirectory = stack.apps["chat"].state.users
    assert not await directory.blocked_between(bob.id, alice.token)
    await block(alice, bob.id)
    # Either way round, at once (blocks are never cached).
    assert await directory.blocked_between(bob.id, alice.token)
    assert await directory.blocked_between(alice.id, bob.token)
    assert not await directory.blocked_between(carol.id, alice.token)
    found = await directory.block_relations([bob.id, carol.id], alice.token)
    assert found == BlockRelations(blocking=frozenset({bob.id}), blocked_by=frozenset())
    assert (await directory.block_relations([alice.id], bob.token)).blocked_by == {alice.id}
    assert await directory.block_relations([], alice.token) == BlockRelations()

    assert (await alice.client.delete(f"/api/v1/user/{bob.id}/block")).status_code == 200
    assert not await directory.blocked_between(alice.id, bob.token)


async def test_without_the_user_service_block_relations_are_unavailable(stack: Stack, alice: Person) -> None:
    async with httpx.AsyncClient(base_url="http://127.0.0.1:1") as client:
        directory = UserDirectory(client, Redis.from_url("redis://127.0.0.1:1"))
        with pytest.raises(UserServiceUnavailable):
            await directory.blocked_between(new_id(), alice.token)
