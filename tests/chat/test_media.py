"""Image checks, re-encoding and signed media URLs (``parley.core.media.images``)."""

from __future__ import annotations

import io
import struct
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import ExifTags, Image, ImageCms, PngImagePlugin

from parley.core.errors import BadRequest, Forbidden, PayloadTooLarge, UnsupportedMediaType
from parley.core.media.images import (
    MAX_IMAGE_BYTES,
    UNSUPPORTED_MESSAGE,
    ProcessedImage,
    is_media_key,
    new_media_key,
    process_image,
    sign_media_path,
    verify_media_signature,
)
from tests.chat.helpers import png_declaring

RED = (220, 20, 20)
BLUE = (20, 20, 220)
SECRET = b"media-test-secret"


# --- helpers ------------------------------------------------------------------------------------------


def encode(img: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, **options)
    return out.getvalue()


def open_output(result: ProcessedImage) -> Image.Image:
    img = Image.open(io.BytesIO(result.data))
    return img


def two_colour(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """Left half red, right half blue: a rotation is visible in where the colours end up."""
    img = Image.new(mode, (width, height), RED if mode == "RGB" else (*RED, 255))
    img.paste(BLUE if mode == "RGB" else (*BLUE, 255), (width // 2, 0, width, height))
    return img


def close_to(pixel: object, expected: tuple[int, ...], tolerance: int = 40) -> bool:
    assert isinstance(pixel, tuple)
    return all(abs(int(a) - b) <= tolerance for a, b in zip(pixel, expected, strict=False))


def jpeg_with_metadata(img: Image.Image, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "ParleyCam"
    exif[ExifTags.Base.Model] = "Model X-42"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (48.0, 51.0, 29.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (2.0, 17.0, 40.0)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        b'<rdf:Description xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="SecretTool"/>'
        b"</rdf:RDF></x:xmpmeta>"
    )
    return encode(
        img,
        "JPEG",
        exif=exif.tobytes(),
        icc_profile=icc,
        xmp=xmp,
        comment=b"secret comment",
        quality=95,
    )


# --- metadata and orientation -----------------------------------------------------------------------


def test_jpeg_metadata_is_stripped_and_orientation_applied() -> None:
    original = jpeg_with_metadata(two_colour(400, 200), orientation=6)
    source = Image.open(io.BytesIO(original))
    assert source.getexif().get_ifd(ExifTags.IFD.GPSInfo), "the fixture must carry GPS data"

    result = process_image(original)

    assert (result.content_type, result.extension, result.animated) == ("image/jpeg", "jpg", False)
    out = open_output(result)
    assert out.format == "JPEG"
    assert out.mode == "RGB"
    # Orientation 6 means "rotate 90° clockwise to display": the left (red) half ends on top.
    assert out.size == (200, 400) == (result.width, result.height)
    assert close_to(out.getpixel((100, 50)), RED)
    assert close_to(out.getpixel((100, 350)), BLUE)
    assert len(out.getexif()) == 0
    for key in ("exif", "icc_profile", "xmp", "comment", "XML:com.adobe.xmp"):
        assert key not in out.info
    for needle in (b"Exif", b"ParleyCam", b"Model X-42", b"ICC_PROFILE", b"SecretTool", b"secret comment"):
        assert needle not in result.data


@pytest.mark.parametrize(
    ("orientation", "size", "top_left"),
    [(1, (400, 200), RED), (3, (400, 200), BLUE), (8, (200, 400), BLUE), (2, (400, 200), BLUE)],
)
def test_every_orientation_is_applied(
    orientation: int, size: tuple[int, int], top_left: tuple[int, ...]
) -> None:
    out = open_output(process_image(jpeg_with_metadata(two_colour(400, 200), orientation)))
    assert out.size == size
    assert close_to(out.getpixel((5, 5)), top_left)


def test_png_and_webp_metadata_is_stripped() -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "ParleyCam"
    text = PngImagePlugin.PngInfo()
    text.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>SecretTool</x:xmpmeta>")
    text.add_text("Comment", "SecretTool was here")
    xmp = b"<x:xmpmeta>SecretTool</x:xmpmeta>"
    for fmt, options in (("PNG", {"pnginfo": text}), ("WEBP", {"xmp": xmp})):
        data = encode(two_colour(300, 200), fmt, exif=exif.tobytes(), **options)
        assert b"ParleyCam" in data
        assert b"SecretTool" in data
        result = process_image(data)
        out = open_output(result)
        assert out.format == fmt
        assert len(out.getexif()) == 0
        assert b"ParleyCam" not in result.data
        assert b"SecretTool" not in result.data


# --- fitting ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "fitted"),
    [
        ((4000, 3000), (800, 600)),
        ((3000, 1000), (800, 267)),
        ((1000, 3000), (200, 600)),
        ((1600, 600), (800, 300)),
        ((300, 200), (300, 200)),  # never upscaled
        ((1, 1), (1, 1)),
    ],
)
def test_images_are_fitted_within_800_by_600(size: tuple[int, int], fitted: tuple[int, int]) -> None:
    result = process_image(encode(two_colour(*size), "JPEG"))
    assert (result.width, result.height) == fitted
    assert open_output(result).size == fitted


def test_large_photo_is_fitted_after_rotation() -> None:
    # A 4000×3000 sensor image held upright: displayed 3000×4000, so it fits to 450×600.
    result = process_image(jpeg_with_metadata(two_colour(4000, 3000), orientation=6))
    out = open_output(result)
    assert out.size == (450, 600)
    assert close_to(out.getpixel((225, 20)), RED)
    assert close_to(out.getpixel((225, 580)), BLUE)


# --- formats and modes ------------------------------------------------------------------------------------


def test_png_with_transparency_stays_png() -> None:
    img = Image.new("RGBA", (1000, 1000), (0, 0, 0, 0))
    img.paste((*BLUE, 255), (500, 0, 1000, 1000))
    result = process_image(encode(img, "PNG"))
    out = open_output(result)
    assert (result.content_type, result.extension) == ("image/png", "png")
    assert out.format == "PNG"
    assert out.mode == "RGBA"
    assert out.size == (600, 600)
    assert out.getpixel((10, 300))[3] == 0  # type: ignore[index]
    assert close_to(out.getpixel((590, 300)), (*BLUE, 255))


def test_palette_png_with_transparency_keeps_it() -> None:
    img = Image.new("P", (200, 100), 0)
    img.putpalette([0, 0, 0, *BLUE] + [0] * (256 * 3 - 6))
    img.paste(1, (100, 0, 200, 100))
    out = open_output(process_image(encode(img, "PNG", transparency=0)))
    assert out.mode == "RGBA"
    assert out.getpixel((10, 10))[3] == 0  # type: ignore[index]
    assert close_to(out.getpixel((150, 50)), (*BLUE, 255))


@pytest.mark.parametrize("mode", ["L", "LA", "1", "I;16", "RGB", "P"])
def test_png_modes_never_crash(mode: str) -> None:
    img = Image.new(mode, (900, 700))
    result = process_image(encode(img, "PNG"))
    assert open_output(result).format == "PNG"
    assert (result.width, result.height) == (771, 600)


def test_16_bit_greyscale_is_scaled_not_clipped() -> None:
    out = open_output(process_image(encode(Image.new("I;16", (50, 50), 32896), "PNG")))
    assert out.getpixel((0, 0)) in (127, 128, 129)


def test_cmyk_jpeg_becomes_rgb() -> None:
    img = Image.new("CMYK", (1200, 900), (0, 255, 255, 0))  # pure red ink
    result = process_image(encode(img, "JPEG"))
    out = open_output(result)
    assert (out.format, out.mode, out.size) == ("JPEG", "RGB", (800, 600))
    assert close_to(out.getpixel((400, 300)), (255, 0, 0), tolerance=60)


def test_grayscale_jpeg_becomes_rgb() -> None:
    out = open_output(process_image(encode(Image.new("L", (100, 100), 128), "JPEG")))
    assert out.mode == "RGB"


def test_webp_stays_webp() -> None:
    result = process_image(encode(two_colour(1600, 1200, "RGBA"), "WEBP"))
    out = open_output(result)
    assert (result.content_type, result.extension, out.format) == ("image/webp", "webp", "WEBP")
    assert out.size == (800, 600)


def animation(fmt: str, frames: int, size: tuple[int, int]) -> bytes:
    colours = [(i * 37 % 256, i * 91 % 256, 255 - i * 23 % 256) for i in range(frames)]
    images = [Image.new("RGB", size, colour) for colour in colours]
    return encode(images[0], fmt, save_all=True, append_images=images[1:], duration=80, loop=0)


@pytest.mark.parametrize(("fmt", "content_type"), [("GIF", "image/gif"), ("WEBP", "image/webp")])
def test_animation_stays_animated_and_is_resized(fmt: str, content_type: str) -> None:
    result = process_image(animation(fmt, 6, (1200, 900)))
    out = open_output(result)
    assert result.animated
    assert result.content_type == content_type
    assert out.format == fmt
    assert getattr(out, "n_frames", 1) == 6
    assert out.size == (800, 600)
    assert out.info.get("loop") == 0
    out.seek(3)
    out.load()  # WebP reports a frame's duration once it is decoded
    assert out.info.get("duration") == 80


def test_animated_png_stays_animated() -> None:
    result = process_image(animation("PNG", 4, (100, 100)))
    out = open_output(result)
    assert result.animated
    assert out.format == "PNG"
    assert getattr(out, "n_frames", 1) == 4


def test_transparent_animated_gif_keeps_transparency() -> None:
    frames = []
    for i in range(3):
        frame = Image.new("RGBA", (60, 60), (0, 0, 0, 0))
        frame.paste((*RED, 255), (i * 20, 0, i * 20 + 20, 60))
        frames.append(frame)
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50, disposal=2)
    out = open_output(process_image(data))
    assert getattr(out, "n_frames", 1) == 3
    out.seek(2)
    rgba = out.convert("RGBA")
    assert rgba.getpixel((5, 30))[3] == 0  # type: ignore[index]
    assert close_to(rgba.getpixel((50, 30)), (*RED, 255))


def test_long_animation_is_reduced_to_its_first_frame() -> None:
    result = process_image(animation("GIF", 101, (20, 20)))
    out = open_output(result)
    assert not result.animated
    assert out.format == "GIF"
    assert getattr(out, "n_frames", 1) == 1


def test_single_frame_gif() -> None:
    result = process_image(encode(Image.new("P", (1000, 100)), "GIF"))
    assert (result.extension, result.width, result.height, result.animated) == ("gif", 800, 80, False)


# --- refusals -------------------------------------------------------------------------------------------------


def test_more_than_5_mb_is_413() -> None:
    with pytest.raises(PayloadTooLarge) as caught:
        process_image(b"\xff\xd8\xff" + bytes(6 * 1024 * 1024))
    assert caught.value.status == 413


def test_exactly_5_mb_is_not_refused_for_its_size() -> None:
    with pytest.raises(UnsupportedMediaType):
        process_image(bytes(MAX_IMAGE_BYTES))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, this is a text file renamed to photo.png\n",
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n",
        b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
        b"RIFF\x00\x00\x00\x00WAVEfmt ",
    ],
    ids=["empty", "text", "pdf", "svg", "wav"],
)
def test_non_images_are_415(data: bytes) -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        process_image(data)
    assert caught.value.status == 415
    assert caught.value.message == UNSUPPORTED_MESSAGE


