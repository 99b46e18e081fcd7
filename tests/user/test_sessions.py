"""Sessions: one per login, listed and signed out one by one or all at once; logouts that last."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from parley.user.service import SessionTouches
from parley.user.store import LoginSession, get_session
from tests.fixtures.stack import Person, Stack, start_stack, unique_email
from tests.user.test_routes import forget_cooldown

SESSION_KEYS = {"_id", "createdAt", "lastUsedAt", "userAgent", "current"}


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


async def second_login(stack: Stack, person: Person) -> Person:
    """The same person signed in on another device."""
    await forget_cooldown(stack, person.email)
    other = await stack.login(person.email)
    assert other.id == person.id
    return other


async def sessions(person: Person) -> list[dict[str, Any]]:
    response = await person.client.get("/api/v1/sessions")
    assert response.status_code == 200, response.text
    body: list[dict[str, Any]] = response.json()
    return body


async def refused_everywhere(stack: Stack, token: str) -> None:
    client = stack.client(token=token)
    assert (await client.get("/api/v1/me")).status_code == 401
    assert (await client.get("/api/v1/chat/all")).status_code == 401


async def accepted_everywhere(stack: Stack, token: str) -> None:
    client = stack.client(token=token)
    assert (await client.get("/api/v1/me")).status_code == 200
    assert (await client.get("/api/v1/chat/all")).status_code == 200


async def test_each_login_is_a_session_of_its_own(stack: Stack) -> None:
    email = unique_email("devices")
    client = stack.client()
    seen = len(await stack.mails_to(email))
    await client.post("/api/v1/login", json={"email": email})
    otp = await stack.otp_for(email, seen=seen)
    verified = await client.post(
        "/api/v1/verify", json={"email": email, "otp": otp}, headers={"User-Agent": "Laptop/2.0"}
    )
    laptop = Person(
        verified.json()["token"], verified.json()["user"], stack.client(token=verified.json()["token"])
    )
    phone = await second_login(stack, laptop)
    assert claims_of(laptop.token)["sid"] != claims_of(phone.token)["sid"]

    listed = await sessions(laptop)
    assert len(listed) == 2
    assert all(set(item) == SESSION_KEYS for item in listed)
    mine = {item["_id"]: item for item in listed}
    assert mine[claims_of(laptop.token)["sid"]]["current"] is True
    assert mine[claims_of(laptop.token)["sid"]]["userAgent"] == "Laptop/2.0"
    assert mine[claims_of(phone.token)["sid"]]["current"] is False
    # Another user sees none of them.
    assert await sessions(await stack.login()) != listed


async def test_last_used_is_recorded(stack: Stack, alice: Person) -> None:
    created = (await sessions(alice))[0]
    touches: SessionTouches = stack.apps["user"].state.session_touches
    stack.apps["user"].state.session_touches = SessionTouches(every_seconds=0)
    try:
        assert (await alice.client.get("/api/v1/me")).status_code == 200
    finally:
        stack.apps["user"].state.session_touches = touches
    used = (await sessions(alice))[0]
    assert used["lastUsedAt"] > created["lastUsedAt"]
    assert used["createdAt"] == created["createdAt"]


async def test_signing_one_session_out(stack: Stack, alice: Person) -> None:
    phone = await second_login(stack, alice)
    phone_session = claims_of(phone.token)["sid"]
    response = await alice.client.delete(f"/api/v1/sessions/{phone_session}")
    assert response.status_code == 200, response.text
    assert response.json()["message"]

    await refused_everywhere(stack, phone.token)
    await accepted_everywhere(stack, alice.token)
    assert [item["_id"] for item in await sessions(alice)] == [claims_of(alice.token)["sid"]]
    # Once ended, it is gone.
    assert (await alice.client.delete(f"/api/v1/sessions/{phone_session}")).status_code == 404


async def test_another_users_session_is_not_found_and_stays(stack: Stack, alice: Person, bob: Person) -> None:
    bob_session = claims_of(bob.token)["sid"]
    response = await alice.client.delete(f"/api/v1/sessions/{bob_session}")
    assert response.status_code == 404
    assert response.json()["code"] == "session_not_found"
    await accepted_everywhere(stack, bob.token)
    for wrong in ("not-an-id", "0" * 24, "x" * 300):
        assert (await alice.client.delete(f"/api/v1/sessions/{wrong}")).status_code == 404


async def test_session_endpoints_need_a_live_token(stack: Stack, alice: Person) -> None:
    anonymous = stack.client()
    sid = claims_of(alice.token)["sid"]
    assert (await anonymous.get("/api/v1/sessions")).status_code == 401
    assert (await anonymous.delete(f"/api/v1/sessions/{sid}")).status_code == 401
    assert (await anonymous.post("/api/v1/logout/all")).status_code == 401
    await alice.client.post("/api/v1/logout")
    assert (await alice.client.get("/api/v1/sessions")).status_code == 401
    assert (await alice.client.post("/api/v1/logout/all")).status_code == 401


async def test_logout_all_ends_every_session(stack: Stack, alice: Person, bob: Person) -> None:
    phone = await second_login(stack, alice)
    response = await alice.client.post("/api/v1/logout/all")
    assert response.status_code == 200, response.text
    await refused_everywhere(stack, alice.token)
    await refused_everywhere(stack, phone.token)
    await accepted_everywhere(stack, bob.token)
    # A new login afterwards works, and is the only session.
    await forget_cooldown(stack, alice.email)
    again = await stack.login(alice.email)
    assert [item["current"] for item in await sessions(again)] == [True]


async def test_logout_ends_the_session(stack: Stack, alice: Person) -> None:
    phone = await second_login(stack, alice)
    assert (await phone.client.post("/api/v1/logout")).status_code == 200
    await refused_everywhere(stack, phone.token)
    assert [item["_id"] for item in await sessions(alice)] == [claims_of(alice.token)["sid"]]


async def test_a_rename_replaces_the_token_in_the_same_session(stack: Stack, alice: Person) -> None:
    old = alice.token
    response = await alice.client.post("/api/v1/update/user", json={"name": "Alice Renamed"})
    assert response.status_code == 200
    new = response.json()["token"]
    assert claims_of(new)["sid"] == claims_of(old)["sid"]
    await refused_everywhere(stack, old)
    await accepted_everywhere(stack, new)
    assert len(await sessions(Person(new, alice.user, stack.client(token=new)))) == 1
    # A second rename replaces the second token too.
    again = await stack.client(token=new).post("/api/v1/update/user", json={"name": "Alice Again"})
    assert again.status_code == 200
    await refused_everywhere(stack, new)
    await accepted_everywhere(stack, again.json()["token"])


async def test_logouts_and_renames_survive_a_restart_with_an_empty_cache(stack: Stack) -> None:
    """As ``parley up`` restarting: the same databases, a cache that starts empty."""
    logged_out, renamed, kept = await stack.login(), await stack.login(), await stack.login()
    ended_elsewhere = await second_login(stack, kept)
    assert (await logged_out.client.post("/api/v1/logout")).status_code == 200
    replaced = renamed.token
    assert (await renamed.client.post("/api/v1/update/user", json={"name": "Renamed"})).status_code == 200
    sid = claims_of(ended_elsewhere.token)["sid"]
    assert (await kept.client.delete(f"/api/v1/sessions/{sid}")).status_code == 200

    restarted, manager = await start_stack(stack.backend, redis_url=f"memory://restart-{unique_email()}")
    try:
        for token in (logged_out.token, replaced, ended_elsewhere.token):
            await refused_everywhere(restarted, token)
        await accepted_everywhere(restarted, kept.token)
    finally:
        await restarted.close()
        await manager.__aexit__(None, None, None)


# ---------------------------------------------------------------- revocations follow the commit


async def session_row(stack: Stack, token: str) -> LoginSession:
    """The token's session as another connection sees it: what is committed."""
    async with stack.apps["user"].state.db.session() as session:
        row = await get_session(session, claims_of(token)["sid"])
    assert row is not None
    return row


