"""No email address reaches a log line: call sites log a reference, the formatter masks the rest."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from parley.core.logging import configure_logging
from parley.core.redact import email_ref, mask_emails
from parley.core.settings import Settings


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


def plain_sha256_ref(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:12]


def test_a_reference_is_keyed_by_the_server_secret(configured_logging: None) -> None:
    """Anyone with the logs must not be able to confirm a guessed address by hashing it."""
    configure_logging("json", "INFO", ref_secret="a" * 20 + "-first-deployment-secret")
    first = email_ref("bob@example.com")
    assert first.split()[0] == email_ref("Bob@Example.com").split()[0]
    assert not first.startswith(plain_sha256_ref("bob@example.com"))
    configure_logging("json", "INFO", ref_secret="b" * 20 + "-other-deployment-secret")
    assert email_ref("bob@example.com") != first
    configure_logging("json", "INFO", ref_secret="a" * 20 + "-first-deployment-secret")
    assert email_ref("bob@example.com") == first  # the same in every process of a deployment


def test_the_reference_secret_comes_from_its_setting_or_the_token_secret(tmp_path: Path) -> None:
    token_secret = "t" * 16 + "-token-secret-of-this-deployment"
    assert Settings(env_file=False, jwt_secret=token_secret).log_ref_secret() == token_secret
    own = "l" * 16 + "-log-secret-of-this-deployment"
    assert Settings(env_file=False, jwt_secret=token_secret, log_ref_secret=own).log_ref_secret() == own
    # A verifier with public keys only, in production, has no secret to key with.
    verifier = Settings(env_file=False, env="production", jwt_public_keys="k", data_dir=tmp_path)
    assert verifier.log_ref_secret() is None