@pytest.mark.parametrize("fmt", ["BMP", "TIFF", "ICO", "PPM", "TGA"])
def test_other_image_formats_are_415(fmt: str) -> None:
    with pytest.raises(UnsupportedMediaType):
        process_image(encode(Image.new("RGB", (32, 32), RED), fmt))


@pytest.mark.parametrize("size", [(30000, 30000), (8000, 6000), (65535, 1000)])
def test_decompression_bombs_are_400(size: tuple[int, int]) -> None:
    data = png_declaring(*size)
    assert len(data) < 2000
    with pytest.raises(BadRequest) as caught:
        process_image(data)
    assert caught.value.status == 400
    assert "too large" in caught.value.message


def test_gif_declaring_a_huge_canvas_is_400() -> None:
    data = bytearray(encode(Image.new("P", (10, 10)), "GIF"))
    data[6:10] = struct.pack("<HH", 65535, 65535)
    with pytest.raises(BadRequest):
        process_image(bytes(data))


def noisy(size: tuple[int, int]) -> Image.Image:
    return Image.frombytes("RGB", size, bytes((i * 7919) % 251 for i in range(size[0] * size[1] * 3)))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP"])
def test_truncated_images_are_400(fmt: str) -> None:
    data = encode(noisy((400, 300)), fmt)
    with pytest.raises(BadRequest) as caught:
        process_image(data[: len(data) // 2])
    assert caught.value.status == 400


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xd8\xff" + b"\x00" * 64,
        b"\x89PNG\r\n\x1a\n" + b"garbage" * 10,
        b"GIF89a" + b"\xff" * 3,
        b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 8,
        png_declaring(0, 10),
    ],
    ids=["jpeg", "png", "gif", "webp", "zero-width"],
)
def test_corrupt_images_are_400(data: bytes) -> None:
    with pytest.raises(BadRequest):
        process_image(data)


