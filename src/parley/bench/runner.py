"""One bench run: accounts, chats and sockets set up through the public API, then timed load.

Every pair of users shares a 1:1 chat and each side sends to the other with a ``clientId``:
over its socket (``sendMessage`` with an acknowledgement, as the web app does) or with
``POST /message`` (JSON or multipart); the recipient's socket hears ``newMessage`` with that
``clientId``. A message's send latency is the time until the acknowledgement (or the HTTP answer),
its end-to-end latency the time from the start of that send to the recipient's ``newMessage``. All of it runs on one event loop, and every clock
reading comes from the same monotonic clock.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import resource
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx
import socketio
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from parley.bench.baseline import run_baseline, system_targets
from parley.bench.clients import (
    API,
    CONCURRENT_REQUESTS,
    Account,
    Accounts,
    BenchError,
    Socket,
    run_all,
)
from parley.bench.cpu import CpuReading, CpuSample, cpu_of_pid, cpu_of_service, machine_cpu, same_process
from parley.bench.rss import rss_of_pid, rss_of_service
from parley.bench.stats import BaselineReport, Report, RssReading

CONCURRENT_CONNECTS = 64
SEND_VIA = ("socket", "json", "multipart")
RSS_EVERY = 1.0
CLOSE_WAIT = 15.0


@dataclass
class BenchConfig:
    """What to run: the options of ``parley bench``."""

    url: str = "http://127.0.0.1:3000"
    socket_urls: list[str] = field(default_factory=list)
    # Where messages are sent (default: url), as an Ingress routes /api/v1/message to the chat
    # instances directly; senders are spread over them.
    send_urls: list[str] = field(default_factory=list)
    # How a message is sent: "socket" (``sendMessage`` with an acknowledgement, as the web app sends
    # when its socket is connected), "json" or "multipart" (``POST /message``).
    send_via: str = "socket"
    mailbox_url: str | None = None
    pairs: int = 10
    rate: float = 0.0
    duration: float = 10.0
    warmup: float = 1.0
    idle: int = 0
    idle_users: int = 1
    grace: float = 5.0
    pids: list[int] = field(default_factory=list)
    rss_urls: list[str] = field(default_factory=list)
    wait_on_limit: bool = False
    # The bare loop (baseline.py) before the system, or instead of it; no database or Redis
    # named: the system's own, from the settings.
    baseline: bool = False
    baseline_only: bool = False
    baseline_db: str | None = None
    baseline_redis: str | None = None
    baseline_duration: float | None = None

    def check(self) -> None:
        """:class:`BenchError` for options that make no run."""
        if self.pairs < 1:
            raise BenchError("--pairs must be at least 1")
        if self.rate < 0 or self.duration <= 0 or self.warmup < 0 or self.grace < 0:
            raise BenchError("--rate, --warmup and --grace cannot be negative; --duration must be positive")
        if self.idle < 0 or self.idle_users < 1:
            raise BenchError("--idle cannot be negative and --idle-users must be at least 1")
        if self.send_via not in SEND_VIA:
            raise BenchError(f"--send-via must be one of {', '.join(SEND_VIA)}")
        if self.baseline_duration is not None and self.baseline_duration <= 0:
            raise BenchError("--baseline-duration must be positive")
        for url in (
            self.url,
            *self.socket_urls,
            *self.send_urls,
            *self.rss_urls,
            *filter(None, [self.mailbox_url]),
        ):
            if not url.startswith(("http://", "https://")):
                raise BenchError(f"{url!r} is not an http(s) URL")

    @property
    def senders(self) -> int:
        return 2 * self.pairs

    @property
    def idle_accounts(self) -> int:
        return min(self.idle, self.idle_users)

    @property
    def sockets(self) -> int:
        return self.senders + self.idle


class Display:
    """The progress bar on stderr while a run goes; silent with ``enabled=False``."""

    def __init__(self, console: Console | None = None, enabled: bool = True) -> None:
        self.console = console or Console(stderr=True)
        self.enabled = enabled
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:.0f}/{task.total:.0f}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[info]}"),
            console=self.console,
            transient=False,
            disable=not enabled,
        )
        self.task: TaskID | None = None

    @contextlib.contextmanager
    def shown(self) -> Iterator[None]:
        with self.progress:
            yield

    def phase(self, description: str, total: float) -> None:
        if self.task is not None:
            self.progress.stop_task(self.task)
        self.task = self.progress.add_task(description, total=total, info="")

    def update(self, completed: float | None = None, advance: float = 0, info: str | None = None) -> None:
        if self.task is None:
            return
        fields: dict[str, Any] = {} if info is None else {"info": info}
        self.progress.update(self.task, completed=completed, advance=advance or None, **fields)

    def warn(self, text: str) -> None:
        self.console.print(f"[yellow]parley bench:[/] {text}", highlight=False)


class Outgoing:
    """One message: when its send started, who should hear it, and what came back."""

    __slots__ = ("acked_at", "delivered_at", "deliveries", "failed", "measured", "recipient", "started")

    def __init__(self, recipient: str, started: float, measured: bool) -> None:
        self.recipient = recipient
        self.started = started
        self.measured = measured
        self.acked_at: float | None = None
        self.delivered_at: float | None = None
        self.deliveries = 0
        self.failed = False


class Tracker:
    """Every message of the run by ``clientId``, and the deliveries the sockets report."""

    def __init__(self) -> None:
        self.messages: dict[str, Outgoing] = {}
        self.errors: dict[str, int] = {}
        self.sent = 0
        self.delivered = 0
        self.in_flight = 0
        self.awaited = 0  # acknowledged and not delivered yet
        self.sending = True
        self.settled = asyncio.Event()  # sending is over and nothing is in flight or awaited

    def start(self, client_id: str, recipient: str, measured: bool) -> None:
        self.messages[client_id] = Outgoing(recipient, time.perf_counter(), measured)
        self.in_flight += 1

    def acked(self, client_id: str) -> None:
        message = self.messages[client_id]
        message.acked_at = time.perf_counter()
        self.in_flight -= 1
        self.sent += 1
        if not message.deliveries:
            self.awaited += 1
        self._check()

    def failed(self, client_id: str, reason: str) -> None:
        self.messages[client_id].failed = True
        self.in_flight -= 1
        self.errors[reason] = self.errors.get(reason, 0) + 1
        self._check()

    def heard(self, owner: Account, message: dict[str, Any]) -> None:
        """A socket of ``owner`` got ``newMessage``; only its intended recipient's copy counts."""
        now = time.perf_counter()
        outgoing = self.messages.get(str(message.get("clientId")))
        if outgoing is None or outgoing.recipient != owner.id:
            return  # the sender's own echo, or not the bench's
        outgoing.deliveries += 1
        if outgoing.deliveries == 1:
            outgoing.delivered_at = now
            self.delivered += 1
            if outgoing.acked_at is not None:
                self.awaited -= 1
                self._check()

    def sending_done(self) -> None:
        self.sending = False
        self._check()

    def _check(self) -> None:
        if not self.sending and self.in_flight == 0 and self.awaited == 0:
            self.settled.set()

    def report(self, config: BenchConfig, window: tuple[float, float], users: int) -> Report:
        """Counts over every message sent; rates and latencies over the measured ``window``."""
        begin, end = window
        sent = delivered = lost = duplicates = failures = in_window = sent_in_window = 0
        send_latencies: list[float] = []
        e2e_latencies: list[float] = []
        for message in self.messages.values():
            if message.delivered_at is not None and begin <= message.delivered_at <= end:
                in_window += 1
            duplicates += max(0, message.deliveries - 1)
            if message.failed:
                failures += 1
                continue
            if message.acked_at is None:
                continue
            sent += 1
            if message.delivered_at is None:
                lost += 1
            else:
                delivered += 1
            if message.measured:
                sent_in_window += 1
                send_latencies.append(message.acked_at - message.started)
                if message.delivered_at is not None:
                    e2e_latencies.append(message.delivered_at - message.started)
        return Report(
            url=config.url,
            pairs=config.pairs,
            rate=config.rate,
            duration=config.duration,
            warmup=config.warmup,
            users=users,
            sent=sent,
            delivered=delivered,
            lost=lost,
            duplicates=duplicates,
            send_errors=failures,
            window=end - begin,
            sent_in_window=sent_in_window,
            delivered_in_window=in_window,
            send_latencies=send_latencies,
            e2e_latencies=e2e_latencies,
            sockets_asked=config.sockets,
            errors=dict(self.errors),
        )


