"""Who may do what with settings, blocks and avatars: every such endpoint × the user, another user, no
token, a revoked token. Refused calls change nothing, and nobody reads or changes another user's data
(everyone signed in may see anyone's avatar)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.fixtures.stack import Person, Stack
from tests.user.helpers import block, blocked_ids, change_settings, relations, settings_of
from tests.user.test_avatars import picture


@dataclass
class Scene:
    """Alice turned read receipts off, blocked Dave and has an avatar; Bob is someone else; ``revoked``
    logged out."""

    stack: Stack
    alice: Person
    bob: Person
    dave: Person
    revoked: Person


@pytest.fixture
async def scene(stack: Stack, alice: Person, bob: Person) -> Scene:
    dave = await stack.login()
    revoked = await stack.login()
    await change_settings(alice, readReceipts=False)
    await block(alice, dave.id)
    avatar = await alice.client.post(
        "/api/v1/user/avatar", files={"image": ("a.jpg", picture(), "image/jpeg")}
    )
    assert avatar.status_code == 200, avatar.text
    logout = await revoked.client.post("/api/v1/logout")
    assert logout.status_code == 200, logout.text
    return Scene(stack, alice, bob, dave, revoked)


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    status: int
    json: Any = None
    upload: bool = False

    async def call(self, client: httpx.AsyncClient, s: Scene) -> httpx.Response:
        url = self.path.format(dave=s.dave.id, bob=s.bob.id, alice=s.alice.id)
        if self.upload:
            return await client.request(
                self.method, url, files={"image": ("b.png", picture((200, 300), "PNG"), "image/png")}
            )
        if self.json is None:
            return await client.request(self.method, url)
        body = {
            k: [v.format(dave=s.dave.id) for v in vs] if isinstance(vs, list) else vs
            for k, vs in self.json.items()
        }
        return await client.request(self.method, url, json=body)


ENDPOINTS = {
    "settings": Endpoint("GET", "/api/v1/me/settings", 200),
    "change settings": Endpoint("PATCH", "/api/v1/me/settings", 200, json={"emailNotifications": False}),
    "block": Endpoint("POST", "/api/v1/user/{dave}/block", 200),
    "unblock": Endpoint("DELETE", "/api/v1/user/{dave}/block", 200),
    "blocked": Endpoint("GET", "/api/v1/user/blocked", 200),
    "relations": Endpoint("POST", "/api/v1/user/block-relations", 200, json={"ids": ["{dave}"]}),
    "batch": Endpoint("POST", "/api/v1/user/batch", 200, json={"ids": ["{dave}"]}),
    "upload avatar": Endpoint("POST", "/api/v1/user/avatar", 200, upload=True),
    "remove avatar": Endpoint("DELETE", "/api/v1/user/avatar", 200),
    "avatar": Endpoint("GET", "/api/v1/user/avatar/{alice}/64", 200),
}


async def alices_data(s: Scene) -> tuple[Any, ...]:
    """What Alice's settings and blocks look like (to show a call changed nothing of hers)."""
    me = await s.alice.client.get("/api/v1/me")
    avatar = me.json()["avatar"]
    return (
        avatar,
        (await s.alice.client.get(avatar["url"])).content,
        await settings_of(s.alice),
        await blocked_ids(s.alice),
        await relations(s.alice, [s.dave.id, s.bob.id]),
        await relations(s.dave, [s.alice.id]),
    )


def client_for(who: str, s: Scene) -> httpx.AsyncClient:
    return {
        "user": s.alice.client,
        "another user": s.bob.client,
        "no token": s.stack.client(),
        "revoked token": s.revoked.client,
    }[who]


@pytest.mark.parametrize("who", ["no token", "revoked token"])
@pytest.mark.parametrize("name", sorted(ENDPOINTS))
async def test_settings_and_blocks_need_a_live_token(scene: Scene, name: str, who: str) -> None:
    before = await alices_data(scene)
    response = await ENDPOINTS[name].call(client_for(who, scene), scene)
    assert response.status_code == 401, response.text
    assert response.json()["message"]
    assert await alices_data(scene) == before


@pytest.mark.parametrize("name", sorted(ENDPOINTS))
async def test_the_user_reaches_their_own(scene: Scene, name: str) -> None:
    response = await ENDPOINTS[name].call(client_for("user", scene), scene)
    assert response.status_code == ENDPOINTS[name].status, response.text


@pytest.mark.parametrize("name", sorted(ENDPOINTS))
async def test_another_user_reads_and_changes_only_their_own(scene: Scene, name: str) -> None:
    before = await alices_data(scene)
    response = await ENDPOINTS[name].call(client_for("another user", scene), scene)
    assert response.status_code == ENDPOINTS[name].status, response.text
    assert await alices_data(scene) == before
    if name == "avatar":  # Alice's own picture, for anyone signed in
        avatar = (await scene.alice.client.get("/api/v1/me")).json()["avatar"]
        assert response.content == (await scene.alice.client.get(avatar["thumbUrl"])).content
        return
    body = response.json()
    if name == "settings":
        assert body == {"emailNotifications": True, "readReceipts": True}
    if name == "blocked":
        assert body == []
    if name == "relations":
        assert body == {"blocking": [], "blockedBy": []}
    if name == "batch":
        assert "email" not in body["users"][0]
    if name == "upload avatar":
        assert body["user"]["_id"] == scene.bob.id
        assert body["user"]["avatar"]["url"].startswith(f"/api/v1/user/avatar/{scene.bob.id}/")
    if name == "remove avatar":
        assert body["user"]["_id"] == scene.bob.id
