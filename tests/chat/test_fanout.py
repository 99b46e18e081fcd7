"""The fan-out's packets."""

from __future__ import annotations

from parley.chat.realtime.wire import ORJSON, JsonPacket


def test_packets_are_json_only_and_encoded_by_orjson() -> None:
    document = {"_id": "m1", "text": "héllo ✓", "reactions": [], "seen": False, "editedAt": None}
    packet = JsonPacket(data=["newMessage", document])
    assert packet.encode() == '2["newMessage",' + ORJSON.dumps(document) + "]"
    # bytes are never looked for (nor sent as attachments): our events carry none.
    assert JsonPacket(data=["x", {"raw": b"\x00"}]).packet_type == 2
    decoded = JsonPacket(encoded_packet='2["sendMessage",{"chatId":"c","text":"ü"}]')
    assert decoded.data == ["sendMessage", {"chatId": "c", "text": "ü"}]
