"""Chat images: checked by content, re-encoded without metadata, served through signed URLs.

Everything an uploaded image goes through before it is stored lives here:

* :func:`process_image` decides the type from the bytes themselves (never the file name or the
  client's content type), refuses anything that is not JPEG, PNG, GIF or WebP, refuses images that
  would take too much memory to decode, applies the EXIF orientation, fits the picture within
  800×600 and writes a brand-new file, so no EXIF, GPS, XMP, ICC or comment survives. It is CPU
  work and synchronous: callers run it in a thread.
* :func:`new_media_key` names a stored image with an unguessable key; :func:`is_media_key` is the
  one definition of what a key may look like, so no key can ever address a path outside storage.
* :func:`sign_media_path` / :func:`verify_media_signature` hand out ``/media/<key>?exp=…&sig=…``
  links that work for a limited time and cannot be forged or moved to another key.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import io
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Final

from PIL import ExifTags, Image, ImageCms

from parley.core.errors import AppError, BadRequest, Forbidden, PayloadTooLarge, UnsupportedMediaType

MAX_IMAGE_BYTES: Final = 5 * 1024 * 1024
# Decoding needs about 4 bytes per pixel; 40 megapixels covers every phone camera while keeping a
# single upload far from exhausting the service's memory.
MAX_IMAGE_PIXELS: Final = 40_000_000
MAX_WIDTH: Final = 800
MAX_HEIGHT: Final = 600
# Animations stay animated only while they are cheap: every frame is decoded, resized and kept in
# memory until the new file is written.
MAX_ANIMATION_FRAMES: Final = 100
MAX_ANIMATION_PIXELS: Final = 24_000_000
JPEG_QUALITY: Final = 85
WEBP_QUALITY: Final = 85
MEDIA_URL_TTL_SECONDS: Final = 3600

# Extension (as used in media keys) → content type of the files Parley writes.
CONTENT_TYPES: Final[dict[str, str]] = {
    "jpg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
}

UNSUPPORTED_MESSAGE: Final = "Only JPG, PNG, GIF and WebP images are allowed"
_TOO_LARGE_MESSAGE: Final = "Images can be at most 5 MB"
_TOO_MANY_PIXELS_MESSAGE: Final = "This image is too large to process (at most 40 megapixels)"
_DAMAGED_MESSAGE: Final = "This image is damaged or incomplete"

# Pillow format name → (extension, content type) of what we write for it. MPO is how Pillow names
# the multi-picture JPEGs many phone cameras produce; they are JPEGs and are stored as such.
_OUTPUT: Final[dict[str, str]] = {"JPEG": "jpg", "MPO": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp"}
_ANIMATABLE: Final = frozenset({"PNG", "GIF", "WEBP"})

_ORIENTATION_TRANSPOSE: Final[dict[int, Image.Transpose]] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SWAPS_AXES: Final = frozenset({5, 6, 7, 8})

_KEY_RE: Final = re.compile(r"[A-Za-z0-9_-]{16,64}\.(?:jpg|png|gif|webp)", re.ASCII)
# No leading zeros: one expiry has exactly one spelling, so it has exactly one valid signature.
_EXP_RE: Final = re.compile(r"[1-9][0-9]{0,11}", re.ASCII)
_SIG_RE: Final = re.compile(r"[A-Za-z0-9_-]{43}", re.ASCII)
_SIGNING_CONTEXT: Final = b"parley.media.v1"


@dataclass(frozen=True, slots=True)
class ProcessedImage:
    """A re-encoded image, ready to store: no metadata, fitted within 800×600."""

    data: bytes = field(repr=False)
    content_type: str
    extension: str
    width: int
    height: int
    animated: bool


# --- image processing -----------------------------------------------------------------------------


def process_image(data: bytes) -> ProcessedImage:
    """Check an uploaded image by its content and re-encode it without metadata, fitted to 800×600.

    Raises :class:`PayloadTooLarge` above :data:`MAX_IMAGE_BYTES`, :class:`UnsupportedMediaType`
    unless the bytes are a JPEG, PNG, GIF or WebP, and :class:`BadRequest` for images that are
    damaged, truncated or too many pixels to decode safely. CPU-bound: run it in a thread.
    """
    if len(data) > MAX_IMAGE_BYTES:
        raise PayloadTooLarge(_TOO_LARGE_MESSAGE)
    fmt = _sniff_format(data)
    if fmt is None:
        raise UnsupportedMediaType(UNSUPPORTED_MESSAGE)
    try:
        with Image.open(io.BytesIO(data), formats=[fmt]) as img:
            return _reencode(img)
    except AppError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BadRequest(_TOO_MANY_PIXELS_MESSAGE) from exc
    except Exception as exc:
        # The magic bytes matched, so whatever a decoder raises from here on (OSError for truncated
        # data, SyntaxError, ValueError, struct.error … depending on the plugin) means the upload is
        # broken, and a broken upload is the client's mistake, never a 500.
        raise BadRequest(_DAMAGED_MESSAGE) from exc


def _sniff_format(data: bytes) -> str | None:
    """The Pillow format the leading bytes announce, among the four we accept."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if len(data) >= 12 and data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def _check_pixels(img: Image.Image) -> None:
    """Refuse before decoding when the declared size would cost too much memory."""
    width, height = img.size
    if width <= 0 or height <= 0:
        raise BadRequest(_DAMAGED_MESSAGE)
    if width * height > MAX_IMAGE_PIXELS:
        raise BadRequest(_TOO_MANY_PIXELS_MESSAGE)


