"""What a browser test needs besides the browser: a running Parley, its dev mailbox, a test image."""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from PIL import Image

PARLEY = [sys.executable, "-m", "parley.cli"]
OTP = re.compile(r"\b(\d{6})\b")
START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def parley_up(
    data_dir: Path, settings: dict[str, str] | None = None, port: int | None = None
) -> Iterator[str]:
    """``parley up`` on ``port`` (default a free one) with its data in ``data_dir`` and the given
    extra settings (environment variables); yields the site's base URL. Started again with the
    same directory and port, it is the same site after a restart."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT", "TMPDIR")}
    env = {**keep, "PYTHONUNBUFFERED": "1", "LOG_FORMAT": "json", **(settings or {})}
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "parley-up.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(  # noqa: S603
            [*PARLEY, "up", "--port", str(port), "--data-dir", str(data_dir / "data")],
            env=env,
            cwd=data_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"parley up did not start:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.1)
        yield base
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def mails_to(base_url: str, email: str) -> list[dict[str, str]]:
    """The dev mailbox's mails to ``email``, newest first."""
    response = httpx.get(f"{base_url}/dev/mail/messages", timeout=5)
    assert response.status_code == 200, response.text
    return [m for m in response.json() if m["to"] == email]


def wait_for_code(base_url: str, email: str, seen: int = 0, timeout: float = 20) -> str:
    """The login code in the newest mail to ``email``, once more than ``seen`` mails reached it."""
    deadline = time.monotonic() + timeout
    while True:
        mails = mails_to(base_url, email)
        if len(mails) > seen:
            match = OTP.search(mails[0]["body"])
            assert match, f"the mail to {email} carries no six-digit code"
            return match.group(1)
        assert time.monotonic() < deadline, f"no login code reached {email} within {timeout}s"
        time.sleep(0.1)


def png_bytes(width: int = 640, height: int = 480) -> bytes:
    """A small generated PNG: four coloured quarters, easy to tell apart in a screenshot."""
    image = Image.new("RGB", (width, height), (37, 99, 235))
    quarter = (width // 2, height // 2)
    image.paste((234, 88, 12), (quarter[0], 0, width, quarter[1]))
    image.paste((22, 163, 74), (0, quarter[1], quarter[0], height))
    image.paste((250, 204, 21), (quarter[0], quarter[1], width, height))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