def raise_file_limit(needed: int) -> str | None:
    """Lift the soft limit on open files to cover ``needed``; a warning if the hard limit is lower."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(hard, max(needed, soft))
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        if target < needed:
            return f"only {target} open files allowed (hard limit); {needed} sockets will not all connect"
    return None


class RssWatch:
    """Samples the servers' resident memory every second while the load runs."""

    def __init__(self, http: httpx.AsyncClient, pids: list[int], urls: list[str]) -> None:
        self.http = http
        self.pids = pids
        self.urls = urls
        self.readings = {f"pid {pid}": RssReading() for pid in pids} | {url: RssReading() for url in urls}

    async def sample(self) -> None:
        for pid in self.pids:
            self.readings[f"pid {pid}"].add(rss_of_pid(pid))
        values = await asyncio.gather(*(rss_of_service(self.http, url) for url in self.urls))
        for url, value in zip(self.urls, values, strict=True):
            self.readings[url].add(value)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async def every_second() -> None:
            while True:
                await asyncio.sleep(RSS_EVERY)
                await self.sample()

        await self.sample()
        task = asyncio.create_task(every_second())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await self.sample()


class CpuWatch:
    """Reads the servers' CPU time when the measured window opens and when it closes.

    The sources are the RSS ones (``--pid`` and ``--rss-url``); the bench's own CPU is read too,
    apart, since on a shared machine it competes with the servers.
    """

    def __init__(self, http: httpx.AsyncClient, pids: list[int], urls: list[str]) -> None:
        self.http = http
        self.pids = pids
        self.urls = urls
        self.readings = {f"pid {pid}": CpuReading() for pid in pids} | {url: CpuReading() for url in urls}
        self.bench = CpuReading()
        # Everything the machine ran meanwhile: on a shared machine, how much else competed.
        self.machine = CpuReading()

    async def _take(self) -> dict[str, CpuSample | None]:
        samples: dict[str, CpuSample | None] = {f"pid {pid}": cpu_of_pid(pid) for pid in self.pids}
        values = await asyncio.gather(*(cpu_of_service(self.http, url) for url in self.urls))
        samples.update(zip(self.urls, values, strict=True))
        return samples

    async def open(self) -> None:
        self.bench.before = CpuSample(time.process_time(), time.perf_counter())
        self.machine.before = machine_cpu()
        for source, sample in (await self._take()).items():
            self.readings[source].before = sample

    async def close(self) -> None:
        self.bench.after = CpuSample(time.process_time(), time.perf_counter())
        self.machine.after = machine_cpu()
        for source, sample in (await self._take()).items():
            self.readings[source].after = sample

    def count(self, delivered_at: list[float]) -> None:
        """Each reading's messages: those delivered between its own two samples."""
        times = sorted(delivered_at)
        for reading in [*self.readings.values(), self.bench, self.machine]:
            if reading.before is not None and reading.after is not None:
                begin, end = reading.before.at, reading.after.at
                reading.messages = bisect.bisect_right(times, end) - bisect.bisect_left(times, begin)
        # A --pid and a --rss-url naming one process are shown both but summed once.
        pids = [(s, r) for s, r in self.readings.items() if s.startswith("pid ")]
        for source, reading in self.readings.items():
            if source.startswith("pid "):
                continue
            for pid_source, pid_reading in pids:
                if same_process(reading.before, pid_reading.before):
                    reading.same_as = pid_source