def _reencode(img: Image.Image) -> ProcessedImage:
    fmt = img.format or ""
    extension = _OUTPUT.get(fmt)
    if extension is None:  # pragma: no cover - Image.open was limited to the sniffed format
        raise UnsupportedMediaType(UNSUPPORTED_MESSAGE)
    _check_pixels(img)

    frame_count = int(getattr(img, "n_frames", 1)) if fmt in _ANIMATABLE else 1
    # Counting GIF frames walks the file, and a GIF frame may grow the canvas: check again.
    _check_pixels(img)
    width, height = img.size
    animate = 1 < frame_count <= MAX_ANIMATION_FRAMES and frame_count * width * height <= (
        MAX_ANIMATION_PIXELS
    )

    orientation = _orientation(img)
    fitted = _fit(*((height, width) if orientation in _SWAPS_AXES else (width, height)))
    if fmt in ("JPEG", "MPO"):
        # Let libjpeg decode at 1/2, 1/4 or 1/8 scale when the photo is far larger than the result;
        # the final resize still has at least twice the pixels it needs.
        draft_size = (fitted[1], fitted[0]) if orientation in _SWAPS_AXES else fitted
        img.draft(None, (draft_size[0] * 2, draft_size[1] * 2))

    target = "JPEG" if extension == "jpg" else fmt
    frames: list[Image.Image] = []
    durations: list[int] = []
    srgb: _ColorTransform | None = None
    for index in range(frame_count if animate else 1):
        img.seek(index)
        _check_pixels(img)
        img.load()
        if index == 0:
            srgb = _srgb_transform(img)
        frame = _prepare_frame(img, orientation, fitted, target, srgb)
        frames.append(frame)
        durations.append(int(img.info.get("duration") or 100))

    out = io.BytesIO()
    first, rest = frames[0], frames[1:]
    if target == "JPEG":
        first.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    elif target == "PNG":
        options: dict[str, object] = {"optimize": True}
        if rest:
            options.update(save_all=True, append_images=rest, duration=durations, loop=_loop(img, 0))
        first.save(out, format="PNG", **options)
    elif target == "WEBP":
        options = {"quality": WEBP_QUALITY, "method": 4}
        if rest:
            options.update(save_all=True, append_images=rest, duration=durations, loop=_loop(img, 0))
        first.save(out, format="WEBP", **options)
    else:
        options = {}
        if rest:
            # Every frame is a full picture, so each one replaces the last (disposal 2) and
            # transparent pixels never show the previous frame through.
            options.update(save_all=True, append_images=rest, duration=durations, disposal=2)
            loop = _loop(img, None)
            if loop is not None:  # a GIF without a loop count plays once; keep it that way
                options["loop"] = loop
        first.save(out, format="GIF", **options)

    return ProcessedImage(
        data=out.getvalue(),
        content_type=CONTENT_TYPES[extension],
        extension=extension,
        width=first.width,
        height=first.height,
        animated=bool(rest),
    )


