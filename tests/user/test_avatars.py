"""Avatars (``POST/DELETE /user/avatar``, ``GET /user/avatar/{id}/{size}``): square, two sizes, no
metadata, checked by content, replaced and removed with their files, on every user document."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import ExifTags, Image

from parley.core.media.storage import MediaStorage
from parley.user.avatars import avatar_key
from tests.fixtures.stack import Person, Stack
from tests.user.test_routes import forget_cooldown

AVATAR = "/api/v1/user/avatar"


def picture(
    size: tuple[int, int] = (900, 600), fmt: str = "JPEG", *, exif: bool = False, **options: Any
) -> bytes:
    """A picture whose centred square is green and whose rest is red."""
    img = Image.new("RGB", size, (220, 20, 20))
    width, height = size
    side = min(size)
    left, top = (width - side) // 2, (height - side) // 2
    img.paste((20, 200, 20), (left, top, left + side, top + side))
    if exif:
        data = Image.Exif()
        data[ExifTags.Base.Make] = "ParleyCam"
        data[ExifTags.Base.Model] = "Model X-42"
        gps = data.get_ifd(ExifTags.IFD.GPSInfo)
        gps[ExifTags.GPS.GPSLatitudeRef] = "N"
        gps[ExifTags.GPS.GPSLatitude] = (48.0, 51.0, 29.0)
        options["exif"] = data.tobytes()
    out = io.BytesIO()
    img.save(out, format=fmt, **options)
    return out.getvalue()


async def upload(
    person: Person, data: bytes, filename: str = "me.jpg", content_type: str = "image/jpeg"
) -> Any:
    return await person.client.post(AVATAR, files={"image": (filename, data, content_type)})


async def uploaded(person: Person, data: bytes | None = None) -> dict[str, str]:
    response = await upload(person, data or picture())
    assert response.status_code == 200, response.text
    avatar: dict[str, str] = response.json()["user"]["avatar"]
    return avatar


async def me(person: Person) -> dict[str, Any]:
    response = await person.client.get("/api/v1/me")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def storage_of(stack: Stack) -> MediaStorage:
    storage: MediaStorage = stack.apps["user"].state.avatars.storage
    return storage


def version_of(avatar: dict[str, str]) -> str:
    return avatar["url"].rsplit("v=", 1)[1]


async def test_an_upload_becomes_two_square_sizes_without_metadata(stack: Stack, alice: Person) -> None:
    source = picture((1200, 800), exif=True)
    assert Image.open(io.BytesIO(source)).getexif().get_ifd(ExifTags.IFD.GPSInfo), "fixture carries GPS"
    response = await upload(alice, source)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["message"]
    avatar = body["user"]["avatar"]
    assert set(avatar) == {"url", "thumbUrl"}
    assert avatar["url"].startswith(f"{AVATAR}/{alice.id}/256?v=")
    assert avatar["thumbUrl"] == avatar["url"].replace("/256?", "/64?")
    for url, side in ((avatar["url"], 256), (avatar["thumbUrl"], 64)):
        got = await alice.client.get(url)
        assert got.status_code == 200, got.text
        assert got.headers["content-type"] == "image/webp"
        assert got.headers["x-content-type-options"] == "nosniff"
        assert "immutable" in got.headers["cache-control"] and "private" in got.headers["cache-control"]
        img = Image.open(io.BytesIO(got.content))
        assert img.format == "WEBP"
        assert img.size == (side, side)
        assert len(img.getexif()) == 0
        assert not {"exif", "icc_profile", "xmp", "XML:com.adobe.xmp"} & set(img.info)
        assert b"ParleyCam" not in got.content
        # Cut from the centre: the red sides of the landscape picture are gone.
        rgb = img.convert("RGB")
        for x in (side // 16, side // 2, side - 1 - side // 16):
            red, green, _ = rgb.getpixel((x, side // 2))  # type: ignore[misc]
            assert green > 150 and red < 90, (side, x, rgb.getpixel((x, side // 2)))
    assert (await me(alice))["avatar"] == avatar


@pytest.mark.parametrize(
    ("fmt", "options"),
    [("PNG", {}), ("GIF", {}), ("WEBP", {"quality": 90}), ("JPEG", {"progressive": True})],
)
async def test_every_accepted_type_works(alice: Person, fmt: str, options: dict[str, Any]) -> None:
    # Named and typed as something else: only the content counts.
    response = await upload(alice, picture((300, 500), fmt, **options), "x.txt", "text/plain")
    assert response.status_code == 200, response.text
    got = await alice.client.get(response.json()["user"]["avatar"]["thumbUrl"])
    assert Image.open(io.BytesIO(got.content)).size == (64, 64)


async def test_a_small_picture_is_enlarged_to_the_sizes(alice: Person) -> None:
    avatar = await uploaded(alice, picture((40, 30), "PNG"))
    got = await alice.client.get(avatar["url"])
    assert Image.open(io.BytesIO(got.content)).size == (256, 256)


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"this is not a picture at all", 415),
        (b"", 415),
        (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", 415),
        (picture((300, 300))[:200], 400),  # a JPEG cut short
        (picture((300, 300), "PNG") + b"\0" * (5 * 1024 * 1024), 413),  # over 5 MB, under the body limit
    ],
)
async def test_what_is_not_an_acceptable_picture_is_refused_and_changes_nothing(
    alice: Person, data: bytes, status: int
) -> None:
    before = await uploaded(alice)
    response = await upload(alice, data, "me.png", "image/png")
    assert response.status_code == status, response.text
    assert response.json()["message"] and response.json()["code"]
    assert (await me(alice))["avatar"] == before


async def test_a_body_over_the_route_limit_is_refused_before_it_is_read(alice: Person) -> None:
    response = await upload(alice, b"\xff\xd8\xff" + b"\0" * (6 * 1024 * 1024 + 1))
    assert response.status_code == 413
    assert "avatar" not in await me(alice)


async def test_a_missing_image_field_is_a_schema_violation(alice: Person) -> None:
    response = await alice.client.post(AVATAR, data={"picture": "x"})
    assert response.status_code == 422
    response = await alice.client.post(AVATAR, data={"image": "not a file"})
    assert response.status_code == 422


async def test_a_new_upload_replaces_the_old_files(stack: Stack, alice: Person) -> None:
    first = await uploaded(alice)
    old = version_of(first)
    assert await storage_of(stack).get(avatar_key(old, "256")) is not None
    second = await uploaded(alice, picture((500, 500), "PNG"))
    assert second != first
    assert (await me(alice))["avatar"] == second
    for size in ("256", "64"):
        assert await storage_of(stack).get(avatar_key(old, size)) is None
        assert await storage_of(stack).get(avatar_key(version_of(second), size)) is not None
    # A URL of the old avatar (say, from a profile cached elsewhere) shows the new one, uncached.
    stale = await alice.client.get(first["url"])
    assert stale.status_code == 200
    assert stale.headers["cache-control"] == "private, no-cache"
    assert stale.content == (await alice.client.get(second["url"])).content


async def test_removing_the_avatar_deletes_its_files(stack: Stack, alice: Person, bob: Person) -> None:
    avatar = await uploaded(alice)
    response = await alice.client.delete(AVATAR)
    assert response.status_code == 200, response.text
    assert response.json()["message"]
    assert "avatar" not in response.json()["user"]
    assert "avatar" not in await me(alice)
    for size in ("256", "64"):
        assert await storage_of(stack).get(avatar_key(version_of(avatar), size)) is None
    for url in (avatar["url"], avatar["thumbUrl"]):
        gone = await bob.client.get(url)
        assert gone.status_code == 404
        assert gone.json()["code"] == "avatar_not_found"
    # Removing again changes nothing.
    again = await alice.client.delete(AVATAR)
    assert again.status_code == 200
    assert "avatar" not in again.json()["user"]


async def test_someone_without_an_avatar_has_none(alice: Person, bob: Person) -> None:
    assert "avatar" not in await me(alice)
    response = await bob.client.get(f"{AVATAR}/{alice.id}/256")
    assert response.status_code == 404
    for bad in ("128", "large", "0"):
        response = await bob.client.get(f"{AVATAR}/{alice.id}/{bad}")
        assert response.status_code == 422, bad
    response = await bob.client.get(f"{AVATAR}/not-an-id/64")
    assert response.status_code == 404


async def test_avatars_need_a_signed_in_caller(stack: Stack, alice: Person) -> None:
    avatar = await uploaded(alice)
    anonymous = stack.client()
    assert (await anonymous.get(avatar["url"])).status_code == 401
    assert (
        await anonymous.post(AVATAR, files={"image": ("a.jpg", picture(), "image/jpeg")})
    ).status_code == 401
    assert (await anonymous.delete(AVATAR)).status_code == 401
    assert (await me(alice))["avatar"] == avatar


async def test_every_user_document_carries_the_avatar(stack: Stack, alice: Person, bob: Person) -> None:
    avatar = await uploaded(alice)
    # Bob and Alice share a chat, so Bob sees her everywhere.
    created = await bob.client.post("/api/v1/chat/new", json={"otherUserId": alice.id})
    assert created.status_code in (200, 201), created.text
    chat_id = created.json()["chatId"]

    one = await bob.client.get(f"/api/v1/user/{alice.id}")
    assert one.json()["avatar"] == avatar
    found = await bob.client.get("/api/v1/user/all", params={"q": alice.name})
    assert [u["avatar"] for u in found.json() if u["_id"] == alice.id] == [avatar]
    batch = await bob.client.post("/api/v1/user/batch", json={"ids": [alice.id, bob.id]})
    by_id = {u["_id"]: u for u in batch.json()["users"]}
    assert by_id[alice.id]["avatar"] == avatar
    assert "avatar" not in by_id[bob.id]
    await forget_cooldown(stack, alice.email)
    again = await stack.login(alice.email)
    assert again.user["avatar"] == avatar
    renamed = await alice.client.post("/api/v1/update/user", json={"name": "Alice A"})
    assert renamed.json()["user"]["avatar"] == avatar

    chats = await bob.client.get("/api/v1/chat/all")
    [item] = [c for c in chats.json()["chats"] if c["chat"]["_id"] == chat_id]
    assert item["user"]["avatar"] == avatar
    view = await bob.client.get(f"/api/v1/chat/{chat_id}")
    members = {u["_id"]: u for u in view.json()["members"]}
    assert members[alice.id]["avatar"] == avatar
    assert "avatar" not in members[bob.id]
    # Anyone signed in may see it, not only the people who share a chat with Alice.
    stranger = await stack.login()
    assert (await stranger.client.get(avatar["thumbUrl"])).status_code == 200


async def test_uploads_are_limited_per_user(
    stack: Stack, alice: Person, bob: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stack.apps["user"].state.avatars, "per_hour", 2)
    await uploaded(alice)
    refused = await upload(alice, b"not a picture")  # refused uploads count too
    assert refused.status_code == 415
    kept = await me(alice)
    response = await upload(alice, picture())
    assert response.status_code == 429, response.text
    assert int(response.headers["retry-after"]) > 0
    assert response.json()["code"] == "too_many_avatars"
    assert (await me(alice))["avatar"] == kept["avatar"]
    # Another user has a limit of their own.
    await uploaded(bob)
