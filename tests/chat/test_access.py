"""Who may do what: every chat endpoint × member, non-member, no token, revoked token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.chat.helpers import group_chat, send
from tests.fixtures.stack import Person, Stack


@dataclass
class Scene:
    """A group of alice (admin), bob, carol and a member who logged out; dave is outside, and a
    member alice removed. ``message`` is alice's."""

    stack: Stack
    chat_id: str
    alice: Person
    bob: Person
    carol: Person
    dave: Person
    revoked: Person
    removed: Person
    message: str


@pytest.fixture
async def scene(stack: Stack, alice: Person, bob: Person, carol: Person, dave: Person) -> Scene:
    revoked, removed = await stack.login(), await stack.login()
    chat_id = await group_chat(alice, bob, carol, revoked, removed)
    await send(bob, chat_id, "hello")
    message = await send(alice, chat_id, "from alice")
    logout = await revoked.client.post("/api/v1/logout")
    assert logout.status_code == 200, logout.text
    gone = await alice.client.delete(f"/api/v1/chat/{chat_id}/members/{removed.id}")
    assert gone.status_code == 200, gone.text
    return Scene(stack, chat_id, alice, bob, carol, dave, revoked, removed, message["_id"])


def fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, list):
        return [fill(v, names) for v in value]
    return value.format(**names) if isinstance(value, str) else value


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    member_status: int
    json: dict[str, Any] | None = None
    form: dict[str, str] | None = None

    async def call(self, client: httpx.AsyncClient, s: Scene) -> httpx.Response:
        names = {"chat": s.chat_id, "carol": s.carol.id, "dave": s.dave.id, "message": s.message}
        url = self.path.format(**names)
        json = {k: fill(v, names) for k, v in (self.json or {}).items()}
        form = {k: v.format(**names) for k, v in (self.form or {}).items()}
        if self.form is not None:
            return await client.request(self.method, url, data=form)
        if self.json is not None:
            return await client.request(self.method, url, json=json)
        return await client.request(self.method, url)


CHAT_ENDPOINTS = {
    "view": Endpoint("GET", "/api/v1/chat/{chat}", 200),
    "rename": Endpoint("POST", "/api/v1/chat/{chat}/rename", 200, json={"name": "Renamed"}),
    "add": Endpoint("POST", "/api/v1/chat/{chat}/members", 200, json={"userIds": ["{dave}"]}),
    "remove": Endpoint("DELETE", "/api/v1/chat/{chat}/members/{carol}", 200),
    "leave": Endpoint("POST", "/api/v1/chat/{chat}/leave", 200),
    "send": Endpoint("POST", "/api/v1/message", 201, form={"chatId": "{chat}", "text": "hi"}),
    "history": Endpoint("GET", "/api/v1/message/{chat}", 200),
    "send reply": Endpoint(
        "POST", "/api/v1/message", 201, json={"chatId": "{chat}", "text": "re", "replyTo": "{message}"}
    ),
    "edit": Endpoint("PATCH", "/api/v1/message/{message}", 200, json={"text": "changed"}),
    "delete message": Endpoint("DELETE", "/api/v1/message/{message}", 200),
    "react": Endpoint("PUT", "/api/v1/message/{message}/reactions/%F0%9F%91%8D", 200),
    "take reaction back": Endpoint("DELETE", "/api/v1/message/{message}/reactions/%F0%9F%91%8D", 200),
}
OTHER_ENDPOINTS = {
    "new": Endpoint("POST", "/api/v1/chat/new", 201, json={"otherUserId": "{dave}"}),
    "group": Endpoint(
        "POST", "/api/v1/chat/group", 201, json={"name": "G", "userIds": ["{carol}", "{dave}"]}
    ),
    "list": Endpoint("GET", "/api/v1/chat/all", 200),
    "list page": Endpoint("GET", "/api/v1/chat/all?limit=1&cursor=", 200),
    "contacts": Endpoint("GET", "/api/v1/chat/contacts", 200),
}


async def snapshot(s: Scene) -> tuple[Any, Any]:
    """What the chat looks like to a member who stays (to show a refused call changed nothing)."""
    messages = (await s.bob.client.get(f"/api/v1/message/{s.chat_id}")).json()
    view = (await s.bob.client.get(f"/api/v1/chat/{s.chat_id}")).json()
    return view, messages


def client_for(who: str, s: Scene) -> httpx.AsyncClient:
    if who == "member":
        return s.alice.client
    if who == "non-member":
        return s.dave.client
    if who == "removed member":
        return s.removed.client
    if who == "no token":
        return s.stack.client()
    return s.revoked.client  # a member whose token was revoked


@pytest.mark.parametrize("who", ["member", "non-member", "removed member", "no token", "revoked token"])
@pytest.mark.parametrize("name", sorted(CHAT_ENDPOINTS))
async def test_chat_endpoints_check_token_and_membership(scene: Scene, name: str, who: str) -> None:
    endpoint = CHAT_ENDPOINTS[name]
    before = await snapshot(scene)
    response = await endpoint.call(client_for(who, scene), scene)

    expected = {
        "member": endpoint.member_status,
        "non-member": 403,
        "removed member": 403,
        "no token": 401,
        "revoked token": 401,
    }[who]
    assert response.status_code == expected, response.text
    if who != "member":
        assert response.json()["message"]
        assert await snapshot(scene) == before


@pytest.mark.parametrize("who", ["member", "no token", "revoked token"])
@pytest.mark.parametrize("name", sorted(OTHER_ENDPOINTS))
async def test_other_endpoints_check_the_token(scene: Scene, name: str, who: str) -> None:
    endpoint = OTHER_ENDPOINTS[name]
    response = await endpoint.call(client_for(who, scene), scene)
    expected = {"member": endpoint.member_status, "no token": 401, "revoked token": 401}[who]
    assert response.status_code == expected, response.text


@pytest.mark.parametrize(
    "authorization",
    ["Bearer nope", "Bearer ", "Basic abc", "Bearer a.b.c", "bearer"],
)
async def test_malformed_tokens_are_401(scene: Scene, authorization: str) -> None:
    client = scene.stack.client()
    response = await client.get("/api/v1/chat/all", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.json()["message"]


@pytest.mark.parametrize("name", ["add", "remove"])
async def test_only_admins_add_and_remove_even_among_members(scene: Scene, name: str) -> None:
    before = await snapshot(scene)
    response = await CHAT_ENDPOINTS[name].call(scene.bob.client, scene)
    assert response.status_code == 403
    assert response.json()["code"] == "not_an_admin"
    assert await snapshot(scene) == before
