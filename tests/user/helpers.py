"""Small helpers for the user service's API tests: settings and blocks as a client uses them."""

from __future__ import annotations

from typing import Any

from tests.fixtures.stack import Person


async def settings_of(person: Person) -> dict[str, Any]:
    response = await person.client.get("/api/v1/me/settings")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def change_settings(person: Person, **changes: Any) -> dict[str, Any]:
    response = await person.client.patch("/api/v1/me/settings", json=changes)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def block(person: Person, other_id: str) -> None:
    response = await person.client.post(f"/api/v1/user/{other_id}/block")
    assert response.status_code == 200, response.text


async def blocked_ids(person: Person, **params: Any) -> list[str]:
    """Everyone ``person`` blocked, following every page."""
    ids: list[str] = []
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await person.client.get("/api/v1/user/blocked", params=query)
        assert response.status_code == 200, response.text
        ids.extend(user["_id"] for user in response.json())
        cursor = response.headers.get("X-Next-Cursor")
        if not cursor:
            return ids


async def relations(person: Person, ids: list[str]) -> dict[str, list[str]]:
    response = await person.client.post("/api/v1/user/block-relations", json={"ids": ids})
    assert response.status_code == 200, response.text
    body: dict[str, list[str]] = response.json()
    return body
