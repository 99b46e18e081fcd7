"""What a bench run measured: percentiles, the report, and how it reads (one JSON line, one table)."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.table import Table

from parley.bench.cpu import CpuReading

MIB = 1024 * 1024


def percentiles(values: Iterable[float], points: Sequence[int]) -> dict[str, float | None]:
    """``{"p50": ..., "p99": ...}`` of ``values`` for each whole percent in ``points``.

    Interpolated between the nearest samples (the ``inclusive`` method: p0 is the minimum, p100
    the maximum). No samples give ``None`` for every point; one sample is every percentile.
    """
    data = sorted(values)
    if any(not 0 <= p <= 100 for p in points):
        raise ValueError("percentiles are between 0 and 100")
    if not data:
        return {f"p{p}": None for p in points}
    if len(data) == 1:
        return {f"p{p}": data[0] for p in points}
    cuts = statistics.quantiles(data, n=100, method="inclusive")
    found: dict[str, float | None] = {}
    for p in points:
        found[f"p{p}"] = data[0] if p == 0 else data[-1] if p == 100 else cuts[p - 1]
    return found


def in_ms(values: Mapping[str, float | None]) -> dict[str, float | None]:
    """Seconds to milliseconds, rounded to microseconds."""
    return {key: None if value is None else round(value * 1000, 3) for key, value in values.items()}


@dataclass
class RssReading:
    """The resident memory of one server process, in bytes (``None``: not readable).

    ``start`` is read before the bench's sockets connect, ``peak`` and ``end`` while and after
    the load runs, so ``end - start`` is roughly what the sockets and the messages cost.
    """

    start: int | None = None
    peak: int | None = None
    end: int | None = None

    def add(self, value: int | None) -> None:
        if value is None:
            return
        if self.start is None:
            self.start = value
        self.peak = value if self.peak is None else max(self.peak, value)
        self.end = value


@dataclass
class Report:
    """The outcome of one run.

    The counts (sent, delivered, lost, duplicates) cover every message, warm-up included: a message
    lost during the warm-up is still lost. Rates and latencies cover the measured window only.
    """

    url: str
    pairs: int
    rate: float
    duration: float
    warmup: float
    users: int
    sent: int
    delivered: int
    lost: int
    duplicates: int
    send_errors: int
    window: float
    sent_in_window: int
    delivered_in_window: int
    send_latencies: list[float] = field(repr=False, default_factory=list)
    e2e_latencies: list[float] = field(repr=False, default_factory=list)
    sockets_asked: int = 0
    sockets_held: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    rss: dict[str, RssReading] = field(default_factory=dict)
    cpu: dict[str, CpuReading] = field(default_factory=dict)
    bench_cpu: CpuReading | None = None
    machine_cpu: CpuReading | None = None
    baseline: BaselineReport | None = None

    @property
    def cpu_ms_per_message(self) -> float | None:
        """Server CPU per delivered message, summed over the processes read (each once)."""
        found = [r.ms_per_message for r in self.cpu.values() if r.same_as is None]
        values = [v for v in found if v is not None]
        return sum(values) if values else None

    @property
    def machine_busy_cores(self) -> float | None:
        """How many cores the whole machine kept busy during the window (servers, bench and the rest)."""
        reading = self.machine_cpu
        if reading is None or reading.seconds is None or reading.before is None or reading.after is None:
            return None
        wall = reading.after.at - reading.before.at
        return reading.seconds / wall if wall > 0 else None

    @property
    def baseline_ratio(self) -> float | None:
        """Delivered messages/s over the bare one-transaction loop's, measured in the same run."""
        if self.baseline is None:
            return None
        bare = self.baseline.variants.get(ONE_PER_TRANSACTION)
        if bare is None or bare.per_s <= 0:
            return None
        return self.delivered_per_s / bare.per_s

    @property
    def sent_per_s(self) -> float:
        return self.sent_in_window / self.window if self.window > 0 else 0.0

    @property
    def delivered_per_s(self) -> float:
        return self.delivered_in_window / self.window if self.window > 0 else 0.0

    def as_json(self) -> dict[str, Any]:
        """The report as the JSON line prints it: times in milliseconds, memory in bytes."""
        return {
            "url": self.url,
            "pairs": self.pairs,
            "rate": self.rate,
            "duration_s": self.duration,
            "warmup_s": self.warmup,
            "users": self.users,
            "sent": self.sent,
            "delivered": self.delivered,
            "lost": self.lost,
            "duplicates": self.duplicates,
            "send_errors": self.send_errors,
            "sent_per_s": round(self.sent_per_s, 2),
            "delivered_per_s": round(self.delivered_per_s, 2),
            "send_ms": in_ms(percentiles(self.send_latencies, (50, 99))),
            "e2e_ms": in_ms(percentiles(self.e2e_latencies, (50, 95, 99))),
            "sockets_asked": self.sockets_asked,
            "sockets_held": self.sockets_held,
            "rss_bytes": {
                source: {"start": r.start, "peak": r.peak, "end": r.end} for source, r in self.rss.items()
            },
            "cpu": {source: _cpu_json(reading) for source, reading in self.cpu.items()},
            "cpu_ms_per_msg": _round(self.cpu_ms_per_message),
            "bench_cpu_ms_per_msg": _round(self.bench_cpu.ms_per_message if self.bench_cpu else None),
            "machine_busy_cores": _round(self.machine_busy_cores),
            "errors": dict(self.errors),
        } | (
            {}
            if self.baseline is None
            else {"baseline": self.baseline.as_json(), "baseline_ratio": _round(self.baseline_ratio)}
        )

    def table(self) -> Table:
        """The same numbers for a person to read."""
        data = self.as_json()
        table = Table(title=f"parley bench · {self.url}", show_header=False, title_justify="left")
        table.add_column(style="bold")
        table.add_column(justify="right")
        rate = "flat out" if self.rate <= 0 else f"{self.rate:g} msg/s"
        table.add_row("load", f"{self.pairs} pairs, {rate}, {self.duration:g} s (+{self.warmup:g} s warm-up)")
        table.add_row("sent", f"{self.sent}  ({data['sent_per_s']:.1f}/s)")
        table.add_row("delivered", f"{self.delivered}  ({data['delivered_per_s']:.1f}/s)")
        table.add_row("lost", _flag(self.lost))
        table.add_row("duplicated", _flag(self.duplicates))
        table.add_row("send errors", _flag(self.send_errors))
        table.add_row("send latency", _latencies(data["send_ms"]))
        table.add_row("end-to-end latency", _latencies(data["e2e_ms"]))
        held = f"{self.sockets_held} of {self.sockets_asked}"
        table.add_row("sockets held", held if self.sockets_held == self.sockets_asked else f"[red]{held}[/]")
        for source, reading in self.rss.items():
            table.add_row(f"RSS {source}", _rss(reading))
        for source, cpu in self.cpu.items():
            table.add_row(f"CPU {source}", _cpu(cpu))
        if self.cpu:
            total = self.cpu_ms_per_message
            table.add_row("CPU servers, summed", "–" if total is None else f"{total:.3f} ms/msg")
        if self.bench_cpu is not None:
            table.add_row("CPU of the bench itself", _cpu(self.bench_cpu))
        busy = self.machine_busy_cores
        if busy is not None:
            table.add_row("machine busy (every process)", f"{busy:.2f} cores")
        if self.baseline is not None:
            self.baseline.add_rows(table)
            ratio = self.baseline_ratio
            table.add_row("delivered ÷ bare loop", "–" if ratio is None else f"{ratio:.2f}x")
        for reason, count in sorted(self.errors.items()):
            table.add_row(f"[red]error[/] {reason}", str(count))
        return table


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _cpu_json(reading: CpuReading) -> dict[str, Any]:
    return {
        "seconds": _round(reading.seconds),
        "messages": reading.messages,
        "ms_per_msg": _round(reading.ms_per_message),
    } | ({} if reading.same_as is None else {"same_as": reading.same_as})


