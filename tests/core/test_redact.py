"""No email address reaches a log line: call sites log a reference, the formatter masks the rest."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog

from parley.core.logging import configure_logging
from parley.core.redact import email_ref, mask_emails


@pytest.fixture
def configured_logging() -> Iterator[None]:
    """Parley's own log configuration, for one test (the test run's is put back afterwards)."""
    root = logging.getLogger()
    handlers, level, config = root.handlers[:], root.level, structlog.get_config()
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.configure(**config)


def test_a_reference_names_the_domain_and_not_the_address() -> None:
    ref = email_ref("Bob.Smith@Example.com")
    assert "@" not in ref
    assert "bob" not in ref.lower()
    assert ref.endswith("(Example.com)")
    assert ref == email_ref("bob.smith@example.com").replace("example.com", "Example.com")
    assert email_ref("a@x.org") != email_ref("b@x.org")


def test_masking_replaces_every_address_in_a_text() -> None:
    text = "550 <carol@mail.example.org> refused; also dave+tag@sub.example.net."
    masked = mask_emails(text)
    assert "carol@" not in masked and "dave+tag@" not in masked
    assert "@" not in masked
    assert "mail.example.org" in masked and "550" in masked


def test_the_formatter_masks_addresses_in_every_line(
    configured_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("json", "DEBUG")
    log = structlog.get_logger("parley.test")
    log.info("test.event", who="bob@example.com", note="sent to bob@example.com")
    log.debug("test.debug", who="erin@example.com")
    logging.getLogger("some.library").warning("recipient <carol@example.org> refused")
    try:
        raise ValueError("bad address dave@example.net")
    except ValueError:
        log.exception("test.failed")
    err = capsys.readouterr().err
    assert "test.event" in err and "test.failed" in err and "recipient" in err and "test.debug" in err
    for address in ("bob@example.com", "carol@example.org", "dave@example.net", "erin@example.com"):
        assert address not in err
    assert "example.com" in err  # the domain is kept: delivery problems are about it
