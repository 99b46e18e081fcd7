"""The real-time layer (Socket.IO v4 at ``/socket.io/``), in parts.

- :mod:`.protocol`: event names, payloads, limits, acknowledgements, the :class:`Directory` it asks;
- :mod:`.events`: every event with its payload model; :mod:`.asyncapi` publishes them (``/asyncapi.json``);
- :mod:`.ordering`: each chat's messages handed on in ``seq`` order (:class:`InOrder`);
- :mod:`.fanout`: the client managers that carry events to every instance, one publish per batch;
- :mod:`.server`: :class:`Realtime`, the composition root: lifecycle, heartbeat, wiring of the parts;
- :mod:`.sessions`: connect (token or cookie), disconnect, sockets per user, revoked and stalled sockets;
- :mod:`.presence`: online users, ``getOnlineUser`` lists, the sweep of a crashed instance's users;
- :mod:`.client_events`: ``typing``, ``stopTyping``, ``joinChat``, ``leaveChat``, ``sendMessage``, flood admission;
- :mod:`.delivery`: the chat service's events to their recipients (:class:`RealtimeSink`);
- :mod:`.lookups`, :mod:`.connections`: cached members and contacts; the socket record and cache keys.
"""

from parley.chat.realtime.delivery import RealtimeSink
from parley.chat.realtime.ordering import InOrder
from parley.chat.realtime.protocol import MAX_JOINED_CHATS, ChatRef, Directory, TokenBucket, user_room
from parley.chat.realtime.server import Realtime

__all__ = [
    "MAX_JOINED_CHATS",
    "ChatRef",
    "Directory",
    "InOrder",
    "Realtime",
    "RealtimeSink",
    "TokenBucket",
    "user_room",
]
