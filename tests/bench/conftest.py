"""The bench's fixtures: a real ``parley up`` to run against."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

PARLEY = [sys.executable, "-m", "parley.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def start_parley(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], tuple[str, int]]]:
    """Starts ``parley up`` on a free port with a temp data dir; its URL and pid."""
    procs: list[subprocess.Popen[str]] = []
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT", "TMPDIR")}

    def start(extra: dict[str, str]) -> tuple[str, int]:
        port = free_port()
        proc = subprocess.Popen(  # noqa: S603
            [*PARLEY, "up", "--port", str(port), "--data-dir", str(tmp_path / f"data-{port}")],
            env={**keep, "PYTHONUNBUFFERED": "1", **extra},
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        procs.append(proc)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    return base, proc.pid
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"parley up did not start (exit {proc.poll()})")
            time.sleep(0.1)

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
