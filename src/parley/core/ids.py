"""Document ids: 24 lower-case hex characters, like the seed app's ObjectIds, roughly time-ordered."""

from __future__ import annotations

import itertools
import os
import re
import time

_ID = re.compile(r"^[0-9a-f]{24}$")
_counter = itertools.count(int.from_bytes(os.urandom(3), "big"))
_process = os.urandom(5)


def new_id() -> str:
    """A fresh id: 4 bytes of seconds, 5 random bytes per process, a 3-byte counter."""
    count = next(_counter) & 0xFFFFFF
    return (int(time.time()).to_bytes(4, "big") + _process + count.to_bytes(3, "big")).hex()


def is_id(value: object) -> bool:
    """Whether ``value`` has the shape of an id (a cheap check before any query)."""
    return isinstance(value, str) and bool(_ID.match(value))
