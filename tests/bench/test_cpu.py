"""Server CPU as the bench reads it: ``/proc/<pid>/stat``, a ``/metrics`` page, per-window counting."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client import generate_latest

from parley.bench.cpu import (
    CpuReading,
    CpuSample,
    cpu_from_metrics,
    cpu_of_pid,
    cpu_of_service,
    machine_cpu,
    same_process,
)
from parley.bench.runner import CpuWatch


def fake_proc(root: Path, pid: int, comm: str, utime: int, stime: int, start: int) -> None:
    (root / "stat").write_text("cpu  1 2 3\nbtime 1700000000\nprocesses 9\n")
    fields = ["S", *["0"] * 10, str(utime), str(stime), *["0"] * 6, str(start), "0", "0"]
    (root / str(pid)).mkdir()
    (root / str(pid) / "stat").write_text(f"{pid} ({comm}) {' '.join(fields)}\n")


def test_cpu_of_a_process_is_user_plus_system_time_in_seconds(tmp_path: Path) -> None:
    ticks = os.sysconf("SC_CLK_TCK")
    # A command name with spaces and a parenthesis: the fields are counted from its end.
    fake_proc(tmp_path, 7, "parley serve) chat", utime=3 * ticks, stime=ticks // 2, start=20 * ticks)
    sample = cpu_of_pid(7, proc=tmp_path)
    assert sample is not None
    assert sample.seconds == pytest.approx(3.5)
    assert sample.started == pytest.approx(1700000020)
    assert cpu_of_pid(8, proc=tmp_path) is None


def test_cpu_of_this_process_grows_with_work() -> None:
    before = cpu_of_pid(os.getpid())
    deadline = time.process_time() + 0.1
    while time.process_time() < deadline:
        pass
    after = cpu_of_pid(os.getpid())
    assert before is not None and after is not None
    assert after.seconds > before.seconds
    assert after.at > before.at


def test_cpu_from_a_metrics_page_matches_the_process_it_describes() -> None:
    page = generate_latest().decode()  # this process's own page, as a service serves it
    sample = cpu_from_metrics(page, at=1.0)
    own = cpu_of_pid(os.getpid())
    assert sample is not None and own is not None
    assert sample.at == 1.0
    # Read first, so never more, up to float rounding (the page sums user and system as floats).
    assert 0 < sample.seconds <= own.seconds + 1e-9
    assert same_process(sample, own)
    assert cpu_from_metrics("parley_sockets_connected 3.0\n", at=1.0) is None
    assert cpu_from_metrics("not { prometheus", at=1.0) is None


def test_the_machines_cpu_leaves_idle_and_iowait_out(tmp_path: Path) -> None:
    ticks = os.sysconf("SC_CLK_TCK")
    #                      user nice system idle iowait irq softirq steal guest guest_nice
    (tmp_path / "stat").write_text(f"cpu  {ticks * 3} 0 {ticks} {ticks * 50} {ticks * 9} 0 0 0 {ticks} 0\n")
    sample = machine_cpu(proc=tmp_path)
    assert sample is not None
    assert sample.seconds == pytest.approx(4.0)
    assert machine_cpu(proc=tmp_path / "missing") is None
    real = machine_cpu()
    assert real is not None and real.seconds > 0


def test_processes_started_apart_are_not_the_same() -> None:
    assert not same_process(CpuSample(1.0, 0.0, started=100.0), CpuSample(1.0, 0.0, started=100.5))
    assert not same_process(CpuSample(1.0, 0.0, started=None), CpuSample(1.0, 0.0, started=None))
    assert not same_process(None, CpuSample(1.0, 0.0, started=100.0))


async def test_a_service_that_does_not_answer_is_not_readable() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host == "up":
            return httpx.Response(200, text="process_cpu_seconds_total 4.5\n")
        return httpx.Response(404)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        sample = await cpu_of_service(client, "http://up:5002")
        assert sample is not None
        assert sample.seconds == 4.5
        assert await cpu_of_service(client, "http://down:5002") is None


def test_each_process_counts_the_messages_delivered_between_its_own_readings() -> None:
    watch = CpuWatch(httpx.AsyncClient(), pids=[1, 2], urls=["http://a", "http://b"])
    watch.readings["pid 1"] = CpuReading(CpuSample(0.0, 1.0, started=50.0), CpuSample(1.0, 3.0))
    watch.readings["pid 2"] = CpuReading(CpuSample(0.0, 1.0, started=60.0), None)
    watch.readings["http://a"] = CpuReading(CpuSample(0.0, 1.5, started=50.0), CpuSample(1.0, 3.5))
    watch.readings["http://b"] = CpuReading(CpuSample(0.0, 1.5, started=70.0), CpuSample(1.0, 3.5))
    watch.bench = CpuReading(CpuSample(0.0, 0.0), CpuSample(0.1, 10.0))
    watch.machine = CpuReading(CpuSample(100.0, 1.0), CpuSample(103.0, 3.0))
    watch.count([0.5, 1.0, 2.0, 3.0, 3.2, 3.5, 4.0])
    assert watch.readings["pid 1"].messages == 3  # 1.0, 2.0, 3.0
    assert watch.readings["pid 2"].messages == 0  # never read twice
    assert watch.readings["http://a"].messages == 4  # 2.0, 3.0, 3.2, 3.5
    assert watch.bench.messages == 7
    assert watch.machine.messages == 3
    assert watch.readings["http://a"].same_as == "pid 1"
    assert watch.readings["http://b"].same_as is None