def _orientation(img: Image.Image) -> int:
    """The EXIF orientation (1–8) of the first frame; 1 when absent or unreadable.

    A PNG may carry its EXIF after the pixel data, so the first frame is loaded first, as
    ``ImageOps.exif_transpose`` does. Broken EXIF does not make the picture unusable.
    """
    img.seek(0)
    if img.format == "PNG":
        img.load()
    try:
        value = img.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:  # malformed EXIF blocks raise all sorts of errors; the pixels are still fine
        return 1
    return value if isinstance(value, int) and value in range(1, 9) else 1


def _fit(width: int, height: int) -> tuple[int, int]:
    """The largest size within 800×600 with the same aspect ratio, never larger than the original."""
    scale = min(MAX_WIDTH / width, MAX_HEIGHT / height, 1.0)
    return max(1, round(width * scale)), max(1, round(height * scale))


@dataclass(frozen=True, slots=True)
class _ColorTransform:
    transform: ImageCms.ImageCmsTransform
    mode: str


def _srgb_transform(img: Image.Image) -> _ColorTransform | None:
    """A transform from the embedded ICC profile to sRGB, or None.

    The profile is dropped with the rest of the metadata, so its colours are baked into the pixels
    first: wide-gamut phone photos keep their look and CMYK prints are converted properly. A profile
    LittleCMS cannot use is ignored rather than failing the upload.
    """
    icc = img.info.get("icc_profile")
    if not isinstance(icc, bytes) or not icc or img.mode not in ("RGB", "RGBA", "CMYK"):
        return None
    out_mode = "RGBA" if img.mode == "RGBA" else "RGB"
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        transform = ImageCms.buildTransform(
            source,
            ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")),
            img.mode,
            out_mode,
            renderingIntent=ImageCms.Intent.PERCEPTUAL,
        )
    except Exception:  # invalid or unsupported profile: fall back to the untransformed pixels
        return None
    return _ColorTransform(transform, img.mode)


def _prepare_frame(
    img: Image.Image,
    orientation: int,
    size: tuple[int, int],
    target: str,
    srgb: _ColorTransform | None,
) -> Image.Image:
    """One frame turned upright, in a plain mode, resized, in sRGB, as a fresh metadata-free image."""
    frame = img.transpose(_ORIENTATION_TRANSPOSE[orientation]) if orientation != 1 else img
    frame = _plain_mode(frame)
    if frame.size != size:
        frame = frame.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    if srgb is not None and frame.mode == srgb.mode:
        # A transform LittleCMS cannot apply is treated like an unreadable profile: pixels as they are.
        with contextlib.suppress(ImageCms.PyCMSError):
            frame = ImageCms.applyTransform(frame, srgb.transform) or frame
    has_alpha = frame.mode in ("RGBA", "LA") and target != "JPEG"
    mode = "L" if target == "PNG" and frame.mode == "L" else ("RGBA" if has_alpha else "RGB")
    if frame.mode != mode:
        frame = frame.convert(mode)
    # A new image carries nothing but pixels: no info dict (EXIF, XMP, ICC, comments, GIF
    # extensions, PNG text chunks) can reach the encoder, whatever Pillow copies along.
    clean = Image.new(mode, frame.size)
    clean.paste(frame)
    return clean


