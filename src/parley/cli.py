"""``parley``: run the whole system (``up``), one service (``serve``), or its migrations."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import importlib
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.markup import escape

from parley.core.settings import SettingError, Settings, get_settings

cli = typer.Typer(
    help="Parley: real-time chat as Python microservices.", no_args_is_help=True, add_completion=False
)
console = Console(stderr=True, soft_wrap=True)

PORTS = {"user": 5000, "mail": 5001, "chat": 5002, "web": 3000}
WITH_TABLES = ("user", "chat")


class Service(StrEnum):
    user = "user"
    chat = "chat"
    mail = "mail"
    web = "web"


class Migratable(StrEnum):
    user = "user"
    chat = "chat"


def fail(message: str, code: int = 2) -> None:
    console.print(f"[bold red]parley:[/] {escape(message)}", highlight=False)
    raise typer.Exit(code)


def load_settings(service: str | None = None) -> Settings:
    """Settings, or one clear line naming the bad variable and a non-zero exit.

    ``service``: the one service this process runs (``parley serve``), checked for production.
    """
    get_settings.cache_clear()
    try:
        settings = get_settings()
        settings.token_secret()  # required, or generated, unless only asymmetric keys are set
        if service is not None:
            settings.check_production(service)
    except SettingError as exc:
        fail(f"configuration error: {exc}")
        raise  # unreachable; fail() exits
    return settings


def migrations_dir(service: str) -> Path:
    store = importlib.import_module(f"parley.{service}.store")
    path: Path = store.MIGRATIONS_DIR
    return path


async def apply_migrations(settings: Settings, services: tuple[str, ...]) -> None:
    from parley.core.database import migrate

    for service in services:
        await migrate(settings.database_url(service), service, migrations_dir(service))


def run_migrations(settings: Settings, services: tuple[str, ...]) -> None:
    try:
        asyncio.run(apply_migrations(settings, services))
    except (OSError, ConnectionError) as exc:
        fail(f"cannot reach the database for migrations: {exc}", 1)
    except Exception as exc:
        if type(exc).__module__.startswith(("sqlalchemy", "asyncpg", "sqlite3")):
            fail(f"migrations failed: {type(exc).__name__}: {str(exc).splitlines()[0]}", 1)
        raise


def build_app(factory: Callable[[], Any]) -> Any:
    """The app ``factory`` builds, or one clear line when a setting it checks is bad."""
    try:
        return factory()
    except SettingError as exc:
        fail(f"configuration error: {exc}")


def _stopped(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _drains(app: Any) -> list[Callable[[], Awaitable[None]]]:
    """What must let go of clients before the server waits for its connections: real-time sockets."""
    apps = list(getattr(app, "services", {}).values()) or [app]
    found = [getattr(getattr(a, "state", None), "realtime", None) for a in apps]
    return [realtime.drain for realtime in found if realtime is not None]


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port``, or one line saying the port is taken (and what to do)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            fail(
                f"port {port} on {host} is already in use: stop what uses it, or pick another with --port", 1
            )
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}", 1)
    sock.set_inheritable(True)
    return sock


def where(url: str) -> str:
    """``host:port/path`` of a backend URL, without its credentials."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.hostname or ''}{port}{parts.path if parts.path not in ('', '/') else ''}"


def describe_backends(settings: Settings, services: tuple[str, ...]) -> list[str]:
    """One line per backend in use, so an operator sees what a leftover ``.env`` switched on."""
    databases = []
    for service in services:
        url = settings.database_url(service)
        kind = "SQLite" if url.startswith("sqlite") else "PostgreSQL"
        place = url.split("///", 1)[1] if kind == "SQLite" else where(url)
        databases.append(f"{service}: {kind} {place}")
    cache = "in-process" if settings.cache.embedded else f"Redis {where(settings.cache.redis_url)}"
    bus = "in-process" if settings.bus.embedded else f"RabbitMQ {where(settings.bus.url)}"
    mail = "dev mailbox" if settings.smtp.dev_mailbox else f"SMTP {settings.smtp.smtp_host}"
    return [
        f"database  {', '.join(databases)}",
        f"cache     {cache}",
        f"queue     {bus}",
        f"mail      {mail}",
    ]


def check_broker(settings: Settings) -> None:
    """Reach RabbitMQ before serving, so an unreachable broker is one line, not a traceback."""
    if settings.bus.embedded:
        return
    from parley.core.bus import BrokerUnreachable, check_broker_reachable

    try:
        asyncio.run(check_broker_reachable(settings.bus.url))
    except BrokerUnreachable as exc:
        fail(f"cannot reach RabbitMQ at {where(settings.bus.url)}: {exc}", 1)


