"""Structured logs: readable lines in a terminal, JSON lines in production."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from parley.core import redact
from parley.core.redact import scrub_emails


def configure_logging(fmt: str = "auto", level: str = "INFO", *, ref_secret: str | None = None) -> None:
    """Route structlog and the standard library (uvicorn, sqlalchemy) through one renderer.

    ``ref_secret`` keys the references that stand for email addresses in log lines (see
    :mod:`parley.core.redact`), so they match across the deployment's processes.
    """
    if ref_secret:
        redact.use_secret(ref_secret)
    if fmt == "auto":
        fmt = "console" if sys.stderr.isatty() else "json"
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        # Below the level, an event goes no further than the level check (no timestamp, no context).
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            # Last, so it sees everything that is written, exceptions and libraries' messages too.
            scrub_emails,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # The access log is ours (with request ids); uvicorn's would say everything twice.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # Service-to-service calls are logged by the service that answers them (same request id).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("aio_pika").setLevel(logging.WARNING)
    logging.getLogger("aiormq").setLevel(logging.WARNING)
    # Migrations say what they apply; alembic's plugin set-up lines are noise.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