def _cpu(reading: CpuReading) -> str:
    if reading.seconds is None:
        return "not readable"
    per = reading.ms_per_message
    text = f"{reading.seconds:.2f} s for {reading.messages} msgs"
    text = text if per is None else f"{per:.3f} ms/msg ({text})"
    return text if reading.same_as is None else f"{text}, = {reading.same_as}"


def _flag(count: int) -> str:
    return "0" if count == 0 else f"[bold red]{count}[/]"


def _latencies(values: Mapping[str, float | None]) -> str:
    return "  ".join(f"{key} {'–' if ms is None else f'{ms:.1f} ms'}" for key, ms in values.items())


def _rss(reading: RssReading) -> str:
    if reading.peak is None:
        return "not readable"
    start = reading.start or 0
    end = reading.end or 0
    return f"{start / MIB:.0f} → {end / MIB:.0f} MiB (peak {reading.peak / MIB:.0f})"


ONE_PER_TRANSACTION = "1_per_tx"
TEN_PER_TRANSACTION = "10_per_tx"


@dataclass
class BaselineVariant:
    """One run of the bare loop: messages committed in the window; a send is a commit + its publishes."""

    per_transaction: int
    senders: int
    window: float
    committed_in_window: int
    committed: int
    rows_stored: int
    send_latencies: list[float] = field(repr=False, default_factory=list)

    @property
    def per_s(self) -> float:
        return self.committed_in_window / self.window if self.window > 0 else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "messages_per_transaction": self.per_transaction,
            "senders": self.senders,
            "committed": self.committed,
            "rows_stored": self.rows_stored,
            "msg_per_s": round(self.per_s, 2),
            "send_ms": in_ms(percentiles(self.send_latencies, (50, 99))),
        }


@dataclass
class BaselineReport:
    """The bare Python loop doing Parley's durable work for a message, against one PostgreSQL.

    ``database`` is the URL without its password; ``fsync`` and ``synchronous_commit`` are what
    the server had, as the loop ran with them.
    """

    database: str
    fsync: str
    synchronous_commit: str
    duration: float
    warmup: float
    variants: dict[str, BaselineVariant] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "fsync": self.fsync,
            "synchronous_commit": self.synchronous_commit,
            "duration_s": self.duration,
            "warmup_s": self.warmup,
        } | {name: variant.as_json() for name, variant in self.variants.items()}

    def add_rows(self, table: Table) -> None:
        settings = f"fsync {self.fsync}, synchronous_commit {self.synchronous_commit}"
        table.add_row("bare loop database", f"{self.database} ({settings})")
        for variant in self.variants.values():
            latency = _latencies(in_ms(percentiles(variant.send_latencies, (50, 99))))
            table.add_row(
                f"bare loop, {variant.per_transaction} msg/transaction",
                f"{variant.per_s:.1f} msg/s  ({variant.senders} senders; send {latency})",
            )

    def table(self) -> Table:
        """The baseline alone, for a person to read."""
        table = Table(title="parley bench · bare loop", show_header=False, title_justify="left")
        table.add_column(style="bold")
        table.add_column(justify="right")
        self.add_rows(table)
        return table
