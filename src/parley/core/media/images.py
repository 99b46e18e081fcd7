"""Uploaded images: checked by content, re-encoded without metadata, served through signed URLs.

Everything an uploaded image goes through before it is stored lives here:

* :func:`process_image` decides the type from the bytes themselves (never the file name or the
  client's content type), refuses anything that is not JPEG, PNG, GIF or WebP, refuses images that
  would take too much memory to decode, applies the EXIF orientation, fits the picture within
  800×600 and writes a brand-new file, so no EXIF, GPS, XMP, ICC or comment survives. It is CPU
  work and synchronous; :func:`process_upload` runs it on the decoding threads, within the
  process's decoding memory budget (:class:`DecodeBudget`).
* :func:`process_avatar` goes through the same steps and cuts the upright picture to a centred
  square in the avatar sizes (:data:`AVATAR_SIZES`); :func:`process_avatar_upload` runs it within
  the same budget.
* :func:`new_media_key` names a stored image with an unguessable key; :func:`is_media_key` is the
  one definition of what a key may look like, so no key can ever address a path outside storage.
* :func:`sign_media_path` / :func:`verify_media_signature` hand out ``/media/<key>?exp=…&sig=…``
  links that work for a limited time and cannot be forged or moved to another key.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ctypes
import functools
import hashlib
import hmac
import io
import re
import secrets
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Final, TypeVar

from PIL import ExifTags, Image, ImageCms

from parley.core.errors import (
    AppError,
    BadRequest,
    Forbidden,
    PayloadTooLarge,
    ServiceUnavailable,
    UnsupportedMediaType,
)

MAX_IMAGE_BYTES: Final = 5 * 1024 * 1024
# 40 megapixels covers every phone camera. What an image may cost to decode is bounded further by
# memory (see the decoding budget below): a tiny lossless WebP or PNG can declare many megapixels.
MAX_IMAGE_PIXELS: Final = 40_000_000
MAX_WIDTH: Final = 800
MAX_HEIGHT: Final = 600
# Animations stay animated only while they are cheap: every frame is decoded, resized and kept in
# memory until the new file is written.
MAX_ANIMATION_FRAMES: Final = 100
MAX_ANIMATION_PIXELS: Final = 24_000_000
JPEG_QUALITY: Final = 85
WEBP_QUALITY: Final = 85
# Avatars: a centred square in each of these sizes (pixels), the largest first; always WebP.
AVATAR_SIZES: Final = (256, 64)
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
_TOO_COSTLY_MESSAGE: Final = "This image has too many pixels to process; please send a smaller one"
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

# --- what decoding may cost ---
# Every decode in the process together may hold at most this much memory (six concurrent uploads of
# any accepted image must raise the service's peak memory by at most 400 MiB). Each decode reserves
# its estimated cost before it starts; an image that alone would cost more is refused (400), one that
# does not fit yet waits for others to finish, at most DECODE_WAIT_SECONDS (then 503, Retry-After).
DECODE_BUDGET_BYTES: Final = 320 * 1024 * 1024
DECODE_WAIT_SECONDS: Final = 10.0
DECODE_THREADS: Final = 4
# Bytes per pixel Pillow stores for a decoded image of each mode (4 for every other mode).
_STORED_BYTES: Final[dict[str, int]] = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}
# A WebP frame exists several times while it is decoded: libwebp's canvas, the bytes Pillow copies
# out of it and the image they are loaded into; an animation adds libwebp's previous canvas and the
# previous frame's bytes (measured: 16 and under 24 bytes per pixel).
_WEBP_BYTES_PER_PIXEL: Final = 17
_WEBP_ANIMATED_BYTES_PER_PIXEL: Final = 24
# Frames after the first of a GIF or PNG animation are composited on a canvas of the full size: the
# canvas, the previous one, the disposal area and the converted frame (measured: under 20 per pixel).
_COMPOSITED_BYTES_PER_PIXEL: Final = 20
# libjpeg keeps every DCT coefficient (2 bytes) of a progressive or multi-scan JPEG, whatever scale
# it decodes at; the cost counts it for every JPEG, as the header does not tell multi-scan files apart.
_JPEG_COEFFICIENT_BYTES: Final = 2
# The resized frame, the encoder, the output file and the decoders' own buffers.
_DECODE_OVERHEAD_BYTES: Final = 16 * 1024 * 1024
# Frames are converted and reduced a strip of about this many pixels at a time, never whole.
_STRIP_PIXELS: Final = 1_000_000
# Whole-factor reduction stops at twice the final size; the last step is a Lanczos resize.
_REDUCING_GAP: Final = 2

_KEY_RE: Final = re.compile(r"[A-Za-z0-9_-]{16,64}\.(?:jpg|png|gif|webp)", re.ASCII)
# No leading zeros: one expiry has exactly one spelling, so it has exactly one valid signature.
_EXP_RE: Final = re.compile(r"[1-9][0-9]{0,11}", re.ASCII)
_SIG_RE: Final = re.compile(r"[A-Za-z0-9_-]{43}", re.ASCII)
_SIGNING_CONTEXT: Final = b"parley.media.v1"

_T = TypeVar("_T")


class ImagesBusy(ServiceUnavailable):
    """The decoding budget stayed full: 503 with ``Retry-After``."""

    code, message = "images_busy", "Too many images are being processed right now, try again shortly"

    def __init__(self, message: str | None = None, *, retry_after: int = 5) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after))})


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
    damaged, truncated or too costly to decode safely. CPU-bound: run it in a thread (see
    :func:`process_upload`).
    """
    with _opened(data) as img:
        return _reencode(img, _plan(img))


