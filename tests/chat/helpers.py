"""Helpers for the chat service's API tests: chats, messages, images and captured events."""

from __future__ import annotations

import asyncio
import io
import struct
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from PIL import ExifTags, Image

from tests.fixtures.stack import Person


async def direct_chat(a: Person, b: Person) -> str:
    response = await a.client.post("/api/v1/chat/new", json={"otherUserId": b.id})
    assert response.status_code in (200, 201), response.text
    return str(response.json()["chatId"])


async def group_chat(owner: Person, *others: Person, name: str = "Team") -> str:
    response = await owner.client.post(
        "/api/v1/chat/group", json={"name": name, "userIds": [p.id for p in others]}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["chatId"])


async def send(person: Person, chat_id: str, text: str = "hello", **fields: str) -> dict[str, Any]:
    response = await person.client.post("/api/v1/message", data={"chatId": chat_id, "text": text, **fields})
    assert response.status_code == 201, response.text
    message: dict[str, Any] = response.json()["message"]
    return message


async def history(person: Person, chat_id: str, **params: str | int) -> dict[str, Any]:
    response = await person.client.get(f"/api/v1/message/{chat_id}", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def user_messages(page: dict[str, Any]) -> list[dict[str, Any]]:
    """The people's messages of a history page, without the system messages of group changes."""
    return [m for m in page["messages"] if m["messageType"] != "system"]


async def chat_list(person: Person) -> list[dict[str, Any]]:
    response = await person.client.get("/api/v1/chat/all")
    assert response.status_code == 200, response.text
    chats: list[dict[str, Any]] = response.json()["chats"]
    return chats


async def listed(person: Person, chat_id: str) -> dict[str, Any]:
    """The entry of ``chat_id`` in the person's chat list."""
    for entry in await chat_list(person):
        if entry["chat"]["_id"] == chat_id:
            return entry
    raise AssertionError(f"chat {chat_id} is not in the list")


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not hold in time")
        await asyncio.sleep(0.01)


@dataclass
class CapturingSink:
    """An event sink that records what it is asked to emit (and can run a check at that moment)."""

    events: list[tuple[str, dict[str, Any], list[str]]] = field(default_factory=list)
    on_emit: Callable[[str, dict[str, Any]], Awaitable[None]] | None = None

    async def emit(self, event: str, payload: dict[str, Any], *, to_users: list[str]) -> None:
        if self.on_emit is not None:
            await self.on_emit(event, payload)
        self.events.append((event, payload, list(to_users)))

    def named(self, event: str) -> list[tuple[dict[str, Any], list[str]]]:
        return [(payload, to) for name, payload, to in self.events if name == event]


# --- images --------------------------------------------------------------------------------------------


def encode(img: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, **options)
    return out.getvalue()


def photo_with_gps(size: tuple[int, int] = (1200, 900)) -> bytes:
    """A JPEG from a "camera" with its make, model and where it was taken."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "ParleyCam"
    exif[ExifTags.Base.Model] = "Model X-42"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (48.0, 51.0, 29.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (2.0, 17.0, 40.0)
    img = Image.new("RGB", size, (30, 120, 200))
    return encode(img, "JPEG", exif=exif.tobytes(), quality=90)


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width``×``height``: a decompression bomb."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
        + chunk(b"IEND", b"")
    )
