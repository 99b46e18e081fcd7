"""Image messages through the API: checked, stripped, stored, and served through signed links."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from PIL import ExifTags, Image

from parley.chat import service as service_module
from parley.chat import writer as writer_module
from parley.chat.writer import Overloaded
from parley.core.media import images as media
from parley.core.media.images import DecodeBudget, sign_media_path
from tests.chat.helpers import (
    direct_chat,
    encode,
    eventually,
    history,
    listed,
    photo_with_gps,
    png_declaring,
    send,
)
from tests.chat.test_send_path import writer_of
from tests.fixtures.stack import Person

SIX_MB = 6 * 1024 * 1024


async def upload(
    person: Person, chat_id: str, data: bytes, filename: str = "photo.jpg", **fields: str
) -> Any:
    return await person.client.post(
        "/api/v1/message",
        data={"chatId": chat_id, **fields},
        files={"image": (filename, data, "image/jpeg")},
    )


async def test_photo_is_stored_without_its_metadata(alice: Person, bob: Person) -> None:
    chat_id = await direct_chat(alice, bob)
    original = photo_with_gps((1600, 1200))
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(ExifTags.IFD.GPSInfo)

    response = await upload(alice, chat_id, original, text="  the view ")
    assert response.status_code == 201, response.text
    message = response.json()["message"]
    assert message["messageType"] == "image"
    assert message["text"] == "the view"
    image = message["image"]
    assert (image["width"], image["height"]) == (800, 600)
    assert image["url"].startswith("http://testserver/media/")
    assert image["publicId"] in image["url"]

    served = await bob.client.get(image["url"])
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/jpeg"
    assert served.headers["cache-control"].startswith("private, max-age=")
    assert 3500 <= int(served.headers["cache-control"].rpartition("=")[2]) <= 3600
    stored = Image.open(io.BytesIO(served.content))
    assert stored.size == (800, 600)
    assert len(stored.getexif()) == 0
    assert b"ParleyCam" not in served.content
    assert b"Exif" not in served.content


async def test_image_links_are_fresh_in_every_response(alice: Person, bob: Person) -> None:
    chat_id = await direct_chat(alice, bob)
    sent = (await upload(alice, chat_id, photo_with_gps((100, 80)))).json()["message"]
    fetched = (await history(bob, chat_id))["messages"][0]
    assert fetched["image"]["publicId"] == sent["image"]["publicId"]
    assert (await bob.client.get(fetched["image"]["url"])).status_code == 200
    entry = await listed(bob, chat_id)
    assert entry["chat"]["latestMessage"] == {"text": "📷 Image", "sender": alice.id}


async def test_forged_expired_or_missing_signatures_are_403(
    alice: Person, bob: Person, chat_app: Any
) -> None:
    chat_id = await direct_chat(alice, bob)
    url = (await upload(alice, chat_id, photo_with_gps((100, 80)))).json()["message"]["image"]["url"]
    parts = urlsplit(url)
    key = parts.path.rpartition("/")[2]
    query = parse_qs(parts.query)
    exp, sig = query["exp"][0], query["sig"][0]
    client = bob.client

    forged = sig[:-1] + ("A" if sig[-1] != "A" else "B")
    assert (await client.get(f"/media/{key}", params={"exp": exp, "sig": forged})).status_code == 403
    later = str(int(exp) + 3600)
    assert (await client.get(f"/media/{key}", params={"exp": later, "sig": sig})).status_code == 403
    assert (await client.get(f"/media/{key}")).status_code == 403
    assert (await client.get(f"/media/{key}", params={"exp": exp})).status_code == 403

    links = chat_app.state.media_links
    expired = sign_media_path(key, links.secret, now=int(time.time()) - 7200, ttl=3600)
    response = await client.get(expired)
    assert response.status_code == 403
    assert response.json()["message"]

    unknown = sign_media_path("A" * 32 + ".jpg", links.secret)
    assert (await client.get(unknown)).status_code == 404
    # Without a valid signature nobody learns whether a key exists.
    assert (await client.get("/media/" + "A" * 32 + ".jpg?exp=1&sig=x")).status_code == 403
    assert (await client.get("/media/..%2Fsecret?exp=1&sig=x")).status_code in (403, 404)


async def test_text_renamed_to_png_is_415(alice: Person, bob: Person) -> None:
    chat_id = await direct_chat(alice, bob)
    response = await upload(alice, chat_id, b"just some text, not a picture\n" * 20, filename="cat.png")
    assert response.status_code == 415
    assert response.json()["message"]
    assert (await history(bob, chat_id))["messages"] == []


async def test_other_image_formats_are_415(alice: Person, bob: Person) -> None:
    chat_id = await direct_chat(alice, bob)
    bmp = encode(Image.new("RGB", (20, 20)), "BMP")
    assert (await upload(alice, chat_id, bmp, filename="x.jpg")).status_code == 415


async def test_decompression_bomb_is_400(alice: Person, bob: Person) -> None:
    chat_id = await direct_chat(alice, bob)
    response = await upload(alice, chat_id, png_declaring(60_000, 60_000), filename="bomb.png")
    assert response.status_code == 400
    assert response.json()["message"]
    assert (await history(bob, chat_id))["messages"] == []


async def test_uploads_beyond_the_decoding_budget_are_503_with_retry_after(
    alice: Person, bob: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = DecodeBudget(1024, wait=0.01)
    await full.reserve(1024)
    monkeypatch.setattr(media, "DECODES", full)
    chat_id = await direct_chat(alice, bob)
    response = await upload(alice, chat_id, photo_with_gps((400, 300)))
    assert response.status_code == 503
    assert response.json()["code"] == "images_busy"
    assert int(response.headers["Retry-After"]) >= 1
    assert (await history(bob, chat_id))["messages"] == []
    full.release(1024)
    assert (await upload(alice, chat_id, photo_with_gps((400, 300)))).status_code == 201


async def test_damaged_image_is_400(alice: Person, bob: Person) -> None:
    chat_id = await direct_chat(alice, bob)
    truncated = photo_with_gps((400, 300))[:200]
    assert (await upload(alice, chat_id, truncated)).status_code == 400


async def test_six_megabytes_is_413(alice: Person, bob: Person) -> None:
    chat_id = await direct_chat(alice, bob)
    response = await upload(alice, chat_id, b"\xff\xd8\xff" + b"\x00" * SIX_MB)
    assert response.status_code == 413
    assert "5 MB" in response.json()["message"]
    assert (await history(bob, chat_id))["messages"] == []


async def test_a_chunked_body_is_cut_off_at_the_limit(alice: Person, bob: Person) -> None:
    chat_id = await direct_chat(alice, bob)
    boundary = "parleyboundary"
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="chatId"\r\n\r\n{chat_id}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="big.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        yield head
        for _ in range(200):  # 12.8 MB if anyone read it all
            sent += 1
            yield b"\x00" * 64 * 1024
        yield f"\r\n--{boundary}--\r\n".encode()

    response = await alice.client.post(
        "/api/v1/message",
        content=body(),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.json()["message"]
    assert sent < 100  # reading stopped soon after 5 MB
    assert (await history(bob, chat_id))["messages"] == []


async def test_a_large_json_body_is_413(alice: Person) -> None:
    response = await alice.client.post("/api/v1/chat/group", json={"name": "x" * 400_000, "userIds": []})
    assert response.status_code == 413


# ---------------------------------------------------------------------------- the send path's resources


async def test_an_upload_whose_sender_goes_away_after_the_commit_keeps_its_image(
    alice: Person, bob: Person, chat_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stored message must never point to a deleted image."""
    chat_id = await direct_chat(alice, bob)
    delivery = asyncio.Event()

    async def held_delivery(sink: Any, events: Any) -> None:
        await delivery.wait()

    monkeypatch.setattr(writer_module, "emit_all", held_delivery)
    sending = asyncio.create_task(upload(alice, chat_id, photo_with_gps((100, 80))))

    async def committed() -> bool:
        return len((await history(bob, chat_id))["messages"]) == 1

    await eventually(committed)  # stored; its sender not answered yet
    sending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sending
    delivery.set()
    monkeypatch.undo()
    # Deliveries go in order: once a later send is answered, the first one has been too.
    await send(alice, chat_id, "after")
    image = (await history(bob, chat_id))["messages"][0]["image"]
    assert (await bob.client.get(image["url"])).status_code == 200