# --- keys ----------------------------------------------------------------------------------------------------


def test_new_media_keys_are_unguessable_and_valid() -> None:
    keys = {new_media_key("jpg") for _ in range(100)}
    assert len(keys) == 100
    for key in keys:
        assert is_media_key(key)
        stem, ext = key.rsplit(".", 1)
        assert ext == "jpg"
        assert len(stem) >= 32
        assert "/" not in key
        assert "." not in stem
    assert new_media_key(".PNG").endswith(".png")
    assert new_media_key("jpeg").endswith(".jpg")


@pytest.mark.parametrize("extension", ["exe", "svg", "", "jpg/../x", "html"])
def test_new_media_key_refuses_other_extensions(extension: str) -> None:
    with pytest.raises(ValueError):
        new_media_key(extension)


@pytest.mark.parametrize(
    "key",
    [
        "../etc/passwd",
        "..%2Fetc%2Fpasswd",
        "/etc/passwd",
        "abcdefghijklmnopqrstuvwxyz/../a.jpg",
        "abcdefghijklmnopqrstuvwxyz.jpg/..",
        "abcdefghijklmnopqrstuvwxyz..jpg",
        "abcdefghijklmnopqrstuvwxyz.exe",
        "abcdefghijklmnopqrstuvwxyz.jpg\n",
        "abcdefghijklmnopqrstuvwxyz.jpg\x00.png",
        "abcdefghijklmnopqrstuvwxyzé.jpg",
        "short.jpg",
        "abcdefghijklmnopqrstuvwxyz",
        "",
    ],
)
def test_bad_keys_are_refused(key: str) -> None:
    assert not is_media_key(key)
    with pytest.raises(ValueError):
        sign_media_path(key, SECRET)
    with pytest.raises(Forbidden):
        verify_media_signature(key, "9999999999", "A" * 43, SECRET, now=0)


