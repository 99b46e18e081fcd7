"""Shared fixtures: backends (embedded and real) and the in-process stack."""

pytest_plugins = [
    "tests.fixtures.backends",
    "tests.fixtures.buses",
    "tests.fixtures.stack",
    "tests.fixtures.topology",
]
