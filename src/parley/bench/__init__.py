"""``parley bench``: load and latency of a running Parley, driven like real clients over its public API."""

from parley.bench.clients import BenchError
from parley.bench.runner import BenchConfig, Display, run, run_bench
from parley.bench.stats import Report

__all__ = ["BenchConfig", "BenchError", "Display", "Report", "run", "run_bench"]