# How long one send may take before it counts as failed.
SEND_SECONDS = 30.0
SEND_TIMEOUT = aiohttp.ClientTimeout(total=SEND_SECONDS)


async def run_bench(config: BenchConfig, display: Display | None = None) -> Report:
    """Set up, load, measure and tear down; the report, or :class:`BenchError` saying what failed."""
    config.check()
    display = display or Display(enabled=False)
    warning = raise_file_limit(config.sockets + config.senders + CONCURRENT_REQUESTS + 64)
    if warning:
        display.warn(warning)
    connections = config.senders + CONCURRENT_REQUESTS + 8
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=config.url, timeout=30, limits=limits) as http:
        await _check_reachable(http, config.url)
        # The bare loop first, while the system idles: the ratio then comes from one run.
        baseline = await run_loop(config, display) if config.baseline else None
        accounts = await _log_in(http, config, display)
        pairs = [(accounts[2 * i], accounts[2 * i + 1]) for i in range(config.pairs)]
        idle_accounts = accounts[config.senders :]
        chats = await _open_chats(http, pairs, display)
        tracker = Tracker()
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar()) as session:
            sockets: list[Socket] = []
            try:
                rss_urls = config.rss_urls or ([] if config.pids else [config.url])
                watch = RssWatch(http, config.pids, rss_urls)
                cpu = CpuWatch(http, config.pids, rss_urls)
                await watch.sample()  # before the sockets: the start of the reading
                await _connect(session, config, pairs, idle_accounts, tracker, sockets, display)
                async with watch.running():
                    window = await _load(session, config, pairs, chats, tracker, sockets, display, cpu)
                    held = sum(socket.connected for socket in sockets)
            finally:
                await _close(sockets)
    report = tracker.report(config, window, users=len(accounts))
    report.sockets_held = held
    report.rss = watch.readings
    cpu.count([m.delivered_at for m in tracker.messages.values() if m.delivered_at is not None])
    report.cpu = cpu.readings
    report.bench_cpu = cpu.bench
    report.machine_cpu = cpu.machine
    report.baseline = baseline
    return report


