"""What decoding images may cost: small files declaring many pixels, and many uploads at once.

The promise (CONTRACT §3): six concurrent uploads of any accepted image raise the chat service's
peak memory by at most 400 MiB. Pillow's buffers are C allocations that tracemalloc does not see,
so each case runs in a fresh child process that reports the rise of its resident-set high-water
mark (``ru_maxrss``) while it processes six copies at once, the way the service does.
"""

from __future__ import annotations

import asyncio
import io
import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from PIL import Image

from parley.chat.errors import ImagesBusy
from parley.core.errors import BadRequest
from parley.core.media.images import DecodeBudget, decode_cost, process_image, process_upload

PROMISED_MIB = 400


def encode(img: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, **options)
    return out.getvalue()


def blank_png(width: int, height: int, colour_type: int = 6) -> bytes:
    """A valid, fully decodable PNG of one colour, compressed row by row (never whole in memory)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    channels = {0: 1, 2: 3, 6: 4}[colour_type]
    row = b"\x00" + bytes([90, 40, 200, 128][:channels]) * width
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def lossless_webp(width: int, height: int) -> bytes:
    return encode(Image.new("RGBA", (width, height), (90, 40, 200, 128)), "WEBP", lossless=True)


def progressive_jpeg(width: int, height: int) -> bytes:
    """Progressive, full-resolution colour (4:4:4): libjpeg keeps every coefficient of it."""
    img = Image.new("RGB", (width, height), (90, 40, 200))
    return encode(img, "JPEG", progressive=True, quality=5, subsampling=0)


def long_gif(frames: int, size: tuple[int, int]) -> bytes:
    images = [Image.new("P", size, i % 250) for i in range(frames)]
    return encode(images[0], "GIF", save_all=True, append_images=images[1:], duration=40, loop=0)


# The most expensive images Parley accepts, each a few kilobytes: a lossless WebP just under its
# cost limit, 38-megapixel PNGs (RGBA and palette), a 38-megapixel progressive JPEG and a long GIF.
WORST_CASES = {
    "webp-lossless-15mp": lambda: lossless_webp(4000, 3800),
    "png-rgba-38mp": lambda: blank_png(6400, 6000),
    "png-grey-38mp": lambda: blank_png(6400, 6000, colour_type=0),
    "jpeg-progressive-38mp": lambda: progressive_jpeg(6400, 6000),
    "gif-50-frames": lambda: long_gif(50, (800, 600)),
}

_CHILD = """
import asyncio, io, json, resource, sys
from PIL import Image
from parley.chat.errors import ImagesBusy
from parley.core.media.images import process_upload

def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

async def main(data):
    # Load every plugin and start the decoding threads before measuring.
    for fmt in ("JPEG", "PNG", "GIF", "WEBP"):
        out = io.BytesIO()
        Image.new("RGB", (8, 8)).save(out, format=fmt)
        await process_upload(out.getvalue())
    before = peak()

    async def one():
        try:
            await process_upload(data)
        except ImagesBusy:
            return "busy"
        return "ok"

    outcomes = await asyncio.gather(*(one() for _ in range(6)))
    print(json.dumps({"rise": peak() - before, "outcomes": outcomes}))

asyncio.run(main(open(sys.argv[1], "rb").read()))
"""


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(WORST_CASES))
def test_six_concurrent_worst_case_uploads_stay_within_400_mib(case: str, tmp_path: Path) -> None:
    data = WORST_CASES[case]()
    assert len(data) < 1024 * 1024
    process_image(data)  # accepted: this is an image users may send
    path = tmp_path / "image"
    path.write_bytes(data)
    done = subprocess.run(  # noqa: S603 - the test's own interpreter and script
        [sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True, timeout=100, check=False
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert set(report["outcomes"]) <= {"ok", "busy"}
    assert "ok" in report["outcomes"]
    assert report["rise"] <= PROMISED_MIB * 1024 * 1024, f"{case}: {report['rise'] / 2**20:.0f} MiB"


def test_a_tiny_lossless_webp_of_39_megapixels_is_refused_before_decoding() -> None:
    data = lossless_webp(6400, 6100)
    assert len(data) < 2000
    with pytest.raises(BadRequest) as caught:
        decode_cost(data)
    assert caught.value.status == 400
    with pytest.raises(BadRequest):
        process_image(data)


def test_large_images_are_decoded_at_reduced_cost() -> None:
    """A big baseline JPEG is decoded scaled down; a big PNG costs about its decoded size."""
    photo = encode(Image.new("RGB", (6400, 4800), (1, 2, 3)), "JPEG", quality=50)
    png = blank_png(6400, 6000)
    assert decode_cost(photo) < 200 * 1024 * 1024
    assert 6400 * 6000 * 4 <= decode_cost(png) < 6400 * 6000 * 6


def test_reduced_decoding_keeps_the_picture() -> None:
    img = Image.new("RGB", (4000, 3000), (250, 10, 10))
    img.paste((10, 10, 250), (2000, 0, 4000, 3000))
    for fmt in ("PNG", "WEBP", "JPEG"):
        result = process_image(encode(img, fmt))
        out = Image.open(io.BytesIO(result.data)).convert("RGB")
        assert out.size == (800, 600)
        left, right = out.getpixel((200, 300)), out.getpixel((600, 300))
        assert isinstance(left, tuple) and isinstance(right, tuple)
        assert left[0] > 200 and left[2] < 60, fmt
        assert right[2] > 200 and right[0] < 60, fmt


# --- the budget ---------------------------------------------------------------------------------------


async def test_a_decode_that_does_not_fit_waits_for_one_to_finish() -> None:
    budget = DecodeBudget(100, wait=5)
    await budget.reserve(60)
    waiting = asyncio.create_task(budget.reserve(60))
    await asyncio.sleep(0)
    assert not waiting.done()
    budget.release(60)
    await asyncio.wait_for(waiting, 5)
    assert budget.used == 60


async def test_a_decode_that_waits_too_long_is_503_with_retry_after() -> None:
    budget = DecodeBudget(100, wait=0.05)
    await budget.reserve(100)
    with pytest.raises(ImagesBusy) as caught:
        await budget.reserve(1)
    assert caught.value.status == 503
    assert int(caught.value.headers["Retry-After"]) >= 1
    budget.release(100)
    assert budget.used == 0
    await budget.reserve(100)  # the one that gave up holds nothing


async def test_a_cancelled_waiter_lets_the_next_one_in() -> None:
    budget = DecodeBudget(100, wait=5)
    await budget.reserve(50)
    big = asyncio.create_task(budget.reserve(100))
    small = asyncio.create_task(budget.reserve(50))
    await asyncio.sleep(0)
    assert not big.done() and not small.done()  # first come, first served
    big.cancel()
    await asyncio.wait_for(small, 5)
    assert budget.used == 100


async def test_process_upload_gives_its_reservation_back() -> None:
    budget = DecodeBudget(512 * 1024 * 1024, wait=5)
    result = await process_upload(encode(Image.new("RGB", (1600, 1200)), "PNG"), budget)
    assert (result.width, result.height) == (800, 600)
    assert budget.used == 0
    with pytest.raises(BadRequest):
        await process_upload(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, budget)
    assert budget.used == 0
