"""Whose address the caller may see, asked of the chat service (the user service reads no chat table).

The chat service answers with the people who share a chat with the caller in which they took part
(started it or sent something): putting someone into a chat reveals nothing of them. The answer
decides whose email address the caller may see in the directory. When the chat service
cannot answer, nobody counts as a contact: addresses stay hidden rather than leak.
"""

from __future__ import annotations

import httpx
import structlog

from parley.core.auth import Identity
from parley.core.http import service_client

log = structlog.get_logger(__name__)

CONTACTS_PATH = "/api/v1/chat/contacts"


class ChatContacts:
    """Asks the chat service (at ``CHAT_SERVICE``, or in this process) for the caller's contacts."""

    def __init__(self, base_url: str | None) -> None:
        # CHAT_SERVICE may list several instances (for the web service's proxy); any one answers.
        self.base_url = base_url.split(",")[0].strip() if base_url else None
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        # Made on first use: in ``parley up`` the chat service starts after this one.
        if self._client is None:
            self._client = service_client("chat", self.base_url)
        return self._client

    async def of(self, identity: Identity) -> set[str]:
        """The ids of those whose address the caller may see (empty when that cannot be known)."""
        try:
            response = await self._http().get(
                CONTACTS_PATH, headers={"Authorization": f"Bearer {identity.token}"}
            )
            response.raise_for_status()
            users = response.json()["users"]
        except (httpx.HTTPError, RuntimeError, ValueError, KeyError, TypeError) as exc:
            log.warning("user.contacts.unavailable", error=type(exc).__name__)
            return set()
        return {str(uid) for uid in users}

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