async def run_loop(config: BenchConfig, display: Display | None = None) -> BaselineReport:
    """The bare loop alone (``--baseline-only``), with the run's number of senders."""
    config.check()
    database, redis = system_targets(config.baseline_db, config.baseline_redis)
    display = display or Display(enabled=False)
    return await run_baseline(
        database,
        redis,
        pairs=config.pairs,
        duration=config.baseline_duration or config.duration,
        warmup=config.warmup,
        on_phase=display.phase,
        on_progress=lambda elapsed: display.update(completed=elapsed),
    )


async def _check_reachable(http: httpx.AsyncClient, url: str) -> None:
    try:
        response = await http.get("/healthz", timeout=10)
    except httpx.HTTPError as exc:
        raise BenchError(f"nothing answers at {url}: {exc!r}") from exc
    if response.status_code != 200:
        raise BenchError(f"{url}/healthz answered HTTP {response.status_code}; is Parley running there?")


async def _log_in(http: httpx.AsyncClient, config: BenchConfig, display: Display) -> list[Account]:
    run = secrets.token_hex(4)
    emails = [f"bench-{run}-{i}@example.com" for i in range(config.senders)]
    emails += [f"bench-{run}-idle-{i}@example.com" for i in range(config.idle_accounts)]
    mailbox = config.mailbox_url or config.url.rstrip("/") + "/dev/mail/messages"

    def limited(message: str, wait: float) -> None:
        display.warn(f"{message}. Waiting {wait:.0f} s (--wait-on-limit).")

    accounts = Accounts(http, mailbox, wait_on_limit=config.wait_on_limit, on_limit=limited)
    display.phase("logging in", len(emails))
    return await accounts.create(emails, on_created=lambda: display.update(advance=1))


