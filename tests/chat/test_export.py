"""Exporting a chat: JSON and a self-contained HTML page, streamed page by page, a few a minute."""

from __future__ import annotations

import json
from typing import Any

import pytest

from parley.chat import export
from tests.chat.helpers import direct_chat, group_chat, photo_with_gps, send
from tests.fixtures.stack import Person, Stack


async def download(person: Person, chat_id: str, fmt: str) -> Any:
    return await person.client.get(f"/api/v1/chat/{chat_id}/export", params={"format": fmt})


async def image_message(person: Person, chat_id: str) -> dict[str, Any]:
    response = await person.client.post(
        "/api/v1/message",
        data={"chatId": chat_id, "text": "look"},
        files={"image": ("photo.jpg", photo_with_gps((200, 100)), "image/jpeg")},
    )
    assert response.status_code == 201, response.text
    message: dict[str, Any] = response.json()["message"]
    return message


async def test_json_holds_the_chat_its_members_and_every_message_in_order(
    alice: Person, bob: Person, carol: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export, "PAGE", 3)  # read in pages of three: eight messages take three
    chat_id = await group_chat(alice, bob, carol, name="Trip")
    texts = [f"message {i}" for i in range(6)]
    for i, text in enumerate(texts):
        await send([alice, bob, carol][i % 3], chat_id, text)
    photo = await image_message(bob, chat_id)

    response = await download(alice, chat_id, "json")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-disposition"] == f'attachment; filename="parley-chat-{chat_id}.json"'
    body = response.json()
    assert set(body) == {"chat", "members", "messages"}
    assert body["chat"]["_id"] == chat_id
    assert body["chat"]["name"] == "Trip"
    assert {m["_id"]: m["name"] for m in body["members"]} == {p.id: p.name for p in (alice, bob, carol)}
    assert body["messages"][0]["system"]["action"] == "created"
    assert [m["text"] for m in body["messages"][1:]] == [*texts, "look"]
    assert body["messages"][-1]["_id"] == photo["_id"]
    assert body["messages"][-1]["image"]["url"].startswith("http://testserver/media/")


async def test_json_of_a_chat_without_messages(alice: Person, bob: Person) -> None:
    chat_id = await direct_chat(alice, bob)
    response = await download(bob, chat_id, "json")
    assert response.status_code == 200
    assert json.loads(response.content)["messages"] == []


async def test_html_is_escaped_self_contained_and_without_scripts(alice: Person, bob: Person) -> None:
    chat_id = await direct_chat(alice, bob)
    await send(alice, chat_id, '<script>alert("x")</script> & <img src=x onerror=alert(1)>')
    await send(bob, chat_id, "line one\nline two")
    await image_message(bob, chat_id)

    response = await download(alice, chat_id, "html")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-disposition"] == f'attachment; filename="parley-chat-{chat_id}.html"'
    assert "default-src 'none'" in response.headers["content-security-policy"]
    page = response.text
    assert page.startswith("<!doctype html>")
    assert "<script" not in page.lower()
    assert "<img" not in page.lower()
    assert (
        "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(1)&gt;" in page
    )
    assert "line one\nline two" in page
    assert f"Chat with {bob.name}" in page
    assert '<a href="http://testserver/media/' in page
    assert "Image (200×100)" in page
    assert alice.name in page
    assert alice.email not in page


async def test_exports_are_limited_per_user(stack: Stack, alice: Person, bob: Person) -> None:
    chat_id = await direct_chat(alice, bob)
    for _ in range(stack.settings.limits.export_rate_per_minute):
        assert (await download(alice, chat_id, "json")).status_code == 200
    refused = await download(alice, chat_id, "html")
    assert refused.status_code == 429
    assert refused.json()["code"] == "too_many_exports"
    assert int(refused.headers["retry-after"]) >= 1
    # Another person's exports are counted apart.
    assert (await download(bob, chat_id, "json")).status_code == 200


@pytest.mark.parametrize("fmt", ["xml", "", "JSON"])
async def test_unknown_formats_are_refused(alice: Person, bob: Person, fmt: str) -> None:
    chat_id = await direct_chat(alice, bob)
    response = await download(alice, chat_id, fmt)
    assert response.status_code == 422
    assert response.json()["message"]


async def test_html_tells_group_changes_replies_reactions_and_deletions(
    alice: Person, bob: Person, carol: Person
) -> None:
    chat_id = await group_chat(alice, bob, carol, name="Club <b>")
    first = await send(alice, chat_id, "who brings <snacks>?")
    reply = await bob.client.post(
        "/api/v1/message", json={"chatId": chat_id, "text": "me", "replyTo": first["_id"]}
    )
    assert reply.status_code == 201, reply.text
    assert (
        await carol.client.put(f"/api/v1/message/{first['_id']}/reactions/%F0%9F%91%8D")
    ).status_code == 200
    gone = await send(carol, chat_id, "a secret")
    assert (await carol.client.delete(f"/api/v1/message/{gone['_id']}")).status_code == 200

    page = (await download(bob, chat_id, "html")).text
    assert "<title>Club &lt;b&gt;</title>" in page
    assert f"{alice.name} created the group Club &lt;b&gt;" in page
    assert "<blockquote>who brings &lt;snacks&gt;?</blockquote>" in page
    assert "👍 1" in page
    assert "This message was deleted." in page
    assert "a secret" not in page
