"""``/me/settings``: email notifications and read receipts, on by default, changed one at a time."""

from __future__ import annotations

from typing import Any

import pytest

from parley.chat.users import sends_read_receipts
from tests.fixtures.stack import Person, Stack
from tests.user.helpers import change_settings, settings_of

DEFAULTS = {"emailNotifications": True, "readReceipts": True}


async def test_both_settings_start_on(alice: Person) -> None:
    assert await settings_of(alice) == DEFAULTS


async def test_a_patch_changes_only_what_it_names(alice: Person, bob: Person) -> None:
    assert await change_settings(alice, readReceipts=False) == {
        "emailNotifications": True,
        "readReceipts": False,
    }
    assert await change_settings(alice, emailNotifications=False) == {
        "emailNotifications": False,
        "readReceipts": False,
    }
    assert await settings_of(alice) == {"emailNotifications": False, "readReceipts": False}
    # An empty patch is fine and changes nothing; the same value twice is fine too.
    assert await change_settings(alice) == {"emailNotifications": False, "readReceipts": False}
    assert await change_settings(alice, readReceipts=True, emailNotifications=True) == DEFAULTS
    assert await change_settings(alice, readReceipts=True) == DEFAULTS
    # Someone else's settings are their own.
    await change_settings(alice, readReceipts=False)
    assert await settings_of(bob) == DEFAULTS


@pytest.mark.parametrize(
    "body",
    [
        {"readReceipts": "false"},
        {"readReceipts": 0},
        {"emailNotifications": "yes"},
        {"emailNotifications": None},
        {"readReceipts": []},
        {"read_receipts": False},
        {"theme": "dark"},
        ["readReceipts"],
        "false",
        None,
    ],
)
async def test_bad_settings_are_refused_and_change_nothing(alice: Person, body: Any) -> None:
    await change_settings(alice, readReceipts=False)
    response = await alice.client.patch("/api/v1/me/settings", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["message"]
    assert response.json()["code"] == "invalid"
    assert await settings_of(alice) == {"emailNotifications": True, "readReceipts": False}


async def test_a_body_that_is_not_json_is_refused(alice: Person) -> None:
    response = await alice.client.patch(
        "/api/v1/me/settings", content=b"{readReceipts", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert await settings_of(alice) == DEFAULTS


async def test_profiles_for_the_chat_service_carry_the_read_receipts_setting(
    stack: Stack, alice: Person, bob: Person
) -> None:
    await change_settings(bob, readReceipts=False)
    response = await alice.client.post("/api/v1/user/batch", json={"ids": [alice.id, bob.id]})
    assert response.status_code == 200, response.text
    by_id = {user["_id"]: user for user in response.json()["users"]}
    assert by_id[alice.id]["readReceipts"] is True
    assert by_id[bob.id]["readReceipts"] is False
    # The chat service reads it through its directory (fresh profiles: nobody cached them yet).
    profiles = await stack.apps["chat"].state.users.profiles([alice.id, bob.id], alice.token)
    assert sends_read_receipts(profiles[alice.id])
    assert not sends_read_receipts(profiles[bob.id])
    # A profile that does not say keeps its person private.
    assert not sends_read_receipts({"_id": bob.id, "name": "Unknown User", "email": ""})


async def test_other_documents_stay_bare(alice: Person, bob: Person) -> None:
    await change_settings(alice, readReceipts=False)
    me = (await alice.client.get("/api/v1/me")).json()
    assert "readReceipts" not in me and "emailNotifications" not in me
    assert "readReceipts" not in (await bob.client.get(f"/api/v1/user/{alice.id}")).json()
