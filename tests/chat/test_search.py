"""Search: what it finds (accents, parts of words, typos), in which order, and for whom."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from parley.chat import search, store
from parley.chat.store import Message
from tests.chat.helpers import direct_chat, group_chat, send
from tests.fixtures.stack import Person, Stack


async def found(person: Person, q: str, **params: Any) -> list[str]:
    """The texts of what ``person`` finds for ``q`` (best first)."""
    response = await person.client.get("/api/v1/search", params={"q": q, **params})
    assert response.status_code == 200, response.text
    return [r["message"]["text"] for r in response.json()["results"]]


@pytest.fixture
async def talk(alice: Person, bob: Person) -> str:
    chat_id = await direct_chat(alice, bob)
    for text in ["Un café crème, s'il vous plaît", "hello there", "Othello is a play", "nothing to see"]:
        await send(alice, chat_id, text)
    return chat_id


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("cafe", ["Un café crème, s'il vous plaît"]),
        ("CAFÉ CREME", ["Un café crème, s'il vous plaît"]),
        ("Plait", ["Un café crème, s'il vous plaît"]),
        ("ello", ["Othello is a play", "hello there"]),  # inside words both: newest first
        ("hello", ["hello there", "Othello is a play"]),  # the whole word before the part of one
        ("hallo", ["hello there"]),  # one wrong letter
        ("helllo", ["hello there"]),  # one extra letter
        ("hexlo", ["hello there"]),  # a wrong middle letter: no three letters in a row are right
        ("heilo", ["hello there"]),
        ("plxit", ["Un café crème, s'il vous plaît"]),  # … also where the text has an accent
        ("crxme", ["Un café crème, s'il vous plaît"]),
        ("hexxo", []),  # two letters off in the middle
        ("ther", ["hello there"]),  # inside a word
        ("there hello", ["hello there"]),  # every word, in any order
        ("hallo nothing", []),
        ("hxllx", []),  # two letters off
        ("helo", []),  # a typo in a word of four letters is not forgiven (it is not a part of one)
        ("xyz", []),
    ],
)
async def test_what_a_query_finds(bob: Person, talk: str, query: str, expected: list[str]) -> None:
    assert await found(bob, query, chatId=talk) == expected


async def test_a_missing_letter_is_forgiven(alice: Person, bob: Person) -> None:
    chat_id = await direct_chat(alice, bob)
    await send(alice, chat_id, "see you at the station")
    assert await found(bob, "staton", chatId=chat_id) == ["see you at the station"]
    assert await found(bob, "stations", chatId=chat_id) == ["see you at the station"]


async def test_best_match_first_then_newest(alice: Person, bob: Person) -> None:
    chat_id = await direct_chat(alice, bob)
    for text in ["older meeting", "a meetings list", "the meting", "newer meeting"]:
        await send(alice, chat_id, text)
    # Whole words (newest first), then inside a word, then one letter off.
    assert await found(bob, "meeting", chatId=chat_id) == [
        "newer meeting",
        "older meeting",
        "a meetings list",
        "the meting",
    ]


async def test_pages_follow_the_cursor(alice: Person, bob: Person) -> None:
    chat_id = await direct_chat(alice, bob)
    texts = [f"page marker {i}" for i in range(5)]
    for text in texts:
        await send(alice, chat_id, text)
    seen: list[str] = []
    cursor = ""
    while True:
        response = await bob.client.get(
            "/api/v1/search", params={"q": "marker", "chatId": chat_id, "limit": 2, "cursor": cursor}
        )
        assert response.status_code == 200, response.text
        seen += [r["message"]["text"] for r in response.json()["results"]]
        cursor = response.headers.get("X-Next-Cursor", "")
        if not cursor:
            break
    assert seen == list(reversed(texts))


async def test_results_carry_the_message_and_its_chat(alice: Person, bob: Person, carol: Person) -> None:
    direct = await direct_chat(alice, bob)
    group = await group_chat(alice, bob, carol, name="Planning")
    await send(alice, direct, "quarterly numbers in private")
    await send(carol, group, "quarterly numbers for the team")
    response = await bob.client.get("/api/v1/search", params={"q": "quarterly"})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [(r["chat"], r["message"]["chatId"]) for r in results] == [
        ({"_id": group, "name": "Planning", "isGroup": True}, group),
        ({"_id": direct, "name": None, "isGroup": False}, direct),
    ]
    assert set(results[0]["message"]) >= {"_id", "sender", "text", "createdAt", "seen"}
    # Within one chat only.
    assert await found(bob, "quarterly", chatId=direct) == ["quarterly numbers in private"]


async def test_only_chats_the_caller_is_in_now(
    alice: Person, bob: Person, carol: Person, dave: Person
) -> None:
    group = await group_chat(alice, bob, carol, name="Secret plans")
    await send(alice, group, "the zanzibar surprise")
    assert await found(carol, "zanzibar") == ["the zanzibar surprise"]
    assert await found(dave, "zanzibar") == []

    left = await carol.client.post(f"/api/v1/chat/{group}/leave")
    assert left.status_code == 200
    assert await found(carol, "zanzibar") == []
    removed = await alice.client.delete(f"/api/v1/chat/{group}/members/{bob.id}")
    assert removed.status_code == 200
    assert await found(bob, "zanzibar") == []
    assert await found(alice, "zanzibar") == ["the zanzibar surprise"]

    # Naming the chat does not help either.
    response = await carol.client.get("/api/v1/search", params={"q": "zanzibar", "chatId": group})
    assert response.status_code == 403
    assert response.json()["code"] == "not_a_member"


async def test_short_words_and_like_characters(alice: Person, bob: Person) -> None:
    chat_id = await direct_chat(alice, bob)
    await send(alice, chat_id, "ok 100% sure_thing")
    await send(alice, chat_id, "okay 1000 surely")
    assert await found(bob, "ok", chatId=chat_id) == ["ok 100% sure_thing", "okay 1000 surely"]
    assert await found(bob, "0%", chatId=chat_id) == ["ok 100% sure_thing"]
    assert await found(bob, "e_t", chatId=chat_id) == ["ok 100% sure_thing"]
    assert await found(bob, '"sure', chatId=chat_id) == []


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"q": ""}, 400),
        ({"q": "   "}, 400),
        ({"q": "x" * 201}, 400),
        ({"q": "a\x00b"}, 400),
        ({"q": "a b c d e f g h i"}, 400),
        ({"q": "hi", "limit": 0}, 422),
        ({"q": "hi", "limit": 51}, 422),
        ({"q": "hi", "cursor": "not-a-cursor"}, 400),
        ({"q": "hi", "cursor": "WzEsMiwiMyJd"}, 400),
        ({"q": "hi", "chatId": "nope"}, 404),
        ({}, 422),
    ],
)
async def test_bad_searches_are_refused(alice: Person, params: dict[str, Any], status: int) -> None:
    response = await alice.client.get("/api/v1/search", params=params)
    assert response.status_code == status, response.text
    assert response.json()["message"]


async def test_a_query_of_200_characters_is_fine(alice: Person) -> None:
    response = await alice.client.get("/api/v1/search", params={"q": "y" * 200})
    assert response.status_code == 200
    assert response.json() == {"results": []}


# --- the index follows edits, deletions and system messages (store level) -------------------------------


async def test_edited_messages_are_found_by_their_new_text_and_deleted_ones_never(
    stack: Stack, alice: Person, bob: Person
) -> None:
    chat_id = await direct_chat(alice, bob)
    edited = await send(alice, chat_id, "the original wording")
    gone = await send(alice, chat_id, "the wording to delete")
    db = stack.apps["chat"].state.db
    async with db.session() as session:
        seqs = {m.id: m.seq for m in (await store.history_page(session, chat_id, before_seq=None, limit=10))}
        await session.execute(
            update(Message).where(Message.id == edited["_id"]).values(text="a revised text")
        )
        await store.reindex_message(session, seqs[edited["_id"]], "a revised text")
        await session.execute(update(Message).where(Message.id == gone["_id"]).values(text=""))
        await store.unindex_message(session, seqs[gone["_id"]])

    assert await found(bob, "wording", chatId=chat_id) == []
    assert await found(bob, "original", chatId=chat_id) == []
    assert await found(bob, "revised", chatId=chat_id) == ["a revised text"]
    assert await found(bob, "revsed", chatId=chat_id) == ["a revised text"]


async def test_system_messages_are_never_found(stack: Stack, alice: Person, bob: Person) -> None:
    chat_id = await direct_chat(alice, bob)
    await send(alice, chat_id, "a normal announcement")
    db = stack.apps["chat"].state.db
    async with db.session() as session:
        last = (await store.history_page(session, chat_id, before_seq=None, limit=1))[0]
        await session.execute(update(Message).where(Message.seq == last.seq).values(message_type="system"))
    assert await found(bob, "announcement", chatId=chat_id) == []


# --- the rules themselves ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "close"),
    [
        ("hello", "hello", True),
        ("hallo", "hello", True),
        ("helllo", "hello", True),
        ("hell", "hello", True),
        ("hlelo", "hello", False),
        ("hxllx", "hello", False),
        ("hello", "hello!!", False),
    ],
)
def test_one_edit_apart(a: str, b: str, close: bool) -> None:
    assert search.one_edit_apart(a, b) is close
    assert search.one_edit_apart(b, a) is close


def test_fold_removes_case_and_accents() -> None:
    assert search.fold("Ça Crème ÉTÉ naïve Ångström") == "ca creme ete naive angstrom"


async def test_edits_and_deletions_through_the_api(alice: Person, bob: Person, carol: Person) -> None:
    chat_id = await group_chat(alice, bob, carol, name="Editors")
    edited = await send(alice, chat_id, "meet at the harbour")
    deleted = await send(bob, chat_id, "the harbour code is 1234")
    response = await alice.client.patch(
        f"/api/v1/message/{edited['_id']}", json={"text": "meet at the station"}
    )
    assert response.status_code == 200, response.text
    response = await bob.client.delete(f"/api/v1/message/{deleted['_id']}")
    assert response.status_code == 200, response.text

    assert await found(carol, "harbour", chatId=chat_id) == []
    assert await found(carol, "1234", chatId=chat_id) == []
    assert await found(carol, "station", chatId=chat_id) == ["meet at the station"]
    # The group's own system messages ("created") are never results, whatever is searched.
    assert await found(carol, "e", chatId=chat_id) == ["meet at the station"]


def test_a_five_letter_word_is_also_looked_for_with_other_middle_letters() -> None:
    assert search.needs_middle_variants("hexlo")
    assert not search.needs_middle_variants("hexlos")  # a typo leaves a six-letter word a trigram
    assert search.middle_variants("hexlo", ["l", "x", "a", "l"]) == ["hello", "healo"]
    query = search.fts_query(["hexlo"], {"hexlo": ["l"]})
    assert query == '("hexlo" OR "hex" OR "exl" OR "xlo" OR "hello")'