def decode_cost(data: bytes) -> int:
    """The memory (bytes) processing these bytes may take, from the image's headers alone.

    Raises what :func:`process_image` raises for images it would refuse before decoding.
    """
    with _opened(data) as img:
        return _plan(img).cost


async def process_upload(data: bytes, budget: DecodeBudget | None = None) -> ProcessedImage:
    """:func:`process_image` on the decoding threads, once its cost fits in the decoding budget.

    Raises :class:`ImagesBusy` (503) when the budget stays full for ``budget.wait`` seconds.
    """
    return await _within_budget(decode_cost, process_image, data, budget or DECODES)


def process_avatar(data: bytes) -> list[ProcessedImage]:
    """Check an uploaded picture as :func:`process_image` does and make the avatar files from it.

    The upright picture is cut to a centred square and scaled to each of :data:`AVATAR_SIZES`
    (enlarged when it is smaller), written as brand-new WebP files: nothing of the upload's
    metadata survives, and the first frame of an animation is kept. Raises what
    :func:`process_image` raises. CPU-bound: see :func:`process_avatar_upload`.
    """
    with _opened(data) as img:
        plan = _plan(img, fit=_cover, animate=False)
        orientation = _orientation(img) if img.format == "PNG" else plan.orientation
        fitted = _cover(img.height, img.width) if orientation in _SWAPS_AXES else plan.fitted
        img.seek(0)
        _check_pixels(img)
        img.load()
        frame = _prepare_frame(img, orientation, fitted, "WEBP", _srgb_transform(img))
    side = min(frame.size)
    left, top = (frame.width - side) // 2, (frame.height - side) // 2
    square = frame.crop((left, top, left + side, top + side))
    made = []
    for size in AVATAR_SIZES:
        out = io.BytesIO()
        square.resize((size, size), Image.Resampling.LANCZOS).save(
            out, format="WEBP", quality=WEBP_QUALITY, method=4
        )
        made.append(
            ProcessedImage(
                data=out.getvalue(),
                content_type=CONTENT_TYPES["webp"],
                extension="webp",
                width=size,
                height=size,
                animated=False,
            )
        )
    return made


def avatar_decode_cost(data: bytes) -> int:
    """The memory (bytes) :func:`process_avatar` may take for these bytes, from the headers alone."""
    with _opened(data) as img:
        return _plan(img, fit=_cover, animate=False).cost


