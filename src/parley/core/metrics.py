"""Prometheus metrics shared by every service (one registry per process)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Histogram(
    "parley_http_request_duration_seconds",
    "HTTP request latency by service, route template, method and status.",
    ["service", "method", "route", "status"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
OTPS_ISSUED = Counter("parley_otps_issued_total", "One-time codes issued.")
OTPS_REFUSED = Counter("parley_otps_refused_total", "One-time code checks refused, by reason.", ["reason"])
MAILS = Counter("parley_mails_total", "Mails handled by the mail worker, by outcome.", ["outcome"])
MESSAGES_STORED = Counter("parley_messages_stored_total", "Chat messages stored.")
MESSAGES_DELIVERED = Counter("parley_messages_delivered_total", "Chat message events emitted to sockets.")
SOCKETS_CONNECTED = Gauge("parley_sockets_connected", "Socket.IO connections held by this process.")
