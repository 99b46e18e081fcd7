"""How Socket.IO packets are written: orjson, and no search for binary attachments.

python-socketio encodes every packet with the standard ``json`` module and, before that, walks the
whole payload looking for ``bytes`` to send as binary attachments. Parley's events are plain JSON
documents (no bytes anywhere), so :class:`JsonPacket` (handed to ``AsyncServer`` as its
``serializer``, the library's hook for a custom packet class) skips the walk, and both it and the
fan-out's client managers encode with :data:`ORJSON`.
"""

from __future__ import annotations

from typing import Any

import orjson
from socketio import packet


class _Orjson:
    """The two functions python-socketio asks of a JSON module, done by orjson (``str`` in, ``str`` out)."""

    @staticmethod
    def dumps(obj: Any, **_: Any) -> str:
        # Keys that are not strings become strings, as the standard module does.
        return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS).decode()

    @staticmethod
    def loads(data: str | bytes, **_: Any) -> Any:
        return orjson.loads(data)


ORJSON = _Orjson()


class JsonPacket(packet.Packet):  # type: ignore[misc]
    """A Socket.IO packet of JSON only: never a binary event, encoded with orjson.

    A client that sends a binary event gets its placeholders as data, which no handler accepts.
    """

    uses_binary_events = False
    json = ORJSON
