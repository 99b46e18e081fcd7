"""Signed one-click unsubscribe links for notification emails (RFC 8058).

A link names a user and carries ``sig``, an HMAC-SHA256 of the user id under a key derived from
the service's token key: whoever has a link can turn off that one user's email notifications and
nothing else, and no link can be made for another user without the key. Links do not expire
(an old email's link keeps working), and using one twice changes nothing the second time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlencode

from parley.core.settings import Settings

PATH = "/api/v1/user/unsubscribe"
_PURPOSE = b"parley-unsubscribe-v1\x00"


class UnsubscribeLinks:
    """Makes and checks the signed links."""

    def __init__(self, key: bytes, public_url: str) -> None:
        self._key = hashlib.sha256(_PURPOSE + key).digest()
        self.public_url = public_url.rstrip("/")

    @classmethod
    def from_settings(cls, settings: Settings) -> UnsubscribeLinks:
        material = settings.token_secret() or settings.tokens.jwt_private_key or ""
        return cls(material.encode(), settings.app.public_url)

    def signature(self, user_id: str) -> str:
        digest = hmac.new(self._key, user_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def url(self, user_id: str) -> str:
        """The link for ``user_id``, at ``PUBLIC_URL``."""
        return f"{self.public_url}{PATH}?{urlencode({'user': user_id, 'sig': self.signature(user_id)})}"

    def valid(self, user_id: str, sig: str) -> bool:
        return hmac.compare_digest(self.signature(user_id), sig)