def serve_app(app: Any, sock: socket.socket, settings: Settings) -> None:
    import uvicorn

    from parley.core.server import server_config, tune_gc

    class DrainingServer(uvicorn.Server):
        """On shutdown, closes the sockets first: a held long-poll would otherwise keep the
        server waiting for its connections until the next ping (tens of seconds)."""

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            # Stop taking connections first (uvicorn does it again, harmlessly), so nothing new
            # arrives while the sockets are let go; requests in flight still finish and their
            # events still reach the other instances.
            for server in self.servers:
                server.close()
            for drain in _drains(app):
                try:
                    await drain()
                except Exception as exc:  # the shutdown goes on regardless
                    console.print(f"parley: draining sockets failed: {exc!r}", highlight=False, markup=False)
            await super().shutdown(sockets)

    # uvicorn drains on SIGTERM, then raises the signal again with the handler found at start:
    # this one makes a graceful stop exit 0, as process managers expect.
    signal.signal(signal.SIGTERM, _stopped)
    host, port = sock.getsockname()[:2]
    config = server_config(
        app,
        host=host,
        port=port,
        max_connections=settings.app.max_connections,
        ws_per_message_deflate=settings.app.ws_per_message_deflate,
        log_config=None,
        proxy_headers=settings.limits.trust_forwarded_for,
        timeout_graceful_shutdown=20,
    )
    server = DrainingServer(config)
    tune_gc()
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl+C: uvicorn drained, then raised it again
        server.run(sockets=[sock])
    if not server.started:
        raise typer.Exit(3)  # the app did not start (uvicorn logged why)


@cli.command()
def up(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 3000,
    data_dir: Annotated[Path, typer.Option(help="Where embedded data lives.")] = Path(".parley"),
) -> None:
    """Run every service in one process on one port, with embedded backends."""
    os.environ.setdefault("PARLEY_DATA_DIR", str(data_dir))
    wildcard = host in ("0.0.0.0", "::")  # noqa: S104 only compared
    shown = "localhost" if host in LOOPBACK_HOSTS or wildcard else host
    if "PUBLIC_URL" not in os.environ and (port != 3000 or shown != "localhost"):
        os.environ["PUBLIC_URL"] = f"http://{shown}:{port}"
    settings = load_settings()
    from parley.core.logging import configure_logging

    fmt = "console" if settings.app.log_format == "auto" else settings.app.log_format
    configure_logging(fmt, settings.app.log_level, ref_secret=settings.log_ref_secret())
    sock = listen(host, port)
    run_migrations(settings, WITH_TABLES)
    check_broker(settings)
    from parley.web.gateway import create_app

    app = build_app(lambda: create_app(settings, embedded=("user", "chat", "mail")))
    url = f"http://{shown}:{port}"
    console.print(f"\n[bold green]Parley is up:[/] {url}")
    if Path(".env").is_file():
        console.print("Settings from ./.env and the environment", highlight=False)
    for line in describe_backends(settings, WITH_TABLES):
        console.print(f"  {escape(line)}", highlight=False)
    if host not in LOOPBACK_HOSTS:
        console.print(
            f"[bold yellow]Warning:[/] --host {escape(host)} lets other machines reach Parley. The dev "
            "mailbox (every login code) still answers only this machine unless DEV_MAILBOX=true; "
            "set PUBLIC_URL to the address people open. For real users run it behind HTTPS "
            "(docs/deploy.md).",
            highlight=False,
        )
    if settings.smtp.dev_mailbox:
        console.print(f"Login codes appear here and at {url}/dev/mail\n")
    serve_app(app, sock, settings)


@cli.command()
def serve(
    service: Annotated[Service, typer.Argument(help="The service to run.")],
    host: Annotated[str | None, typer.Option(help="Address (default $HOST or 0.0.0.0).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default $PORT or the service's own).")] = None,
    migrate: Annotated[bool, typer.Option("--migrate/--no-migrate", help="Apply migrations first.")] = True,
) -> None:
    """Run one service as its own process, configured by the environment."""
    name = service.value
    settings = load_settings(name)
    from parley.core.logging import configure_logging

    configure_logging(settings.app.log_format, settings.app.log_level, ref_secret=settings.log_ref_secret())
    bind_host = host or settings.app.host or "0.0.0.0"  # noqa: S104 a service listens on every interface
    bind_port = port or settings.app.port or PORTS[name]
    sock = listen(bind_host, bind_port)
    if migrate and name in WITH_TABLES:
        run_migrations(settings, (name,))
    if name in ("user", "mail"):
        check_broker(settings)
    if name == "web":
        from parley.web.gateway import create_app

        for variable in ("USER_SERVICE", "CHAT_SERVICE"):
            if not getattr(settings.services, variable.lower()):
                fail(f"configuration error: {variable} is required: the web service routes the API to it")

        app: Any = build_app(lambda: create_app(settings))
    else:
        module = importlib.import_module(f"parley.{name}.app")
        app = build_app(lambda: module.create_app(settings))
    serve_app(app, sock, settings)


