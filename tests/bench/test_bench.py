"""``parley bench``: its arithmetic, and a short run against a real ``parley up``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

from parley.bench.clients import Account, BenchError, codes_by_recipient
from parley.bench.cpu import CpuReading, CpuSample
from parley.bench.rss import metrics_url, rss_from_metrics, rss_of_pid
from parley.bench.runner import BenchConfig, Tracker
from parley.bench.stats import Report, RssReading, percentiles
from tests.bench.conftest import free_port

PARLEY = [sys.executable, "-m", "parley.cli"]

ALICE = Account(email="alice@example.com", id="a" * 24, token="t-alice")
BOB = Account(email="bob@example.com", id="b" * 24, token="t-bob")


# -- percentiles and the report ---------------------------------------------------------------


def test_percentiles_interpolate_between_samples() -> None:
    found = percentiles([float(v) for v in range(100, 0, -1)], (0, 50, 95, 99, 100))
    assert found == {
        "p0": 1.0,
        "p50": 50.5,
        "p95": pytest.approx(95.05),
        "p99": pytest.approx(99.01),
        "p100": 100.0,
    }


def test_percentiles_of_few_samples() -> None:
    assert percentiles([], (50, 99)) == {"p50": None, "p99": None}
    assert percentiles([0.25], (50, 99)) == {"p50": 0.25, "p99": 0.25}
    assert percentiles([1.0, 3.0], (50,)) == {"p50": 2.0}


def test_percentiles_outside_0_to_100_are_refused() -> None:
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentiles([1.0], (101,))


def make_report(**changes: object) -> Report:
    fields: dict[str, object] = {
        "url": "http://127.0.0.1:3000",
        "pairs": 2,
        "rate": 0.0,
        "duration": 4.0,
        "warmup": 1.0,
        "users": 5,
        "sent": 120,
        "delivered": 119,
        "lost": 1,
        "duplicates": 2,
        "send_errors": 3,
        "window": 4.0,
        "sent_in_window": 100,
        "delivered_in_window": 98,
        "send_latencies": [0.010, 0.020, 0.030],
        "e2e_latencies": [0.015],
        "sockets_asked": 7,
        "sockets_held": 6,
        "errors": {"HTTP 503": 3},
        "rss": {"pid 1": RssReading(start=100 * 2**20, peak=150 * 2**20, end=140 * 2**20)},
    }
    fields.update(changes)
    return Report(**fields)  # type: ignore[arg-type]


def test_report_json_has_rates_over_the_window_and_times_in_ms() -> None:
    data = make_report().as_json()
    assert data["sent_per_s"] == 25.0
    assert data["delivered_per_s"] == 24.5
    assert data["send_ms"] == {"p50": 20.0, "p99": 29.8}
    assert data["e2e_ms"] == {"p50": 15.0, "p95": 15.0, "p99": 15.0}
    assert (data["sent"], data["delivered"], data["lost"], data["duplicates"]) == (120, 119, 1, 2)
    assert (data["sockets_asked"], data["sockets_held"]) == (7, 6)
    assert data["rss_bytes"] == {"pid 1": {"start": 100 * 2**20, "peak": 150 * 2**20, "end": 140 * 2**20}}
    assert data["errors"] == {"HTTP 503": 3}
    json.dumps(data)  # one JSON line: everything in it serialises


def test_report_sums_cpu_per_message_over_processes_counting_each_once() -> None:
    cpu = {
        "pid 1": CpuReading(CpuSample(10.0, 0.0), CpuSample(12.0, 4.0), messages=1000),
        "http://chat": CpuReading(CpuSample(1.0, 0.0), CpuSample(2.0, 4.0), messages=500),
        # The same process as pid 1, read through its /metrics: shown, not summed again.
        "http://up": CpuReading(CpuSample(10.0, 0.0), CpuSample(12.0, 4.0), messages=1000, same_as="pid 1"),
        "http://gone": CpuReading(CpuSample(1.0, 0.0), None),
    }
    bench = CpuReading(CpuSample(0.5, 0.0), CpuSample(0.75, 4.0), messages=1000)
    machine = CpuReading(CpuSample(100.0, 0.0), CpuSample(106.0, 4.0))
    data = make_report(cpu=cpu, bench_cpu=bench, machine_cpu=machine).as_json()
    assert data["cpu"]["pid 1"] == {"seconds": 2.0, "messages": 1000, "ms_per_msg": 2.0}
    assert data["cpu"]["http://chat"] == {"seconds": 1.0, "messages": 500, "ms_per_msg": 2.0}
    assert data["cpu"]["http://up"]["same_as"] == "pid 1"
    assert data["cpu"]["http://gone"] == {"seconds": None, "messages": 0, "ms_per_msg": None}
    assert data["cpu_ms_per_msg"] == 4.0
    assert data["bench_cpu_ms_per_msg"] == 0.25
    assert data["machine_busy_cores"] == 1.5
    assert "baseline" not in data
    json.dumps(data)

    console = Console(record=True, width=160)
    console.print(make_report(cpu=cpu, bench_cpu=bench, machine_cpu=machine).table())
    text = console.export_text()
    assert "2.000 ms/msg (2.00 s for 1000 msgs)" in text
    assert "4.000 ms/msg" in text
    assert "not readable" in text
    assert "1.50 cores" in text


def test_report_without_cpu_readings_has_no_sum_rather_than_zero() -> None:
    data = make_report().as_json()
    assert (data["cpu"], data["cpu_ms_per_msg"], data["bench_cpu_ms_per_msg"]) == ({}, None, None)
    idle = CpuReading(CpuSample(1.0, 0.0), CpuSample(1.5, 4.0), messages=0)
    assert make_report(cpu={"pid 1": idle}).as_json()["cpu"]["pid 1"]["ms_per_msg"] is None


def test_report_without_deliveries_has_no_latency_rather_than_zero() -> None:
    data = make_report(e2e_latencies=[], send_latencies=[], window=0.0).as_json()
    assert data["e2e_ms"] == {"p50": None, "p95": None, "p99": None}
    assert data["sent_per_s"] == 0.0


def test_report_table_shows_the_numbers() -> None:
    console = Console(record=True, width=120)
    console.print(make_report().table())
    text = console.export_text()
    assert "2 pairs, flat out" in text
    assert "p50 20.0 ms" in text
    assert "6 of 7" in text
    assert "100 → 140 MiB (peak 150)" in text
    assert "HTTP 503" in text


def test_rss_reading_keeps_start_peak_and_end() -> None:
    reading = RssReading()
    for value in (None, 5, 9, None, 7):
        reading.add(value)
    assert (reading.start, reading.peak, reading.end) == (5, 9, 7)


# -- what the clients read -------------------------------------------------------------------------


def test_the_newest_code_per_address_is_taken_from_the_mailbox() -> None:
    mails = [
        {"to": "Bob@example.com", "body": "Your code is 222222. It expires in 5 minutes."},
        {"to": "alice@example.com", "body": "Your code is 111111."},
        {"to": "bob@example.com", "body": "Your code is 000000."},
        {"to": "carol@example.com", "body": "no code in 1234567 here"},
    ]
    assert codes_by_recipient(mails) == {"bob@example.com": "222222", "alice@example.com": "111111"}


def test_rss_from_a_metrics_page() -> None:
    page = (
        "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
        "# TYPE process_resident_memory_bytes gauge\n"
        "process_resident_memory_bytes 1.40550144e+08\n"
        "parley_sockets_connected 3.0\n"
    )
    assert rss_from_metrics(page) == 140550144
    assert rss_from_metrics("parley_sockets_connected 3.0\n") is None
    assert rss_from_metrics("not { prometheus") is None
    assert metrics_url("http://chat:5002/") == "http://chat:5002/metrics"
    assert metrics_url("http://chat:5002/metrics") == "http://chat:5002/metrics"


def test_rss_of_a_local_process(tmp_path: Path) -> None:
    own = rss_of_pid(os.getpid())
    assert own is not None
    assert own > 1024 * 1024
    (tmp_path / "7").mkdir()
    (tmp_path / "7" / "status").write_text("Name:\tx\nVmRSS:\t  2048 kB\n")
    assert rss_of_pid(7, proc=tmp_path) == 2048 * 1024
    assert rss_of_pid(8, proc=tmp_path) is None


@pytest.mark.parametrize(
    "changes",
    [
        {"pairs": 0},
        {"duration": 0},
        {"rate": -1},
        {"idle_users": 0},
        {"url": "ftp://x"},
        {"socket_urls": ["x"]},
        {"send_via": "pigeon"},
    ],
)
def test_options_that_make_no_run_are_refused(changes: dict[str, object]) -> None:
    config = BenchConfig(**changes)  # type: ignore[arg-type]
    with pytest.raises(BenchError):
        config.check()


# -- the tracker: what counts as delivered, lost, duplicated ---------------------------------------


async def test_only_the_recipients_copy_counts_and_repeats_are_duplicates() -> None:
    tracker = Tracker()
    tracker.start("m1", BOB.id, measured=True)
    tracker.start("m2", BOB.id, measured=False)
    tracker.start("m3", BOB.id, measured=True)
    tracker.start("m4", BOB.id, measured=True)
    tracker.heard(ALICE, {"clientId": "m1"})  # the sender's own socket hears it too
    tracker.heard(BOB, {"clientId": "m1"})  # before the HTTP answer: that happens
    tracker.acked("m1")
    tracker.acked("m2")
    tracker.heard(BOB, {"clientId": "m2"})
    tracker.heard(BOB, {"clientId": "m2"})
    tracker.heard(BOB, {"clientId": "someone else's"})
    tracker.heard(BOB, {})
    tracker.acked("m3")
    tracker.failed("m4", "HTTP 503")
    tracker.sending_done()
    assert not tracker.settled.is_set()  # m3 is still awaited

    report = tracker.report(BenchConfig(pairs=1), window=(0.0, time.perf_counter() + 1), users=2)
    assert (report.sent, report.delivered, report.lost, report.duplicates) == (3, 2, 1, 1)
    assert report.send_errors == 1
    assert report.errors == {"HTTP 503": 1}
    assert len(report.send_latencies) == 2  # the measured ones: m1, m3
    assert len(report.e2e_latencies) == 1  # m1
    assert report.sent_in_window == 2
    assert report.delivered_in_window == 2


async def test_the_tracker_settles_once_every_acknowledged_message_is_heard() -> None:
    tracker = Tracker()
    tracker.start("m1", BOB.id, measured=True)
    tracker.acked("m1")
    tracker.heard(BOB, {"clientId": "m1"})
    assert not tracker.settled.is_set()  # still sending
    tracker.sending_done()
    assert tracker.settled.is_set()


# -- a real run ------------------------------------------------------------------------------------


def bench(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [*PARLEY, "bench", *args], cwd=cwd, capture_output=True, text=True, timeout=90, check=False
    )


@pytest.mark.slow
@pytest.mark.parametrize("send_via", ["socket", "json"])
def test_a_short_run_delivers_every_message_once(
    start_parley: Callable[[dict[str, str]], tuple[str, int]], tmp_path: Path, send_via: str
) -> None:
    url, pid = start_parley({})
    load = ["--pairs", "2", "--duration", "2", "--warmup", "0.5", "--rate", "40", "--idle", "5"]
    load += ["--send-via", send_via]
    memory = ["--pid", str(pid), "--rss-url", url]
    result = bench(["--url", url, *load, "--idle-users", "2", *memory, "--json-only"], tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    report = json.loads(lines[0])
    assert report["users"] == 2 * 2 + 2
    assert report["sent"] > 0
    assert report["delivered"] == report["sent"]
    assert report["lost"] == 0
    assert report["duplicates"] == 0
    assert report["send_errors"] == 0
    assert report["sockets_asked"] == report["sockets_held"] == 2 * 2 + 5
    assert report["e2e_ms"]["p50"] is not None
    assert report["send_ms"]["p99"] is not None
    rss = report["rss_bytes"]
    assert rss[f"pid {pid}"]["peak"] > 0
    assert rss[url]["peak"] > 0
    # CPU over the window, for the pid and for the same process through /metrics: counted once.
    by_pid, by_url = report["cpu"][f"pid {pid}"], report["cpu"][url]
    assert 0 < by_pid["messages"] <= report["delivered"]
    assert by_pid["seconds"] > 0
    assert by_pid["ms_per_msg"] == pytest.approx(by_pid["seconds"] * 1000 / by_pid["messages"], rel=0.01)
    assert by_url["same_as"] == f"pid {pid}"
    assert report["cpu_ms_per_msg"] == by_pid["ms_per_msg"]
    assert report["bench_cpu_ms_per_msg"] > 0
    assert report["machine_busy_cores"] > 0


@pytest.mark.slow
def test_a_rate_limited_login_is_named(
    start_parley: Callable[[dict[str, str]], tuple[str, int]], tmp_path: Path
) -> None:
    url, _ = start_parley({"LOGIN_RATE_PER_MINUTE": "3"})
    result = bench(["--url", url, "--pairs", "2", "--duration", "1", "--json-only"], tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "rate-limited POST /api/v1/login" in result.stderr
    assert "LOGIN_RATE_PER_MINUTE" in result.stderr
    assert "Traceback" not in result.stderr


def test_nothing_running_is_said_plainly(tmp_path: Path) -> None:
    result = bench(["--url", f"http://127.0.0.1:{free_port()}", "--json-only"], tmp_path)
    assert result.returncode == 1
    assert "nothing answers at" in result.stderr
    assert "Traceback" not in result.stderr