@pytest.mark.parametrize("change", ["logout", "logout-all", "end-session", "rename"])
async def test_a_revocation_is_announced_only_once_it_is_committed(
    stack: Stack, alice: Person, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    phone = await second_login(stack, alice)
    tokens = stack.apps["user"].state.tokens
    announce = tokens.revoke_sessions
    durable: list[bool] = []

    async def checked(revocations: list[Any]) -> None:
        row = await session_row(stack, phone.token)
        durable.append(row.revoked_at is not None or row.generation > 0)
        await announce(revocations)

    monkeypatch.setattr(tokens, "revoke_sessions", checked)
    if change == "logout":
        response = await phone.client.post("/api/v1/logout")
    elif change == "logout-all":
        response = await phone.client.post("/api/v1/logout/all")
    elif change == "end-session":
        response = await alice.client.delete(f"/api/v1/sessions/{claims_of(phone.token)['sid']}")
    else:
        response = await phone.client.post("/api/v1/update/user", json={"name": "Phone"})
    assert response.status_code == 200, response.text
    assert durable == [True]
    await refused_everywhere(stack, phone.token)


@pytest.mark.parametrize("change", ["logout", "rename"])
async def test_a_change_whose_commit_fails_revokes_nothing(
    stack: Stack, alice: Person, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    failed: list[bool] = []
    commit = AsyncSession.commit

    async def failing_once(self: AsyncSession) -> None:
        if not failed and self.bind is stack.apps["user"].state.db.engine:
            failed.append(True)
            raise OperationalError("COMMIT", {}, ConnectionError("the database went away"))
        await commit(self)

    monkeypatch.setattr(AsyncSession, "commit", failing_once)
    if change == "logout":
        response = await alice.client.post("/api/v1/logout")
    else:
        response = await alice.client.post("/api/v1/update/user", json={"name": "Not Renamed"})
    assert failed == [True]
    assert response.status_code == 503, response.text
    monkeypatch.undo()
    await accepted_everywhere(stack, alice.token)
    row = await session_row(stack, alice.token)
    assert (row.revoked_at, row.generation) == (None, 0)
