"""The measurement script: which commands it runs and how it sums a run up."""

from __future__ import annotations

from pathlib import Path

from parley.bench.stack import Options, Running, bench_command, parse, summary_row


def options(**changes: object) -> Options:
    found = parse(["--dir", "/tmp/x"])  # noqa: S108 - never created here
    for key, value in changes.items():
        setattr(found, key, value)
    return found


def test_the_standard_series_runs_every_load_in_microservices_and_flat_out_embedded() -> None:
    assert options().series == ["flat", "rate50", "rate200", "rate500", "rate1000"]
    assert parse(["--mode", "embedded"]).series == ["flat"]
    assert options().directory == Path("/tmp/x")  # noqa: S108


def test_flat_out_runs_the_bare_loop_against_the_runs_own_database() -> None:
    running = Running(
        bench_args=["--url", "http://web"], chat_database="postgresql://pg/chat", redis_url="redis://r/6"
    )
    flat = bench_command(options(), running, "flat")
    assert flat[flat.index("--pairs") + 1] == "10"
    assert flat[flat.index("--rate") + 1] == "0"
    assert flat[flat.index("--baseline-db") + 1] == "postgresql://pg/chat"
    assert flat[flat.index("--baseline-redis") + 1] == "redis://r/6"
    rate = bench_command(options(), running, "rate500")
    assert rate[rate.index("--rate") + 1] == "500"
    assert "--baseline" not in rate
    embedded = bench_command(options(), Running(bench_args=["--url", "http://up", "--pid", "7"]), "flat")
    assert "--baseline" not in embedded


def test_a_run_is_summed_up_as_one_markdown_row() -> None:
    report = {
        "sent_per_s": 300.04,
        "delivered_per_s": 299.5,
        "cpu": {
            "http://chat": {"seconds": 6.0, "messages": 2000, "ms_per_msg": 3.0},
            "http://user": {"seconds": 0.2, "messages": 2000, "ms_per_msg": 0.1},
            "http://same": {"seconds": 6.0, "messages": 2000, "ms_per_msg": 3.0, "same_as": "pid 1"},
        },
        "cpu_ms_per_msg": 3.1,
        "e2e_ms": {"p50": 40.0, "p95": 80.0, "p99": 120.25},
        "lost": 0,
        "duplicates": 0,
        "send_errors": 1,
        "baseline": {"1_per_tx": {"msg_per_s": 3000.0}, "10_per_tx": {"msg_per_s": 15000.0}},
        "baseline_ratio": 0.0998,
        "machine_busy_cores": 1.87,
    }
    row = summary_row("microservices", "flat", report, {"http://chat": "chat1", "http://user": "user"})
    assert row == (
        "| microservices | 20 senders, flat out | 300.0 | 299.5 | 3.10 (chat1 3.00 + user 0.10) | 40.0 / 120.2 "
        "| 0 / 0 / 1 | 3000 / 15000 (ratio 0.10) | 1.87 cores |"
    )
