"""Which browser origins may call the API and open sockets: ``PUBLIC_URL`` and ``CORS_ORIGINS``,
in development too (tokens are not cookies, but a page elsewhere has no business here)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
import socketio

from tests.chat.realtime_helpers import Peer
from tests.fixtures.backends import Backend
from tests.fixtures.servers import start_server
from tests.fixtures.stack import Stack, start_stack

SEED = "https://seed.example.com"


@pytest.fixture
async def served(backend: Backend) -> AsyncIterator[tuple[Stack, str]]:
    """A development stack (``parley up``'s settings) listing the seed's frontend in CORS_ORIGINS."""
    # A mail queue of its own: the session's stack consumes the default one on the same broker.
    queue = f"send-otp-{secrets.token_hex(4)}"
    stack, manager = await start_stack(backend, env="dev", cors_origins=[SEED], mail_queue=queue)
    server, task, url = await start_server(stack.app, lifespan=False)
    try:
        yield stack, url
    finally:
        server.should_exit = True
        await task
        await stack.close()
        await manager.__aexit__(None, None, None)


async def connects(url: str, token: str, origin: str, transport: str) -> bool:
    peer = Peer(url)
    try:
        await peer.client.connect(
            url, auth={"token": token}, headers={"Origin": origin}, transports=[transport], wait_timeout=5
        )
    except socketio.exceptions.ConnectionError:
        return False
    finally:
        await peer.close()
    return True


@pytest.mark.parametrize("transport", ["polling", "websocket"])
async def test_sockets_open_only_from_listed_origins(served: tuple[Stack, str], transport: str) -> None:
    stack, url = served
    alice = await stack.login()
    assert await connects(url, alice.token, "http://testserver", transport), "PUBLIC_URL"
    assert await connects(url, alice.token, SEED, transport), "CORS_ORIGINS"
    assert not await connects(url, alice.token, "https://elsewhere.example.com", transport)


async def test_the_api_grants_cors_to_listed_origins_only(served: tuple[Stack, str]) -> None:
    stack, _ = served
    client = stack.client()
    for path in ("/api/v1/login", "/api/v1/chat/all"):
        preflight = {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        }
        granted = await client.options(path, headers={"Origin": SEED, **preflight})
        assert granted.headers["access-control-allow-origin"] == SEED, path
        refused = await client.options(path, headers={"Origin": "https://elsewhere.example.com", **preflight})
        assert "access-control-allow-origin" not in refused.headers, path