async def process_avatar_upload(data: bytes, budget: DecodeBudget | None = None) -> list[ProcessedImage]:
    """:func:`process_avatar` on the decoding threads, within the same budget as message images.

    Raises :class:`ImagesBusy` (503) when the budget stays full for ``budget.wait`` seconds.
    """
    return await _within_budget(avatar_decode_cost, process_avatar, data, budget or DECODES)


async def _within_budget(
    cost_of: Callable[[bytes], int], work: Callable[[bytes], _T], data: bytes, budget: DecodeBudget
) -> _T:
    """``work(data)`` on the decoding threads once ``cost_of(data)`` fits in ``budget``."""
    _return_freed_memory()
    loop = asyncio.get_running_loop()
    cost = await loop.run_in_executor(_DECODERS, cost_of, data)
    await budget.reserve(cost)
    try:
        job = _DECODERS.submit(work, data)
    except BaseException:
        budget.release(cost)
        raise
    # Released when the work is over (or cancelled before it started), not when the request goes
    # away: a thread cannot be stopped, and its memory is in use until it returns.
    job.add_done_callback(lambda _: budget.release(cost))
    return await asyncio.wrap_future(job)


@contextlib.contextmanager
def _opened(data: bytes) -> Iterator[Image.Image]:
    """The image the bytes hold, opened (headers only); Pillow's errors turned into 4xx."""
    if len(data) > MAX_IMAGE_BYTES:
        raise PayloadTooLarge(_TOO_LARGE_MESSAGE)
    fmt = _sniff_format(data)
    if fmt is None:
        raise UnsupportedMediaType(UNSUPPORTED_MESSAGE)
    try:
        with Image.open(io.BytesIO(data), formats=[fmt]) as img:
            yield img
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
    """Refuse before decoding when the declared size is absurd."""
    width, height = img.size
    if width <= 0 or height <= 0:
        raise BadRequest(_DAMAGED_MESSAGE)
    if width * height > MAX_IMAGE_PIXELS:
        raise BadRequest(_TOO_MANY_PIXELS_MESSAGE)


@dataclass(frozen=True, slots=True)
class _Plan:
    """How an opened image will be processed: its upright orientation, final size, frames, cost."""

    orientation: int
    fitted: tuple[int, int]
    frames: int
    cost: int


def _plan(
    img: Image.Image, *, fit: Callable[[int, int], tuple[int, int]] | None = None, animate: bool = True
) -> _Plan:
    """Decide, from the headers, how to process the image and what it costs; refuse what is too costly.

    A JPEG is set to decode at reduced size here (libjpeg scales by 1/2, 1/4 or 1/8 while decoding).
    An animation stays animated only while every frame fits in the budget (and ``animate``);
    otherwise its first frame is kept. An image whose first frame alone would not fit is refused.
    ``fit`` gives the final size of the upright picture (default: within 800×600).
    """
    fit = fit or _fit
    fmt = img.format or ""
    if fmt not in _OUTPUT:  # pragma: no cover - Image.open was limited to the sniffed format
        raise UnsupportedMediaType(UNSUPPORTED_MESSAGE)
    _check_pixels(img)
    frame_count = int(getattr(img, "n_frames", 1)) if fmt in _ANIMATABLE else 1
    # Counting GIF frames walks the file, and a GIF frame may grow the canvas: check again.
    _check_pixels(img)
    width, height = img.size
    pixels = width * height
    # A PNG may carry its EXIF after the pixels; reading it would decode them, so a PNG's upright
    # size is only known while processing (the cost does not depend on it).
    orientation = _orientation(img) if fmt != "PNG" else 1
    fitted = fit(*((height, width) if orientation in _SWAPS_AXES else (width, height)))

    if fmt in ("JPEG", "MPO"):
        # Decode at 1/2, 1/4 or 1/8 scale when the photo is far larger than the result; the final
        # resize still has at least twice the pixels it needs.
        stored = (fitted[1], fitted[0]) if orientation in _SWAPS_AXES else fitted
        img.draft(None, (stored[0] * 2, stored[1] * 2))
        first = img.width * img.height * _STORED_BYTES.get(img.mode, 4) + _jpeg_coefficients(img, pixels)
    elif fmt == "WEBP":
        first = pixels * _WEBP_BYTES_PER_PIXEL
    else:
        first = pixels * _STORED_BYTES.get(img.mode, 4)
    shrinking = _shrink_cost(img.size, fitted)
    cost = first + shrinking + _DECODE_OVERHEAD_BYTES
    if cost > DECODE_BUDGET_BYTES:
        raise BadRequest(_TOO_COSTLY_MESSAGE)

    if animate and 1 < frame_count <= MAX_ANIMATION_FRAMES and frame_count * pixels <= MAX_ANIMATION_PIXELS:
        per_pixel = _WEBP_ANIMATED_BYTES_PER_PIXEL if fmt == "WEBP" else _COMPOSITED_BYTES_PER_PIXEL
        kept = frame_count * fitted[0] * fitted[1] * 4
        animated = max(first, pixels * per_pixel) + shrinking + kept + _DECODE_OVERHEAD_BYTES
        if animated <= DECODE_BUDGET_BYTES:
            return _Plan(orientation, fitted, frame_count, animated)
    return _Plan(orientation, fitted, 1, cost)


