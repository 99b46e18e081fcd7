"""The ``parley`` command as an operator runs it: a real process on a real port."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

PARLEY = [sys.executable, "-m", "parley.cli"]
# Random-looking, as a generated secret is (a test value, never used anywhere real).
PRODUCTION_SECRET = "Zq8x7Yp2Lm4Nc6Vb9Tr1Hs3Kd5Fg0JwEaUi"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [*PARLEY, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT", "TMPDIR")}
    return {**keep, "PYTHONUNBUFFERED": "1"}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_URL", "mysql://nope"),
        ("OTP_MAX_ATTEMPTS", "many"),
        ("REDIS_URL", "http://not-redis"),
        ("SMTP_TLS", "maybe"),
    ],
)
def test_bad_setting_stops_with_one_line_naming_it(
    env: dict[str, str], tmp_path: Path, name: str, value: str
) -> None:
    result = run(["serve", "user", "--no-migrate"], {**env, name: value}, tmp_path)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert name in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("service", "name", "value"),
    [
        ("chat", "MEDIA_STORAGE", "ftp://somewhere/media"),
        ("mail", "MAIL_FROM", "not an address"),
    ],
)
def test_a_setting_checked_by_the_service_stops_it_with_one_line(
    env: dict[str, str], tmp_path: Path, service: str, name: str, value: str
) -> None:
    extra = {"SMTP_HOST": "127.0.0.1"} if service == "mail" else {}
    result = run(["serve", service, "--no-migrate"], {**env, **extra, name: value}, tmp_path)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert name in lines[0]


def test_the_web_service_needs_the_services_it_routes_to(env: dict[str, str], tmp_path: Path) -> None:
    result = run(["serve", "web"], {**env, "CHAT_SERVICE": "http://127.0.0.1:5002"}, tmp_path)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "USER_SERVICE" in lines[0]


def test_production_mail_needs_smtp(env: dict[str, str], tmp_path: Path) -> None:
    production = {**env, "PARLEY_ENV": "production", "JWT_SECRET": PRODUCTION_SECRET}
    result = run(["serve", "mail"], production, tmp_path)
    assert result.returncode == 2
    assert "SMTP_HOST" in result.stderr
    assert "DEV_MAILBOX" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_short_jwt_secret_is_refused(env: dict[str, str], tmp_path: Path) -> None:
    result = run(["serve", "user", "--no-migrate"], {**env, "JWT_SECRET": "x" * 31}, tmp_path)
    assert result.returncode == 2
    assert "JWT_SECRET" in result.stderr
    assert "32" in result.stderr


def test_production_without_jwt_secret_is_refused(env: dict[str, str], tmp_path: Path) -> None:
    result = run(["serve", "user", "--no-migrate"], {**env, "PARLEY_ENV": "production"}, tmp_path)
    assert result.returncode == 2
    assert "JWT_SECRET" in result.stderr


@pytest.fixture
def parley_up(env: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    proc = subprocess.Popen(  # noqa: S603
        [*PARLEY, "up", "--port", str(port), "--data-dir", str(tmp_path / "data")],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            out = proc.stdout.read() if proc.stdout else ""
            proc.kill()
            raise AssertionError(f"parley up did not start:\n{out}")
        time.sleep(0.1)
    yield base, proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


async def test_parley_up_runs_login_end_to_end(parley_up: tuple[str, subprocess.Popen[str]]) -> None:
    base, proc = parley_up
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        page = await client.get("/")
        assert page.status_code == 200
        assert "Parley" in page.text
        email = "Operator@Example.com "
        assert (await client.post("/api/v1/login", json={"email": email})).status_code == 200
        deadline = time.monotonic() + 15
        while True:
            mails = (await client.get("/dev/mail/messages")).json()
            mine = [m for m in mails if m["to"] == "operator@example.com"]
            if mine or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        assert mine, "the login code never reached the dev mailbox"
        match = re.search(r"\b(\d{6})\b", mine[0]["body"])
        assert match
        verified = await client.post("/api/v1/verify", json={"email": email, "otp": match.group(1)})
        assert verified.status_code == 200, verified.text
        token = verified.json()["token"]
        me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["email"] == "operator@example.com"
        assert me.json()["name"] == "operator"
        spec = (await client.get("/openapi.json")).json()
        assert "/api/v1/login" in spec["paths"]
        assert "/api/v1/verify" in spec["paths"]
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    # The code is shown in the terminal (dev mailbox), the way an operator reads it.
    assert match.group(1) in out


# Operator traps.


def start(args: list[str], env: dict[str, str], cwd: Path, url: str) -> subprocess.Popen[str]:
    """``parley <args>`` running and answering ``url``/healthz."""
    proc = subprocess.Popen(  # noqa: S603
        [*PARLEY, *args], env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            out = proc.stdout.read() if proc.stdout else ""
            proc.kill()
            raise AssertionError(f"parley {' '.join(args)} did not start:\n{out}")
        time.sleep(0.1)


def stop(proc: subprocess.Popen[str]) -> str:
    """Stop it as an operator does (Ctrl+C); everything it printed."""
    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_serve_listens_where_the_env_file_says(env: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / ".env").write_text(f"HOST=127.0.0.1\nPORT={port}\n")
    proc = start(["serve", "mail"], env, tmp_path, f"http://127.0.0.1:{port}")
    stop(proc)


def example_value(name: str) -> str:
    text = (Path(__file__).resolve().parent.parent / "deploy" / "microservices.env.example").read_text()
    found = re.search(rf"^{name}=(.*)$", text, re.MULTILINE)
    assert found, name
    return found.group(1).strip()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("JWT_SECRET", example_value("JWT_SECRET")),
        ("JWT_SECRET", "change-me-" + "a" * 30),
        ("JWT_SECRET", "a" * 40),
        ("METRICS_TOKEN", "short-token"),
    ],
)
def test_production_refuses_placeholder_and_short_secrets(
    env: dict[str, str], tmp_path: Path, name: str, value: str
) -> None:
    production = {
        **env,
        "PARLEY_ENV": "production",
        "JWT_SECRET": PRODUCTION_SECRET,
        "SMTP_HOST": "mail.test",
    }
    result = run(["serve", "chat", "--no-migrate"], {**production, name: value}, tmp_path)
    assert result.returncode == 2
    assert name in one_line(result)


def test_a_production_user_service_needs_a_broker(env: dict[str, str], tmp_path: Path) -> None:
    production = {**env, "PARLEY_ENV": "production", "JWT_SECRET": PRODUCTION_SECRET}
    result = run(["serve", "user", "--no-migrate"], production, tmp_path)
    assert result.returncode == 2
    assert "AMQP_URL" in one_line(result)


def test_an_unreachable_broker_is_one_line(env: dict[str, str], tmp_path: Path) -> None:
    broker = {**env, "AMQP_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}/"}
    result = run(["serve", "user", "--no-migrate"], broker, tmp_path)
    assert result.returncode == 1
    line = one_line(result)
    assert "RabbitMQ" in line and "guest" not in line


def test_a_busy_port_is_one_line_with_a_hint(env: dict[str, str], tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(["up", "--port", str(port), "--data-dir", str(tmp_path / "data")], env, tmp_path)
    assert result.returncode != 0
    assert "--port" in one_line(result)
    assert "Parley is up" not in result.stdout + result.stderr


def test_a_bad_log_level_is_one_line(env: dict[str, str], tmp_path: Path) -> None:
    result = run(["up", "--port", str(free_port())], {**env, "LOG_LEVEL": "loud"}, tmp_path)
    assert result.returncode == 2
    assert "LOG_LEVEL" in one_line(result)


def test_up_says_which_backends_a_leftover_env_file_chose_and_honours_log_level(
    env: dict[str, str], tmp_path: Path
) -> None:
    from tests.fixtures.backends import REDIS_URL

    (tmp_path / ".env").write_text(f"REDIS_URL={REDIS_URL}\nLOG_LEVEL=WARNING\n")
    port = free_port()
    args = ["up", "--host", "0.0.0.0", "--port", str(port), "--data-dir", str(tmp_path / "data")]  # noqa: S104
    proc = start(args, env, tmp_path, f"http://127.0.0.1:{port}")
    httpx.post(f"http://127.0.0.1:{port}/api/v1/login", json={"email": "x@example.com"}, timeout=10)
    out = stop(proc)
    assert ".env" in out
    assert "Redis 127.0.0.1:6379" in out
    assert "SQLite" in out
    assert "Warning" in out and "DEV_MAILBOX=true" in out, "a non-loopback --host is flagged"
    assert "http.request" not in out, "LOG_LEVEL=WARNING keeps request lines out"


def test_up_files_are_private_to_their_owner(
    parley_up: tuple[str, subprocess.Popen[str]], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    for name in ("", "user.db", "chat.db", "jwt_secret"):
        assert (data / name).stat().st_mode & 0o077 == 0, name or "the data folder"
    stop(parley_up[1])
