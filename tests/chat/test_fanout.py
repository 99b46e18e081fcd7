"""The fan-out: its packets, and that a frozen Redis cannot hang a send."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from parley.chat.realtime.fanout import PUBLISH_TIMEOUT_SECONDS, client_managers, close_manager
from parley.chat.realtime.wire import ORJSON, JsonPacket
from tests.core.helpers import FreezableRelay
from tests.fixtures.backends import REDIS_URL, reachable, require


async def test_a_publish_to_a_frozen_redis_gives_up_instead_of_hanging() -> None:
    require(reachable("127.0.0.1", 6379), "Redis at 127.0.0.1:6379")
    target = urlsplit(REDIS_URL)
    relay = FreezableRelay(target.hostname or "127.0.0.1", target.port or 6379)
    port = await relay.start()
    listener, publisher = client_managers(f"redis://127.0.0.1:{port}{target.path}", "parley:test:frozen")
    try:
        await publisher.emit("ping", {"n": 1}, room="nobody", namespace="/")  # connected, alive
        relay.freeze()
        # The publisher gives up after two attempts of PUBLISH_TIMEOUT_SECONDS; with redis-py's
        # defaults it waited 5 s a try, so a send's announcement outlived the contract's 10 s.
        await asyncio.wait_for(
            publisher.emit("ping", {"n": 2}, room="nobody", namespace="/"),
            timeout=4 * PUBLISH_TIMEOUT_SECONDS,
        )
    finally:
        relay.thawed.set()
        await close_manager(publisher)
        await close_manager(listener)
        await relay.close()


def test_packets_are_json_only_and_encoded_by_orjson() -> None:
    document = {"_id": "m1", "text": "héllo ✓", "reactions": [], "seen": False, "editedAt": None}
    packet = JsonPacket(data=["newMessage", document])
    assert packet.encode() == '2["newMessage",' + ORJSON.dumps(document) + "]"
    # bytes are never looked for (nor sent as attachments): our events carry none.
    assert JsonPacket(data=["x", {"raw": b"\x00"}]).packet_type == 2
    decoded = JsonPacket(encoded_packet='2["sendMessage",{"chatId":"c","text":"ü"}]')
    assert decoded.data == ["sendMessage", {"chatId": "c", "text": "ü"}]