async def _open_chats(
    http: httpx.AsyncClient, pairs: list[tuple[Account, Account]], display: Display
) -> list[str]:
    display.phase("opening chats", len(pairs))
    gate = asyncio.Semaphore(CONCURRENT_REQUESTS)

    async def open_chat(me: Account, other: Account) -> str:
        async with gate:
            try:
                response = await http.post(f"{API}/chat/new", json={"otherUserId": other.id}, headers=me.auth)
            except httpx.HTTPError as exc:
                raise BenchError(f"POST {API}/chat/new failed: {exc!r}") from exc
        if response.status_code not in (200, 201):
            raise BenchError(
                f"POST {API}/chat/new failed: HTTP {response.status_code}: {response.text[:200]}"
            )
        display.update(advance=1)
        return str(response.json()["chatId"])

    return await run_all(open_chat(a, b) for a, b in pairs)


async def _connect(
    session: aiohttp.ClientSession,
    config: BenchConfig,
    pairs: list[tuple[Account, Account]],
    idle_accounts: list[Account],
    tracker: Tracker,
    sockets: list[Socket],
    display: Display,
) -> None:
    """Connect every socket (``sockets`` holds them, connected or not, for closing)."""
    urls = config.socket_urls or [config.url]
    # Neighbours land on different instances, so messages cross between them.
    senders = [account for pair in pairs for account in pair]
    for i, account in enumerate(senders):
        sockets.append(Socket(account, urls[i % len(urls)], session, tracker.heard))
    for j in range(config.idle):
        sockets.append(Socket(idle_accounts[j % len(idle_accounts)], urls[j % len(urls)], session))
    display.phase("connecting sockets", len(sockets))
    gate = asyncio.Semaphore(CONCURRENT_CONNECTS)
    refused: list[str] = []

    async def connect(socket: Socket, required: bool) -> None:
        async with gate:
            try:
                await socket.connect()
            except BenchError as exc:
                if required:
                    raise
                refused.append(str(exc))
        display.update(advance=1)

    # Without the senders' sockets there is nothing to measure; an idle one may fail and is reported.
    await run_all(connect(socket, True) for socket in sockets[: config.senders])
    await run_all(connect(socket, False) for socket in sockets[config.senders :])
    if refused:
        tracker.errors["socket refused"] = len(refused)
        display.warn(f"{len(refused)} idle sockets did not connect, e.g. {refused[0]}")


async def _load(
    http: aiohttp.ClientSession,
    config: BenchConfig,
    pairs: list[tuple[Account, Account]],
    chats: list[str],
    tracker: Tracker,
    sockets: list[Socket],
    display: Display,
    cpu: CpuWatch,
) -> tuple[float, float]:
    """Send for the warm-up and the duration, then wait out the grace period; the measured window.

    ``cpu`` is read as the window opens and as it closes.
    """
    start = time.perf_counter()
    measure_from = start + config.warmup
    stop_at = measure_from + config.duration
    interval = config.senders / config.rate if config.rate > 0 else 0.0
    display.phase("sending", config.warmup + config.duration)

    send_urls = [u.rstrip("/") for u in config.send_urls or [config.url]]

    async def sender(index: int, me: Account, peer: Account, chat_id: str) -> None:
        next_at = start + interval * index / config.senders
        send_url = send_urls[index % len(send_urls)]
        # The senders' sockets come first, in the same order as the senders (see _connect).
        socket = sockets[index]
        seq = 0
        while True:
            if interval:
                now = time.perf_counter()
                if next_at > now:
                    await asyncio.sleep(next_at - now)
                # A sender that fell behind does not burst to catch up by more than a second.
                next_at = max(next_at + interval, time.perf_counter() - 1)
            started = time.perf_counter()
            if started >= stop_at:
                return
            client_id = f"{me.id}-{seq}"
            seq += 1
            tracker.start(client_id, peer.id, measured=started >= measure_from)
            if config.send_via == "socket":
                await _send_on_socket(socket, chat_id, client_id, tracker)
            else:
                await _send(http, send_url, me, chat_id, client_id, tracker, json=config.send_via == "json")

    async def progress() -> None:
        while True:
            held = sum(socket.connected for socket in sockets)
            display.update(
                completed=min(time.perf_counter() - start, config.warmup + config.duration),
                info=f"sent {tracker.sent} · delivered {tracker.delivered} · sockets {held}",
            )
            await asyncio.sleep(0.25)

    async def read_cpu() -> None:
        await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
        await cpu.open()
        await asyncio.sleep(max(0.0, stop_at - time.perf_counter()))
        await cpu.close()

    ticker = asyncio.create_task(progress())
    try:
        senders: list[Awaitable[None]] = [read_cpu()]
        for i, (a, b) in enumerate(pairs):
            senders += [sender(2 * i, a, b, chats[i]), sender(2 * i + 1, b, a, chats[i])]
        await asyncio.gather(*senders)
        await _settle(tracker, config.grace)
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
    display.update(completed=config.warmup + config.duration)
    return measure_from, stop_at


