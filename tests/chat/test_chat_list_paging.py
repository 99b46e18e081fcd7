"""``GET /chat/all`` in pages: ``limit`` and ``cursor`` in, ``X-Next-Cursor`` out, newest activity first."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.chat.helpers import chat_list, group_chat, send
from tests.fixtures.stack import Person


async def page(person: Person, **params: str | int) -> tuple[list[dict[str, Any]], str | None]:
    response = await person.client.get("/api/v1/chat/all", params=params)
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"chats"}
    return response.json()["chats"], response.headers.get("X-Next-Cursor")


async def test_pages_follow_one_another_newest_activity_first(
    alice: Person, bob: Person, carol: Person
) -> None:
    chat_ids = [await group_chat(alice, bob, carol, name=f"G{i}") for i in range(5)]
    await send(bob, chat_ids[1], "moves G1 to the top")
    everything = [entry["chat"]["_id"] for entry in await chat_list(alice)]
    assert everything[0] == chat_ids[1]
    assert sorted(everything) == sorted(chat_ids)

    seen: list[str] = []
    cursor: str | None = None
    sizes = []
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        entries, cursor = await page(alice, **params)
        sizes.append(len(entries))
        seen += [entry["chat"]["_id"] for entry in entries]
        if cursor is None:
            break
    assert sizes == [2, 2, 1]
    assert seen == everything
    # Each entry is the same document as in the unpaged list.
    first, _ = await page(alice, limit=1)
    assert first == (await chat_list(alice))[:1]


async def test_at_most_50_chats_by_default(alice: Person, bob: Person, carol: Person) -> None:
    for i in range(51):
        await group_chat(alice, bob, carol, name=f"G{i}")
    entries, cursor = await page(alice)
    assert len(entries) == 50
    assert cursor is not None
    rest, last = await page(alice, cursor=cursor)
    assert len(rest) == 1
    assert last is None


async def test_someone_with_no_chats_gets_an_empty_page(alice: Person) -> None:
    assert await page(alice) == ([], None)


def fake(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor",
        "%%%",
        fake("[]"),
        fake('["2026-01-01T00:00:00+00:00"]'),
        fake('["yesterday", "6b132a2a3289901755f9dd7e"]'),
        fake('["2026-01-01T00:00:00", "6b132a2a3289901755f9dd7e"]'),  # no time zone
        fake('["2026-01-01T00:00:00+00:00", "../../etc"]'),
        fake('["2026-01-01T00:00:00+00:00", 5]'),
        fake("\udcff".encode("utf-8", "surrogatepass").decode("latin-1")),
    ],
)
async def test_cursors_we_did_not_make_are_400(alice: Person, cursor: str) -> None:
    response = await alice.client.get("/api/v1/chat/all", params={"cursor": cursor})
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_cursor"


@pytest.mark.parametrize("limit", ["0", "101", "-1", "many"])
async def test_limits_outside_1_to_100_are_422(alice: Person, limit: str) -> None:
    response = await alice.client.get("/api/v1/chat/all", params={"limit": limit})
    assert response.status_code == 422
    assert response.json()["message"]
