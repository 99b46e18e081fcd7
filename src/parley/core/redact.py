"""Keeping email addresses out of logs: a stable reference instead, and a last-resort scrubber.

An address in a log line is personal data in a place with looser access than the database.
Log lines that concern an address carry :func:`email_ref` (a short hash, the same for the same
address, and its domain, which is what delivery problems are about); :func:`scrub_emails`, a
log processor, masks any address that still slips into an event (an exception's text, a library's
message).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import MutableMapping
from typing import Any

# Loose on purpose: anything shaped like local@domain.tld is masked.
_EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@([A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+)"
)


def email_ref(email: str) -> str:
    """``3f9a1c02b7e4 (example.com)``: which address, for matching log lines, without the address."""
    local, _, domain = email.rpartition("@")
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:12]
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