@cli.command("migrate")
def migrate_command(service: Annotated[Migratable, typer.Argument(help="Whose tables.")]) -> None:
    """Apply a service's migrations to its DATABASE_URL."""
    settings = load_settings()
    run_migrations(settings, (service.value,))
    console.print(f"{service.value}: migrations applied")


@cli.command()
def bench(
    url: Annotated[str, typer.Option(help="The running Parley: where the user and chat APIs are routed.")] = (
        "http://127.0.0.1:3000"
    ),
    send_url: Annotated[
        list[str] | None,
        typer.Option(
            help="Where to POST messages with --send-via json|multipart, e.g. each chat instance; repeatable."
        ),
    ] = None,
    socket_url: Annotated[
        list[str] | None,
        typer.Option(help="A chat instance for sockets; repeat to spread them (default: --url)."),
    ] = None,
    send_via: Annotated[
        str,
        typer.Option(
            help="socket: sendMessage with an acknowledgement (as the web app); json or multipart: POST /message."
        ),
    ] = "socket",
    mailbox_url: Annotated[
        str | None, typer.Option(help="The dev mailbox's JSON list (default: <url>/dev/mail/messages).")
    ] = None,
    pairs: Annotated[int, typer.Option(help="Pairs of users, each a 1:1 chat where both sides send.")] = 10,
    rate: Annotated[float, typer.Option(help="Messages a second in total; 0 sends flat out.")] = 0,
    duration: Annotated[float, typer.Option(help="Seconds to measure.")] = 10,
    warmup: Annotated[float, typer.Option(help="Seconds of load before measuring.")] = 1,
    idle: Annotated[int, typer.Option(help="Extra idle sockets to hold.")] = 0,
    idle_users: Annotated[int, typer.Option(help="Extra users the idle sockets are spread over.")] = 1,
    grace: Annotated[float, typer.Option(help="Seconds to wait for deliveries after the last send.")] = 5,
    pid: Annotated[
        list[int] | None, typer.Option(help="A local server process to read RSS and CPU of; repeatable.")
    ] = None,
    rss_url: Annotated[
        list[str] | None,
        typer.Option(
            "--rss-url",
            "--metrics-url",
            help="A service whose /metrics reports its RSS and CPU; repeatable (default: --url).",
        ),
    ] = None,
    baseline: Annotated[
        bool,
        typer.Option(
            help="First run the bare loop (asyncpg + Redis) against the system's database; report the ratio."
        ),
    ] = False,
    baseline_only: Annotated[bool, typer.Option(help="Run only the bare loop; no Parley needed.")] = False,
    baseline_db: Annotated[
        str | None,
        typer.Option(
            help="PostgreSQL for the bare loop (default: the chat service's database from the settings)."
        ),
    ] = None,
    baseline_redis: Annotated[
        str | None, typer.Option(help="Redis for the bare loop (default: REDIS_URL from the settings).")
    ] = None,
    baseline_duration: Annotated[
        float | None, typer.Option(help="Seconds to measure each bare loop (default: --duration).")
    ] = None,
    wait_on_limit: Annotated[
        bool, typer.Option(help="Wait when the server rate-limits logins instead of stopping.")
    ] = False,
    json_only: Annotated[bool, typer.Option(help="Print only the JSON line: no progress, no table.")] = False,
) -> None:
    """Measure a running Parley like real clients: throughput, latency, losses, sockets, memory, CPU.

    Creates its own users (codes read from the dev mailbox) and chats; see docs/bench.md.

    The server allows 20 logins a minute per client IP: for big runs raise LOGIN_RATE_PER_MINUTE.
    """
    import json

    from parley.bench import BenchConfig, BenchError, Display, Report, run

    config = BenchConfig(
        url=url.rstrip("/"),
        socket_urls=[u.rstrip("/") for u in socket_url or []],
        send_urls=[u.rstrip("/") for u in send_url or []],
        send_via=send_via,
        mailbox_url=mailbox_url,
        pairs=pairs,
        rate=rate,
        duration=duration,
        warmup=warmup,
        idle=idle,
        idle_users=idle_users,
        grace=grace,
        pids=pid or [],
        rss_urls=rss_url or [],
        wait_on_limit=wait_on_limit,
        baseline=baseline or baseline_only,
        baseline_only=baseline_only,
        baseline_db=baseline_db,
        baseline_redis=baseline_redis,
        baseline_duration=baseline_duration,
    )
    display = Display(console, enabled=not json_only)
    try:
        with display.shown():
            report = run(config, display)
    except BenchError as exc:
        fail(f"bench: {exc}", 1)
        return
    if not json_only:
        console.print(report.table())
    data = report.as_json() if isinstance(report, Report) else {"baseline": report.as_json()}
    sys.stdout.write(json.dumps(data) + "\n")
    sys.stdout.flush()


def main() -> None:
    try:
        cli()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
