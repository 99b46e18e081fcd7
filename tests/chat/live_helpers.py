"""Real time through the real API: the whole app behind uvicorn, real HTTP and Socket.IO clients.

The session's stack (``tests.fixtures.stack``) already runs every service in this process; a
:class:`Served` puts the same app behind a uvicorn server on a free port of 127.0.0.1, so sockets
can connect to it. People log in through the stack (their own client address each, so the login
rate limits do not add up) and then talk to the server over HTTP, as a browser would.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from tests.chat.realtime_helpers import Peer
from tests.fixtures.servers import start_server
from tests.fixtures.stack import Person, Stack, unique_email


@dataclass
class Served:
    """An ASGI app behind its own uvicorn server."""

    server: uvicorn.Server
    task: asyncio.Task[None]
    url: str

    async def stop(self) -> None:
        self.server.should_exit = True
        await asyncio.wait_for(self.task, 30)


async def serve(app: Any, *, lifespan: bool) -> Served:
    """Serve ``app`` on a free port; with ``lifespan`` uvicorn starts and stops it, else it runs already."""
    return Served(*await start_server(app, lifespan=lifespan))


class Live:
    """One test's people, HTTP clients and sockets, all closed at its end."""

    def __init__(self, stack: Stack, served: Served) -> None:
        self.stack = stack
        self.served = served
        self._clients: list[httpx.AsyncClient] = []
        self._peers: list[Peer] = []
        self._servers: list[Served] = []

    async def add_server(self, app: Any, *, lifespan: bool) -> Served:
        """Another server for this test (stopped at its end, after its sockets are closed)."""
        running = await serve(app, lifespan=lifespan)
        self._servers.append(running)
        return running

    def http(self, token: str, served: Served | None = None) -> httpx.AsyncClient:
        """A client of ``served`` (by default the stack's server) that carries ``token``."""
        client = httpx.AsyncClient(
            base_url=(served or self.served).url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        self._clients.append(client)
        return client

    async def login(self, name: str) -> Person:
        """A new user, logged in; their ``client`` talks to the real server."""
        person = await self.stack.login(unique_email(name))
        return Person(token=person.token, user=person.user, client=self.http(person.token))

    async def people(self, *names: str) -> list[Person]:
        return list(await asyncio.gather(*(self.login(name) for name in names)))

    def on(self, person: Person, served: Served) -> Person:
        """The same person (same token) talking HTTP to another server."""
        return Person(token=person.token, user=person.user, client=self.http(person.token, served))

    def peer(self, served: Served | None = None) -> Peer:
        peer = Peer((served or self.served).url)
        self._peers.append(peer)
        return peer

    async def socket(self, person: Person, served: Served | None = None) -> Peer:
        """A connected socket of ``person``; its first ``getOnlineUser`` has arrived."""
        peer = await self.peer(served).connect(person.token)
        await peer.wait_for("getOnlineUser")
        return peer

    async def close(self) -> None:
        await asyncio.gather(*(peer.close() for peer in self._peers))
        await asyncio.gather(*(client.aclose() for client in self._clients))
        for running in self._servers:
            await running.stop()
        self._peers.clear()
        self._clients.clear()
        self._servers.clear()


async def full_history(person: Person, chat_id: str, page: int = 100) -> list[dict[str, Any]]:
    """Every message of the chat, oldest first, paging back through the API."""
    messages: list[dict[str, Any]] = []
    params: dict[str, str | int] = {"limit": page}
    while True:
        response = await person.client.get(f"/api/v1/message/{chat_id}", params=params)
        assert response.status_code == 200, response.text
        batch: list[dict[str, Any]] = response.json()["messages"]
        messages[:0] = batch
        if len(batch) < page:
            return messages
        params["before"] = batch[0]["_id"]
