"""Schemathesis against the chat service's OpenAPI document: no input makes it answer 5xx."""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

import pytest
import uvicorn

from tests.chat.helpers import direct_chat, group_chat, send
from tests.fixtures.stack import Person, Stack

SCHEMATHESIS = Path(sys.executable).parent / "st"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.slow
@pytest.mark.timeout(110)
async def test_no_input_makes_the_chat_service_fail(
    stack: Stack, alice: Person, bob: Person, carol: Person, tmp_path: Path
) -> None:
    # Something to find for the calls that do name a real chat or user.
    chat_id = await direct_chat(alice, bob)
    await send(bob, chat_id, "hello")
    await group_chat(alice, bob, carol)

    # The chat app is already running inside the stack; serve it over real HTTP on this loop.
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(stack.apps["chat"], host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not serving.done(), "the server did not start"
            await asyncio.sleep(0.01)
        process = await asyncio.create_subprocess_exec(
            str(SCHEMATHESIS),
            "run",
            f"http://127.0.0.1:{port}/openapi.json",
            "--header",
            f"Authorization: Bearer {alice.token}",
            "--checks",
            "not_a_server_error",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "30",
            "--seed",
            "20261125",
            "--generation-database",
            "none",
            "--request-timeout",
            "20",
            # One worker: the coverage phase is not thread-safe on Python 3.11 (it compiles ASTs).
            "--workers",
            "1",
            "--no-color",
            "--report-dir",
            str(tmp_path / "report"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=tmp_path,
        )
        output, _ = await asyncio.wait_for(process.communicate(), timeout=100)
    finally:
        server.should_exit = True
        await serving
    assert process.returncode == 0, output.decode(errors="replace")[-6000:]
