"""Browser fixtures: the system's Chromium driven by Playwright, and the site it visits.

No browser is downloaded: Playwright launches the Chromium installed on the machine
(``CHROMIUM``, default ``/usr/bin/chromium``). Without it, or without the built web app
(``web/out``), the tests skip, and under ``CI=true`` they fail.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright, expect, sync_playwright

from tests.e2e.flow import LIVE
from tests.e2e.site import parley_up
from tests.fixtures.backends import require

WEB_BUILD = Path(__file__).resolve().parents[2] / "web" / "out"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str | None:
    wanted = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    return shutil.which(wanted)


@pytest.fixture(scope="session", autouse=True)
def expectations_wait_live() -> None:
    """Every expectation without its own timeout waits up to ``LIVE``, in whatever order the
    browser tests run. The option is global: ``run_chat_flow`` sets it too, so before this a test
    waited 10 s in a process where a flow test had run first and Playwright's 5 s elsewhere."""
    expect.set_options(timeout=LIVE)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    require((WEB_BUILD / "index.html").is_file(), "the built web app (make web)")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    executable = chromium_path()
    require(executable is not None, "Chromium (set CHROMIUM to its path)")
    assert executable is not None
    chromium = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture(scope="module")
def embedded_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``parley up`` with everything embedded, in a temporary data directory: its base URL."""
    with parley_up(tmp_path_factory.mktemp("parley-up")) as base_url:
        yield base_url


# Lets one person log in several times in a row, and reach the daily wrong-code limit quickly.
STRICT_SETTINGS = {"OTP_RESEND_SECONDS": "0", "OTP_MAX_ATTEMPTS": "5", "OTP_MAX_FAILURES_PER_DAY": "3"}


@pytest.fixture(scope="module")
def strict_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``parley up`` embedded with :data:`STRICT_SETTINGS`: its base URL."""
    with parley_up(tmp_path_factory.mktemp("parley-up-strict"), STRICT_SETTINGS) as base_url:
        yield base_url


@pytest.fixture(params=["embedded", pytest.param("microservices", marks=pytest.mark.real)])
def site(request: pytest.FixtureRequest) -> str:
    """The base URL of a running Parley: embedded (SQLite), then the separate services (PostgreSQL)."""
    if request.param == "embedded":
        return str(request.getfixturevalue("embedded_site"))
    return str(request.getfixturevalue("topology").url)
