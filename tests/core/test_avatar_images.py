"""Avatar pictures (``parley.core.media.images.process_avatar``): upright, centred squares in two
sizes, without metadata, through the same checks and decoding budget as message images."""

from __future__ import annotations

import io

import pytest
from PIL import ExifTags, Image

from parley.core.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from parley.core.media.images import (
    AVATAR_SIZES,
    DecodeBudget,
    ImagesBusy,
    avatar_decode_cost,
    process_avatar,
    process_avatar_upload,
)


def encode(img: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, **options)
    return out.getvalue()


def top_red_bottom_blue(width: int, height: int) -> Image.Image:
    img = Image.new("RGB", (width, height), (20, 20, 220))
    img.paste((220, 20, 20), (0, 0, width, height // 2))
    return img


def opened(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def test_two_square_webp_files_without_metadata() -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "ParleyCam"
    data = encode(top_red_bottom_blue(640, 480), "JPEG", exif=exif.tobytes(), comment=b"secret")
    made = process_avatar(data)
    assert [(m.width, m.height) for m in made] == [(s, s) for s in AVATAR_SIZES]
    for result in made:
        img = opened(result.data)
        assert (img.format, img.size) == ("WEBP", (result.width, result.height))
        assert result.content_type == "image/webp" and result.extension == "webp"
        assert len(img.getexif()) == 0 and b"ParleyCam" not in result.data and b"secret" not in result.data


def test_the_exif_orientation_is_applied_before_the_crop() -> None:
    # Stored sideways (red on the left); orientation 6 turns it upright with red on top.
    sideways = top_red_bottom_blue(400, 600).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    large = opened(process_avatar(encode(sideways, "JPEG", exif=exif.tobytes()))[0].data).convert("RGB")
    top, bottom = large.getpixel((128, 20)), large.getpixel((128, 235))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    assert top[0] > 150 > top[2], top
    assert bottom[2] > 150 > bottom[0], bottom


def test_transparency_is_kept_and_an_animation_keeps_its_first_frame() -> None:
    clear = Image.new("RGBA", (300, 300), (0, 0, 0, 0))
    assert opened(process_avatar(encode(clear, "PNG"))[1].data).getpixel((32, 32))[3] == 0  # type: ignore[index]
    frames = [Image.new("RGB", (120, 120), colour) for colour in ((220, 20, 20), (20, 20, 220))]
    gif = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    first = opened(process_avatar(gif)[0].data).convert("RGB").getpixel((128, 128))
    assert isinstance(first, tuple) and first[0] > 150 > first[2]
    assert getattr(opened(process_avatar(gif)[0].data), "n_frames", 1) == 1


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"GIF89a not really", BadRequest),
        (b"%PDF-1.7", UnsupportedMediaType),
        (b"\xff\xd8\xff" + b"\0" * (5 * 1024 * 1024), PayloadTooLarge),
    ],
)
def test_the_same_checks_as_message_images(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        process_avatar(data)


async def test_uploads_wait_for_the_decoding_budget() -> None:
    data = encode(top_red_bottom_blue(2000, 1500), "PNG")
    cost = avatar_decode_cost(data)
    budget = DecodeBudget(cost * 2, wait=0.05)
    await budget.reserve(cost + 1)  # someone else's decode holds most of it
    with pytest.raises(ImagesBusy):
        await process_avatar_upload(data, budget)
    budget.release(cost + 1)
    assert len(await process_avatar_upload(data, budget)) == len(AVATAR_SIZES)
    assert budget.used == 0