async def test_a_refused_upload_leaves_no_image_behind(
    alice: Person, bob: Person, chat_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat_id = await direct_chat(alice, bob)
    stored: list[str] = []
    deleted: list[str] = []
    storage = chat_app.state.storage
    real_put, real_delete = storage.put, storage.delete

    async def put(key: str, data: bytes, content_type: str) -> None:
        stored.append(key)
        await real_put(key, data, content_type)

    async def delete(key: str) -> None:
        deleted.append(key)
        await real_delete(key)

    async def overloaded(draft: Any) -> Any:
        raise Overloaded()

    monkeypatch.setattr(storage, "put", put)
    monkeypatch.setattr(storage, "delete", delete)
    monkeypatch.setattr(writer_of(chat_app), "submit", overloaded)
    response = await upload(alice, chat_id, photo_with_gps((100, 80)))
    assert response.status_code == 503
    assert len(stored) == 1
    assert deleted == stored


async def test_no_database_connection_is_held_while_an_image_is_processed_and_stored(
    alice: Person, bob: Person, chat_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat_id = await direct_chat(alice, bob)
    pool = chat_app.state.db.engine.pool
    held: dict[str, int] = {}
    storage = chat_app.state.storage
    real_put = storage.put

    async def processing(data: bytes) -> Any:
        held["processing"] = pool.checkedout()
        return await media.process_upload(data)

    async def put(key: str, data: bytes, content_type: str) -> None:
        held["storing"] = pool.checkedout()
        await real_put(key, data, content_type)

    monkeypatch.setattr(service_module, "process_upload", processing)
    monkeypatch.setattr(storage, "put", put)
    response = await upload(alice, chat_id, photo_with_gps((100, 80)), clientId="no-connection")
    assert response.status_code == 201, response.text
    assert held == {"processing": 0, "storing": 0}
