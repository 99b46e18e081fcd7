"""Keeping email addresses out of logs: a stable reference instead, and a last-resort scrubber.

An address in a log line is personal data in a place with looser access than the database.
Log lines that concern an address carry :func:`email_ref` (a short keyed hash, the same for the
same address, and its domain, which is what delivery problems are about); :func:`scrub_emails`, a
log processor, masks any address that still slips into an event (an exception's text, a library's
message).

The hash is an HMAC under a key derived from a server secret (:func:`use_secret`, called at start
with ``LOG_REF_SECRET`` or the token secret): with a plain hash, anyone holding the logs could
confirm a guessed address by hashing it. The same secret gives the same references in every
process of a deployment; until one is set, a process uses a random key of its own.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import MutableMapping
from typing import Any

# Loose on purpose: anything shaped like local@domain.tld is masked.
_EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@([A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+)"
)


_PURPOSE = b"parley/log-email-ref/v1"
_key = secrets.token_bytes(32)


def use_secret(secret: str) -> None:
    """Key :func:`email_ref` with ``secret`` (a server secret; only a key derived from it is kept)."""
    global _key
    _key = hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest()


def email_ref(email: str) -> str:
    """``3f9a1c02b7e4 (example.com)``: which address, for matching log lines, without the address."""
    local, _, domain = email.rpartition("@")
    digest = hmac.new(_key, email.strip().lower().encode(), hashlib.sha256).hexdigest()[:12]
    return f"{digest} ({domain})" if local else digest


def mask_emails(text: str) -> str:
    """``text`` with every address replaced by its :func:`email_ref`."""
    return _EMAIL.sub(lambda match: email_ref(match.group(0)), text)


def scrub_emails(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A structlog processor: masks addresses in every string value of the event."""
    for key, value in event.items():
        if isinstance(value, str) and "@" in value:
            event[key] = mask_emails(value)
    return event