# --- signed URLs -----------------------------------------------------------------------------------------------


def signed(key: str, now: int = 1_000_000, ttl: int = 3600, secret: bytes | str = SECRET) -> tuple[str, str]:
    url = sign_media_path(key, secret, now=now, ttl=ttl)
    parts = urlsplit(url)
    assert parts.path == f"/media/{key}"
    query = parse_qs(parts.query)
    return query["exp"][0], query["sig"][0]


def test_signed_url_round_trip() -> None:
    key = new_media_key("png")
    exp, sig = signed(key)
    assert exp == str(1_000_000 + 3600)
    verify_media_signature(key, exp, sig, SECRET, now=1_000_000)
    verify_media_signature(key, exp, sig, SECRET, now=1_000_000 + 3600)
    # the same secret as text or bytes signs the same way
    verify_media_signature(key, exp, sig, SECRET.decode(), now=1_000_000)


def test_signed_url_uses_the_clock_by_default() -> None:
    key = new_media_key("jpg")
    url = sign_media_path(key, SECRET)
    query = parse_qs(urlsplit(url).query)
    verify_media_signature(key, query["exp"][0], query["sig"][0], SECRET)


def test_expired_signature_is_403() -> None:
    key = new_media_key("jpg")
    exp, sig = signed(key)
    with pytest.raises(Forbidden) as caught:
        verify_media_signature(key, exp, sig, SECRET, now=1_000_000 + 3601)
    assert caught.value.status == 403
    assert "expired" in caught.value.message


