"""Server memory: the resident set of a local process, or what a service reports at ``/metrics``."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

RSS_METRIC = "process_resident_memory_bytes"


def rss_of_pid(pid: int, proc: Path = Path("/proc")) -> int | None:
    """The resident memory of a local process in bytes, from ``/proc/<pid>/status``; None if unreadable."""
    try:
        status = (proc / str(pid) / "status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            amount, _, unit = line.split(":", 1)[1].strip().partition(" ")
            if unit.strip().lower() == "kb" and amount.isdigit():
                return int(amount) * 1024
    return None


def rss_from_metrics(text: str) -> int | None:
    """``process_resident_memory_bytes`` from a Prometheus text page; None if it is not there."""
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == RSS_METRIC:
                    return int(sample.value)
    except ValueError:
        return None
    return None


def metrics_url(url: str) -> str:
    """A service's metrics page: ``url`` itself if it names one, else ``<url>/metrics``."""
    return url if url.rstrip("/").endswith("/metrics") else url.rstrip("/") + "/metrics"


async def rss_of_service(client: httpx.AsyncClient, url: str) -> int | None:
    """The resident memory a service reports at its ``/metrics``; None if it does not answer."""
    try:
        response = await client.get(metrics_url(url), timeout=5)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    return rss_from_metrics(response.text)