def _plain_mode(frame: Image.Image) -> Image.Image:
    """Convert the many modes decoders produce to L, LA, RGB, RGBA or CMYK, keeping transparency."""
    mode = frame.mode
    if mode in ("L", "LA", "RGB", "RGBA", "CMYK") and "transparency" not in frame.info:
        return frame
    if mode.startswith("I"):
        # 16-bit greyscale: scale to 8 bits instead of letting everything above 255 turn white.
        return frame.point(_scale_16_to_8).convert("L")
    if mode == "1":
        return frame.convert("L")
    has_alpha = "transparency" in frame.info or mode in ("PA", "LA", "RGBA", "RGBa", "La")
    return frame.convert("RGBA" if has_alpha else "RGB")


def _scale_16_to_8(value: int) -> float:
    return value / 257


def _loop(img: Image.Image, default: int | None) -> int | None:
    img.seek(0)
    loop = img.info.get("loop", default)
    return loop if isinstance(loop, int) else default


# --- keys and signed URLs ---------------------------------------------------------------------------


def new_media_key(extension: str) -> str:
    """A fresh, unguessable storage key such as ``"Xq3…_9a.jpg"`` for an image of that extension."""
    ext = extension.lower().removeprefix(".")
    ext = "jpg" if ext == "jpeg" else ext
    if ext not in CONTENT_TYPES:
        raise ValueError(f"unsupported media extension {extension!r}")
    return f"{secrets.token_urlsafe(24)}.{ext}"


def is_media_key(key: str) -> bool:
    """Whether ``key`` has the exact shape of a key from :func:`new_media_key`.

    Only letters, digits, ``-`` and ``_`` followed by one known extension: no slash, no ``..``, no
    control characters, so a key can be joined to a directory or an object prefix safely.
    """
    return isinstance(key, str) and _KEY_RE.fullmatch(key) is not None


def content_type_for_key(key: str) -> str:
    """The content type of the image a key names, from its extension."""
    return CONTENT_TYPES.get(key.rpartition(".")[2], "application/octet-stream")


def sign_media_path(
    key: str,
    secret: bytes | str,
    *,
    now: int | None = None,
    ttl: int = MEDIA_URL_TTL_SECONDS,
) -> str:
    """A signed path ``/media/<key>?exp=<unix time>&sig=<signature>`` valid for ``ttl`` seconds."""
    if not is_media_key(key):
        raise ValueError("not a media key")
    if ttl <= 0:
        raise ValueError("ttl must be positive")
    issued = int(time.time()) if now is None else now
    exp = str(issued + ttl)
    return f"/media/{key}?exp={exp}&sig={_signature(key, exp, secret)}"


def verify_media_signature(
    key: str,
    exp: str | None,
    sig: str | None,
    secret: bytes | str,
    *,
    now: int | None = None,
) -> None:
    """Accept a media link only with an authentic, unexpired signature for this very key.

    Raises :class:`Forbidden` for a missing, malformed, forged or expired signature, or a key that
    could not have been issued. The signature is compared in constant time.
    """
    if not exp or not sig:
        raise Forbidden("This image link is missing its signature")
    if not is_media_key(key) or _EXP_RE.fullmatch(exp) is None or _SIG_RE.fullmatch(sig) is None:
        raise Forbidden("This image link is not valid")
    if not hmac.compare_digest(_signature(key, exp, secret), sig):
        raise Forbidden("This image link is not valid")
    current = int(time.time()) if now is None else now
    if int(exp) < current:
        raise Forbidden("This image link has expired")


def _signature(key: str, exp: str, secret: bytes | str) -> str:
    """URL-safe base64 (unpadded) HMAC-SHA256 over a context label, the key and the expiry."""
    secret_bytes = secret.encode() if isinstance(secret, str) else secret
    if not secret_bytes:
        raise ValueError("the media signing secret must not be empty")
    # The label keeps these MACs apart from anything else signed with the same secret (JWTs).
    message = b"\n".join((_SIGNING_CONTEXT, key.encode(), exp.encode()))
    digest = hmac.new(secret_bytes, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