def _reduce_factors(size: tuple[int, int], target: tuple[int, int]) -> tuple[int, int]:
    """Whole factors that reduce ``size`` to no less than twice ``target`` in each direction."""
    return (
        max(1, size[0] // (target[0] * _REDUCING_GAP)),
        max(1, size[1] // (target[1] * _REDUCING_GAP)),
    )


def _shrink_cost(size: tuple[int, int], fitted: tuple[int, int]) -> int:
    """Bytes :func:`_shrink` and the final resize hold: a strip, the reduced frame and its copy.

    The worst of both orientations, as a PNG's is only known once it is decoded.
    """
    width, height = size
    reduced = strip = 0
    for target in (fitted, (fitted[1], fitted[0])):
        fx, fy = _reduce_factors(size, target)
        reduced = max(reduced, -(-width // fx) * -(-height // fy))
        strip = max(strip, _STRIP_PIXELS, width * fy)
    # A reduced RGBA frame is copied with its alpha premultiplied while it is resized.
    return (reduced * 2 + strip * 3) * 4


def _jpeg_coefficients(img: Image.Image, pixels: int) -> int:
    """What libjpeg's coefficient buffer for the whole image takes, from the components' sampling."""
    layers = getattr(img, "layer", None) or []
    sampling = [(h, v) for _, h, v, _ in layers if h > 0 and v > 0]
    if not sampling:
        return pixels * 4 * _JPEG_COEFFICIENT_BYTES
    h_max = max(h for h, _ in sampling)
    v_max = max(v for _, v in sampling)
    share = sum(h * v / (h_max * v_max) for h, v in sampling)
    # Components are padded to whole 8×8 blocks (of the largest sampling unit at worst).
    return int(pixels * share * _JPEG_COEFFICIENT_BYTES * 1.1) + 64 * 1024


def _reencode(img: Image.Image, plan: _Plan) -> ProcessedImage:
    fmt = img.format or ""
    extension = _OUTPUT[fmt]
    orientation = plan.orientation
    if fmt == "PNG":
        orientation = _orientation(img)
    fitted = plan.fitted
    if orientation in _SWAPS_AXES:
        fitted = _fit(img.height, img.width)

    target = "JPEG" if extension == "jpg" else fmt
    frames: list[Image.Image] = []
    durations: list[int] = []
    srgb: _ColorTransform | None = None
    for index in range(plan.frames):
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


def _cover(width: int, height: int) -> tuple[int, int]:
    """The smallest size whose shorter side still covers the largest avatar, never larger than the original."""
    scale = min(AVATAR_SIZES[0] / min(width, height), 1.0)
    return max(1, round(width * scale)), max(1, round(height * scale))


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
    """One frame in a plain mode, resized, turned upright, in sRGB, as a fresh metadata-free image."""
    stored = (size[1], size[0]) if orientation in _SWAPS_AXES else size
    frame = _shrink(img, stored)
    if frame.size != stored:
        frame = frame.resize(stored, Image.Resampling.LANCZOS)
    if orientation != 1:
        frame = frame.transpose(_ORIENTATION_TRANSPOSE[orientation])
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


def _shrink(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    """The decoded frame in a plain mode, reduced by whole factors to no less than twice ``size``.

    It is done a strip at a time: converting (a palette to RGBA, say) or reducing the whole frame at
    once would hold further full-size copies, each as large as the decoded frame. Strips are whole
    multiples of the vertical factor, so the result is the same as reducing the whole frame.
    """
    width, height = img.size
    fx, fy = _reduce_factors(img.size, size)
    rows = max(fy, _STRIP_PIXELS // width // fy * fy)
    reduced: Image.Image | None = None
    for top in range(0, height, rows):
        strip = _plain_mode(img.crop((0, top, width, min(height, top + rows))))
        if fx > 1 or fy > 1:
            strip = strip.reduce((fx, fy))
        if reduced is None:
            reduced = Image.new(strip.mode, (-(-width // fx), -(-height // fy)))
        reduced.paste(strip, (0, top // fy))
    assert reduced is not None  # the frame has at least one row
    return reduced


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


# --- the decoding budget ---------------------------------------------------------------------------


class DecodeBudget:
    """How much memory the image decodes of this process may hold together.

    Each decode reserves its estimated cost first. Reservations are granted first come, first
    served; one that cannot be granted within ``wait`` seconds raises :class:`ImagesBusy`. Thread-safe
    and not tied to one event loop (waiters are woken on their own loop).
    """

    def __init__(self, total: int, wait: float) -> None:
        self.total = total
        self.wait = wait
        self._used = 0
        self._lock = threading.Lock()
        self._waiting: deque[tuple[int, asyncio.Future[None]]] = deque()

    @property
    def used(self) -> int:
        return self._used

    async def reserve(self, cost: int) -> None:
        """Wait until ``cost`` bytes fit (at most ``wait`` seconds); the caller then owes a release."""
        cost = min(cost, self.total)
        with self._lock:
            if not self._waiting and self._used + cost <= self.total:
                self._used += cost
                return
            entry = (cost, asyncio.get_running_loop().create_future())
            self._waiting.append(entry)
        try:
            await asyncio.wait_for(entry[1], self.wait)
        except BaseException as exc:
            with self._lock:
                granted = entry not in self._waiting
                if not granted:
                    self._waiting.remove(entry)
                    self._grant()  # the next ones may fit now that this one stopped waiting
            if granted and isinstance(exc, TimeoutError):
                return  # granted just as the wait ran out: the reservation stands
            if granted:
                self.release(cost)
            if isinstance(exc, TimeoutError):
                raise ImagesBusy(retry_after=max(1, round(self.wait))) from None
            raise

    def release(self, cost: int) -> None:
        """Give back what :meth:`reserve` granted."""
        with self._lock:
            self._used -= min(cost, self.total)
            self._grant()

    def _grant(self) -> None:
        while self._waiting and self._used + self._waiting[0][0] <= self.total:
            cost, waiter = self._waiting.popleft()
            self._used += cost
            with contextlib.suppress(RuntimeError):  # the waiter's loop has closed: it is gone
                waiter.get_loop().call_soon_threadsafe(_wake, waiter)


@functools.cache
def _return_freed_memory() -> None:
    """Have glibc hand large freed buffers back to the system at once, so the budget is a bound.

    By default glibc raises its mmap threshold (up to 32 MB) after the first large buffer is freed;
    later image buffers then come from per-thread arenas and stay in the process once freed, and
    with several decoding threads the peak grows well past what the decodes hold at any moment.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return
    mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)


_M_MMAP_THRESHOLD: Final = -3
_MMAP_THRESHOLD_BYTES: Final = 1024 * 1024


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


# One budget and one small pool of decoding threads per process, shared by every request.
DECODES: Final = DecodeBudget(DECODE_BUDGET_BYTES, DECODE_WAIT_SECONDS)
_DECODERS: Final = ThreadPoolExecutor(max_workers=DECODE_THREADS, thread_name_prefix="parley-image")


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
