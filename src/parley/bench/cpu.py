"""Server CPU: user + system time of a local process, or what a service reports at ``/metrics``.

The bench reads each server process before and after the measured window and divides the CPU
time spent in between by the messages delivered in between. Local processes are read from
``/proc/<pid>/stat`` (``utime`` + ``stime``, every thread of the process); services from
``process_cpu_seconds_total`` on their ``/metrics``, which Prometheus' client computes from the
same two fields. Both are counted in clock ticks (10 ms), so a window should hold seconds of load.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from parley.bench.rss import metrics_url

CPU_METRIC = "process_cpu_seconds_total"
START_METRIC = "process_start_time_seconds"
# Two readings of one process's start time agree to a clock tick; a little more for rounding.
SAME_START = 0.02


@dataclass(frozen=True)
class CpuSample:
    """A process's CPU seconds so far, when the bench read them, and when the process started.

    ``at`` is the bench's ``time.perf_counter()`` at the reading (the middle of the request for a
    service); ``started`` is the process's start in Unix seconds, None where it is not known.
    """

    seconds: float
    at: float
    started: float | None = None


def _ticks() -> float:
    try:
        return float(os.sysconf("SC_CLK_TCK"))
    except (ValueError, OSError):  # pragma: no cover - every Linux has it
        return 100.0


def _boot_time(proc: Path) -> float | None:
    try:
        for line in (proc / "stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def cpu_of_pid(pid: int, proc: Path = Path("/proc")) -> CpuSample | None:
    """``utime + stime`` of a local process from ``/proc/<pid>/stat``; None if unreadable."""
    at = time.perf_counter()
    try:
        stat = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: count from its end.
    fields = stat.rpartition(")")[2].split()
    try:
        utime, stime, start = int(fields[11]), int(fields[12]), int(fields[19])
    except (IndexError, ValueError):
        return None
    ticks = _ticks()
    boot = _boot_time(proc)
    return CpuSample((utime + stime) / ticks, at, None if boot is None else boot + start / ticks)


def cpu_from_metrics(text: str, at: float) -> CpuSample | None:
    """``process_cpu_seconds_total`` (and the start time) from a Prometheus text page."""
    seconds: float | None = None
    started: float | None = None
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == CPU_METRIC:
                    seconds = float(sample.value)
                elif sample.name == START_METRIC:
                    started = float(sample.value)
    except ValueError:
        return None
    return None if seconds is None else CpuSample(seconds, at, started)


async def cpu_of_service(client: httpx.AsyncClient, url: str) -> CpuSample | None:
    """The CPU seconds a service reports at its ``/metrics``; None if it does not answer."""
    before = time.perf_counter()
    try:
        response = await client.get(metrics_url(url), timeout=10)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    return cpu_from_metrics(response.text, (before + time.perf_counter()) / 2)


def machine_cpu(proc: Path = Path("/proc")) -> CpuSample | None:
    """CPU seconds every process of the machine has used (all cores, idle and iowait left out)."""
    at = time.perf_counter()
    try:
        first = (proc / "stat").read_text().splitlines()[0].split()
        # user nice system idle iowait irq softirq steal (guest time is already in user).
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in first[1:9])
    except (OSError, IndexError, ValueError):
        return None
    return CpuSample((user + nice + system + irq + softirq + steal) / _ticks(), at)


def same_process(a: CpuSample | None, b: CpuSample | None) -> bool:
    """Whether two readings (a pid and a service's page) are of one process: same start time."""
    if a is None or b is None or a.started is None or b.started is None:
        return False
    return abs(a.started - b.started) <= SAME_START


@dataclass
class CpuReading:
    """One server process over the measured window: CPU seconds spent and messages delivered."""

    before: CpuSample | None = None
    after: CpuSample | None = None
    messages: int = 0
    # Set when another source is the same process (a --pid and its --rss-url): not summed twice.
    same_as: str | None = None

    @property
    def seconds(self) -> float | None:
        if self.before is None or self.after is None:
            return None
        return max(0.0, self.after.seconds - self.before.seconds)

    @property
    def ms_per_message(self) -> float | None:
        seconds = self.seconds
        if seconds is None or self.messages <= 0:
            return None
        return seconds * 1000 / self.messages