async def _settle(tracker: Tracker, grace: float) -> None:
    """Wait until every acknowledged message was heard, for at most ``grace`` seconds."""
    tracker.sending_done()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(tracker.settled.wait(), grace)


async def _send_on_socket(socket: Socket, chat_id: str, client_id: str, tracker: Tracker) -> None:
    """``sendMessage`` on the sender's own socket; acknowledged once stored, as the web app sends."""
    body = {"chatId": chat_id, "text": f"bench {client_id}", "clientId": client_id}
    try:
        answer = await socket.client.call("sendMessage", body, timeout=SEND_SECONDS)
    except socketio.exceptions.TimeoutError:
        tracker.failed(client_id, "TimeoutError")
        return
    except socketio.exceptions.SocketIOError as exc:
        tracker.failed(client_id, type(exc).__name__)
        return
    if isinstance(answer, dict) and isinstance(answer.get("message"), dict):
        tracker.acked(client_id)
        return
    error = answer.get("error") if isinstance(answer, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    tracker.failed(client_id, f"sendMessage {code or 'unanswered'}")


async def _send(
    http: aiohttp.ClientSession,
    url: str,
    me: Account,
    chat_id: str,
    client_id: str,
    tracker: Tracker,
    *,
    json: bool,
) -> None:
    # POST /message, as JSON or as the multipart form. The load goes through aiohttp: on a machine
    # shared with the server, the bench's own CPU per request must stay small (httpx costs more).
    text = f"bench {client_id}"
    body: dict[str, Any] = {}
    if json:
        body["json"] = {"chatId": chat_id, "text": text, "clientId": client_id}
    else:
        form = aiohttp.FormData(default_to_multipart=True)
        form.add_field("chatId", chat_id)
        form.add_field("text", text)
        form.add_field("clientId", client_id)
        body["data"] = form
    try:
        async with http.post(
            f"{url}{API}/message", **body, headers=me.auth, timeout=SEND_TIMEOUT
        ) as response:
            status = response.status
            await response.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        tracker.failed(client_id, type(exc).__name__)
        return
    if status in (200, 201):
        tracker.acked(client_id)
    else:
        tracker.failed(client_id, f"HTTP {status}")


async def _close(sockets: list[Socket]) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(CLOSE_WAIT):
            await asyncio.gather(*(socket.close() for socket in sockets), return_exceptions=True)


def run(config: BenchConfig, display: Display | None = None) -> Report | BaselineReport:
    """Run the bench (or with ``baseline_only`` the bare loop) on its own event loop (uvloop when installed)."""
    try:
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        if config.baseline_only:
            return runner.run(run_loop(config, display))
        return runner.run(run_bench(config, display))
