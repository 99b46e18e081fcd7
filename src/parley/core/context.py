"""Per-request context that follows a request through logs, service calls and queue messages."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import structlog

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


def current_request_id() -> str | None:
    return request_id_var.get()


@contextmanager
def bound(*, request_id: str | None) -> Iterator[None]:
    """Run a block with ``request_id`` set for logs and outgoing calls."""
    token = request_id_var.set(request_id)
    try:
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            yield
    finally:
        request_id_var.reset(token)
