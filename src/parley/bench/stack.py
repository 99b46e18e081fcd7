"""Start Parley for a measurement and run the standard series of ``parley bench`` against it.

``python -m parley.bench.stack`` starts, on this machine:

- ``microservices`` (the default): ``parley serve user``, ``mail``, ``chat`` (``--chat-instances``,
  one by default) and ``web``, on fresh PostgreSQL databases named for the run, one Redis database
  (``--redis-db``, flushed before and after) and a fresh RabbitMQ virtual host, JSON logs at
  WARNING, login limits raised. HTTP setup (logins, chats) goes through the web service; sends and
  sockets go straight to the chat instances, as an Ingress routes them; CPU and RSS are read from
  every service's ``/metrics``.
- ``embedded``: ``parley up`` on a fresh data directory; CPU and RSS from its pid.

Then it runs the series (``--series``; by default all of it) one after another, prints each
JSON line, appends them to ``<dir>/results.jsonl`` and ends with a Markdown table:

- ``flat``: 10 pairs (20 senders) flat out, with ``--baseline`` against the run's chat database
  and Redis (microservices only), so the ratio comes from the same run;
- ``rate50``, ``rate200``, ``rate500``, ``rate1000``: 50 pairs (100 senders) at a fixed total rate.

``--keep`` starts the system, prints the ``parley bench`` options that reach it and waits for
Ctrl-C instead. Everything it created (databases, virtual host, processes) goes at the end.
See docs/performance.md for the figures it produced.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

PARLEY = [sys.executable, "-m", "parley.cli"]
START_TIMEOUT = 90.0
STOP_TIMEOUT = 40.0

# name: (pairs, rate); rate 0 is flat out.
SERIES: dict[str, tuple[int, float]] = {
    "flat": (10, 0.0),
    "rate50": (50, 50.0),
    "rate200": (50, 200.0),
    "rate500": (50, 500.0),
    "rate1000": (50, 1000.0),
}


@dataclass
class Options:
    mode: str
    chat_instances: int
    redis_db: int
    pg: str
    amqp: str
    directory: Path
    tag: str
    series: list[str]
    duration: float
    warmup: float
    grace: float
    baseline_duration: float
    keep: bool
    nice: int = 0
    # Settings for every service on top of the bench's own (``--env NAME=VALUE``).
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Running:
    """The processes of one system and the ``parley bench`` options that reach it."""

    processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    bench_args: list[str] = field(default_factory=list)
    chat_database: str | None = None
    redis_url: str | None = None
    # The bench's source names (a URL, ``pid N``) → the process's name, for the summary.
    names: dict[str, str] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _rabbitmqctl(*args: str) -> None:
    exe = shutil.which("rabbitmqctl")
    if exe is None:
        raise SystemExit("rabbitmqctl is not on PATH: it makes the run's own RabbitMQ virtual host")
    subprocess.run([exe, *args], check=True, capture_output=True, timeout=60)  # noqa: S603


async def _databases(pg: str, names: list[str], create: bool) -> None:
    import asyncpg

    conn = await asyncpg.connect(f"{pg}/postgres")
    try:
        for name in names:
            if create:
                await conn.execute(f'CREATE DATABASE "{name}"')
            else:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def _flush(redis_url: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


def _wait_ready(url: str, proc: subprocess.Popen[bytes], name: str, log: Path, path: str = "/readyz") -> None:
    deadline = time.monotonic() + START_TIMEOUT
    with httpx.Client(timeout=2) as client:
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"{name} exited with {proc.returncode}; see {log}")
            with suppress(httpx.HTTPError):
                if client.get(f"{url}{path}").status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise SystemExit(f"{name} not ready within {START_TIMEOUT:.0f} s; see {log}")
            time.sleep(0.2)


def _start(
    running: Running, name: str, args: list[str], env: dict[str, str], directory: Path, nice: int = 0
) -> subprocess.Popen[bytes]:
    log = directory / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603
            [*PARLEY, *args], env=env, cwd=directory, stdout=out, stderr=subprocess.STDOUT
        )
    _renice(proc.pid, nice)
    running.processes.append((name, proc))
    return proc


def _renice(pid: int, nice: int) -> None:
    """On a machine others use too, a lower nice value keeps the measured processes running."""
    if nice:
        try:
            os.setpriority(os.PRIO_PROCESS, pid, nice)
        except OSError as exc:
            print(f"cannot set nice {nice} on {pid}: {exc}", file=sys.stderr)


def _base_env(options: Options) -> dict[str, str]:
    # PYTHONPATH too: an A/B run points it at the tree under test, and the services must follow it.
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR", "PYTHONPATH")}
    return {
        **keep,
        "PYTHONUNBUFFERED": "1",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "WARNING",
        "LOGIN_RATE_PER_MINUTE": "100000",
        "VERIFY_RATE_PER_MINUTE": "100000",
        # The senders go faster than a person: neither the per-user message limit nor the
        # per-socket event limit may refuse them (in either mode, so the two compare).
        "MESSAGE_RATE_PER_MINUTE": "1000000",
        "SOCKET_EVENT_RATE": "100000",
        "JWT_SECRET": "bench-" + secrets.token_hex(24),
        **options.env,
    }


@contextmanager
def microservices(options: Options) -> Iterator[Running]:
    """user + mail + chat × n + web on fresh databases, a flushed Redis database and a fresh vhost."""
    running = Running()
    databases = {s: f"parley_bench_{options.tag}_{s}" for s in ("user", "chat")}
    vhost = f"parley-bench-{options.tag}"
    redis_url = f"redis://127.0.0.1:6379/{options.redis_db}"
    asyncio.run(_databases(options.pg, list(databases.values()), create=True))
    try:
        _rabbitmqctl("add_vhost", vhost)
        _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        asyncio.run(_flush(redis_url))
        ports = {"user": free_port(), "mail": free_port(), "web": free_port()}
        chats = [free_port() for _ in range(options.chat_instances)]
        local = "http://127.0.0.1"
        pg = options.pg.replace("postgresql://", "postgresql+asyncpg://", 1)
        env = _base_env(options) | {
            "PARLEY_DATA_DIR": str(options.directory / "data"),
            "USER_DATABASE_URL": f"{pg}/{databases['user']}",
            "CHAT_DATABASE_URL": f"{pg}/{databases['chat']}",
            "REDIS_URL": redis_url,
            "AMQP_URL": f"{options.amqp.rstrip('/')}/{vhost}",
            "MEDIA_STORAGE": f"file://{options.directory / 'media'}",
            "PUBLIC_URL": f"{local}:{ports['web']}",
            "USER_SERVICE": f"{local}:{ports['user']}",
            "CHAT_SERVICE": ",".join(f"{local}:{p}" for p in chats),
            "MAIL_SERVICE": f"{local}:{ports['mail']}",
            "TRUST_FORWARDED_FOR": "true",
        }
        # The user service first: its migrations are done before the chat instances start.
        for name in ("user", "mail"):
            _start(
                running,
                name,
                ["serve", name, "--host", "127.0.0.1", "--port", str(ports[name])],
                env,
                options.directory,
                options.nice,
            )
        for name, proc in running.processes:
            _wait_ready(f"{local}:{ports[name]}", proc, name, options.directory / f"{name}.log")
        for i, port in enumerate(chats, 1):
            name = f"chat{i}"
            proc = _start(
                running,
                name,
                ["serve", "chat", "--host", "127.0.0.1", "--port", str(port)],
                env,
                options.directory,
                options.nice,
            )
            _wait_ready(f"{local}:{port}", proc, name, options.directory / f"{name}.log")
        proc = _start(
            running,
            "web",
            ["serve", "web", "--host", "127.0.0.1", "--port", str(ports["web"])],
            env,
            options.directory,
            options.nice,
        )
        _wait_ready(f"{local}:{ports['web']}", proc, "web", options.directory / "web.log")
        running.bench_args = [
            "--url", f"{local}:{ports['web']}",
            "--mailbox-url", f"{local}:{ports['mail']}/dev/mail/messages",
            *[arg for p in chats for arg in ("--socket-url", f"{local}:{p}", "--send-url", f"{local}:{p}")],
            *[arg for p in [ports["user"], ports["mail"], *chats, ports["web"]] for arg in ("--rss-url", f"{local}:{p}")],
        ]  # fmt: skip
        running.names = {f"{local}:{ports[n]}": n for n in ports} | {
            f"{local}:{p}": f"chat{i}" for i, p in enumerate(chats, 1)
        }
        running.chat_database = f"{options.pg}/{databases['chat']}"
        running.redis_url = redis_url
        yield running
    finally:
        _stop(running)
        with suppress(Exception):
            asyncio.run(_databases(options.pg, list(databases.values()), create=False))
        with suppress(Exception):
            asyncio.run(_flush(redis_url))
        with suppress(Exception):
            _rabbitmqctl("delete_vhost", vhost)


@contextmanager
def embedded(options: Options) -> Iterator[Running]:
    """``parley up`` on a fresh data directory (SQLite, in-process cache and queue)."""
    running = Running()
    try:
        port = free_port()
        env = _base_env(options)
        data = options.directory / "data"
        proc = _start(
            running,
            "up",
            ["up", "--port", str(port), "--data-dir", str(data)],
            env,
            options.directory,
            options.nice,
        )
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, proc, "parley up", options.directory / "up.log", path="/healthz")
        running.bench_args = ["--url", url, "--pid", str(proc.pid)]
        running.names = {f"pid {proc.pid}": "up"}
        yield running
    finally:
        _stop(running)


def _stop(running: Running) -> None:
    # The web service (the edge) first, the mail worker last, as a deployment stops.
    order = sorted(running.processes, key=lambda p: {"web": 0, "mail": 9}.get(p[0], 5))
    for _, proc in order:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for _, proc in order:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    running.processes.clear()


def bench_command(options: Options, running: Running, name: str) -> list[str]:
    pairs, rate = SERIES[name]
    command = [*PARLEY, "bench", *running.bench_args, "--pairs", str(pairs), "--rate", f"{rate:g}"]
    command += ["--duration", f"{options.duration:g}", "--warmup", f"{options.warmup:g}"]
    command += ["--grace", f"{options.grace:g}", "--json-only"]
    if name == "flat" and running.chat_database and running.redis_url:
        command += [
            "--baseline",
            "--baseline-db",
            running.chat_database,
            "--baseline-redis",
            running.redis_url,
        ]
        command += ["--baseline-duration", f"{options.baseline_duration:g}"]
    return command


def summary_row(mode: str, name: str, report: dict[str, Any], names: dict[str, str]) -> str:
    """One Markdown row: the load, msg/s, CPU per message (each process, summed), latency, losses."""
    pairs, rate = SERIES[name]
    load = f"{2 * pairs} senders, " + ("flat out" if rate == 0 else f"{rate:g} msg/s")
    cpu = report.get("cpu", {})
    each = " + ".join(
        f"{names.get(source, source)} {value['ms_per_msg']:.2f}"
        for source, value in cpu.items()
        if value.get("ms_per_msg") is not None and "same_as" not in value
    )
    total = report.get("cpu_ms_per_msg")
    e2e = report["e2e_ms"]
    ratio = report.get("baseline_ratio")
    bare = report.get("baseline", {})
    loops = (
        f"{bare['1_per_tx']['msg_per_s']:.0f} / {bare['10_per_tx']['msg_per_s']:.0f} (ratio {ratio:.2f})"
        if bare and ratio is not None
        else ""
    )
    return (
        f"| {mode} | {load} | {report['sent_per_s']:.1f} | {report['delivered_per_s']:.1f} | "
        f"{'–' if total is None else f'{total:.2f}'} ({each}) | {_ms(e2e['p50'])} / {_ms(e2e['p99'])} | "
        f"{report['lost']} / {report['duplicates']} / {report['send_errors']} | {loops} | "
        f"{_cores(report.get('machine_busy_cores'))} |"
    )


HEADER = (
    "| mode | load | sent/s | delivered/s | server CPU ms/msg (per process) | e2e p50 / p99 ms "
    "| lost / dup / send errors | bare loop msg/s, 1 / 10 per tx | machine busy |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
)


def _cores(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f} cores"


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def run(options: Options) -> int:
    options.directory.mkdir(parents=True, exist_ok=True)
    start = microservices if options.mode == "microservices" else embedded
    results = options.directory / "results.jsonl"
    rows: list[str] = []
    with start(options) as running:
        if options.keep:
            print("parley bench " + " ".join(running.bench_args))
            if running.chat_database:
                print(f"--baseline-db {running.chat_database} --baseline-redis {running.redis_url}")
            print("Ctrl-C to stop and clean up.", file=sys.stderr)
            with suppress(KeyboardInterrupt):
                while all(proc.poll() is None for _, proc in running.processes):
                    time.sleep(1)
            return 0
        for name in options.series:
            command = bench_command(options, running, name)
            print(f"$ {' '.join(command[3:])}", file=sys.stderr)
            bench = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # noqa: S603
            _renice(bench.pid, options.nice)
            stdout, stderr = bench.communicate()
            done = subprocess.CompletedProcess(command, bench.returncode, stdout, stderr)
            if done.returncode != 0:
                print(done.stderr, file=sys.stderr)
                return done.returncode
            line = done.stdout.strip().splitlines()[-1]
            report = json.loads(line)
            report["series"] = name
            report["mode"] = options.mode
            report["names"] = running.names
            report["loadavg"] = Path("/proc/loadavg").read_text().split()[:3]
            with results.open("a") as out:
                out.write(json.dumps(report) + "\n")
            print(line)
            rows.append(summary_row(options.mode, name, report, running.names))
    print("\n" + HEADER + "\n" + "\n".join(rows), file=sys.stderr)
    return 0


def parse(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m parley.bench.stack", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--mode", choices=["microservices", "embedded"], default="microservices")
    parser.add_argument("--chat-instances", type=int, default=1)
    parser.add_argument("--redis-db", type=int, default=6, help="flushed before and after the run")
    parser.add_argument(
        "--pg", default="postgresql://postgres@127.0.0.1:5432", help="PostgreSQL server, no database"
    )
    parser.add_argument("--amqp", default="amqp://guest:guest@127.0.0.1:5672", help="RabbitMQ, no vhost")
    parser.add_argument("--dir", type=Path, default=None, help="logs and results (default: a new temp dir)")
    parser.add_argument("--series", nargs="+", choices=list(SERIES), default=None)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--grace", type=float, default=10.0)
    parser.add_argument("--baseline-duration", type=float, default=10.0)
    parser.add_argument("--keep", action="store_true", help="start, print the bench options, wait for Ctrl-C")
    parser.add_argument(
        "--nice", type=int, default=0, help="nice value of the services and the bench (e.g. -10)"
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for every service (e.g. MAX_CONNECTIONS=25000 for many idle sockets); repeatable",
    )
    args = parser.parse_args(argv)
    if bad := [item for item in args.env if "=" not in item]:
        parser.error(f"--env takes NAME=VALUE, not {bad[0]!r}")
    env = dict(item.split("=", 1) for item in args.env)
    tag = datetime.now(UTC).strftime("%Y%m%d%H%M") + "_" + secrets.token_hex(2)
    default_series = list(SERIES) if args.mode == "microservices" else ["flat"]
    directory = args.dir or Path(os.environ.get("TMPDIR", "/tmp")) / f"parley-bench-{tag}"  # noqa: S108
    return Options(
        mode=args.mode,
        chat_instances=args.chat_instances,
        redis_db=args.redis_db,
        pg=args.pg.rstrip("/"),
        amqp=args.amqp,
        directory=directory.resolve(),
        tag=tag,
        series=args.series or default_series,
        duration=args.duration,
        warmup=args.warmup,
        grace=args.grace,
        baseline_duration=args.baseline_duration,
        keep=args.keep,
        nice=args.nice,
        env=env,
    )


if __name__ == "__main__":
    sys.exit(run(parse()))