def test_forged_signature_is_403() -> None:
    key = new_media_key("jpg")
    exp, sig = signed(key)
    forged = ("B" if sig[0] != "B" else "C") + sig[1:]
    with pytest.raises(Forbidden):
        verify_media_signature(key, exp, forged, SECRET, now=1_000_000)
    with pytest.raises(Forbidden):
        verify_media_signature(key, exp, sig, b"another-secret", now=1_000_000)
    # moving the expiry forward breaks the signature
    with pytest.raises(Forbidden):
        verify_media_signature(key, str(int(exp) + 3600), sig, SECRET, now=1_000_000)


@pytest.mark.parametrize(("exp", "sig"), [(None, None), (None, "x"), ("123", None), ("", ""), ("123", "")])
def test_missing_signature_is_403(exp: str | None, sig: str | None) -> None:
    with pytest.raises(Forbidden):
        verify_media_signature(new_media_key("jpg"), exp, sig, SECRET, now=0)


def test_signature_for_another_key_is_403() -> None:
    key, other = new_media_key("jpg"), new_media_key("jpg")
    exp, sig = signed(key)
    with pytest.raises(Forbidden):
        verify_media_signature(other, exp, sig, SECRET, now=1_000_000)
    # nor for the same name with another extension
    with pytest.raises(Forbidden):
        verify_media_signature(key.replace(".jpg", ".png"), exp, sig, SECRET, now=1_000_000)


def test_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError):
        sign_media_path(new_media_key("jpg"), b"")


_KEY = "AbCdEfGhIjKlMnOpQrStUvWxYz012345.jpg"
_EXP, _SIG = signed(_KEY)


@settings(database=None, max_examples=300)
@given(sig=st.text(max_size=60))
def test_any_other_signature_is_refused(sig: str) -> None:
    if sig == _SIG:
        return
    with pytest.raises(Forbidden):
        verify_media_signature(_KEY, _EXP, sig, SECRET, now=1_000_000)


@settings(database=None, max_examples=300)
@given(
    index=st.integers(min_value=0, max_value=42),
    char=st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
)
def test_any_single_character_change_of_the_signature_is_refused(index: int, char: str) -> None:
    tampered = _SIG[:index] + char + _SIG[index + 1 :]
    if tampered == _SIG:
        return
    with pytest.raises(Forbidden):
        verify_media_signature(_KEY, _EXP, tampered, SECRET, now=1_000_000)


@settings(database=None, max_examples=300)
@given(exp=st.one_of(st.text(max_size=20), st.integers(min_value=0, max_value=10**13).map(str)))
def test_any_other_expiry_is_refused(exp: str) -> None:
    if exp == _EXP:
        return
    with pytest.raises(Forbidden):
        verify_media_signature(_KEY, exp, _SIG, SECRET, now=1_000_000)
