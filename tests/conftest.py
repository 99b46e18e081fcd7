"""Shared fixtures: backends (embedded and real) and the in-process stack."""

import os

import pytest

pytest_plugins = [
    "tests.fixtures.backends",
    "tests.fixtures.buses",
    "tests.fixtures.scheduling",
    "tests.fixtures.stack",
    "tests.fixtures.topology",
]


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A ``serial`` test disturbs shared services for every test running beside it: never under xdist
    (``make test-python`` runs them in a second pass, ``pytest -m serial``)."""
    if item.get_closest_marker("serial") and os.environ.get("PYTEST_XDIST_WORKER"):
        pytest.fail("a serial test must not run beside others: run it with `pytest -m serial`, without -n")
