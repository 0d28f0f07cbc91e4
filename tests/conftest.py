"""Shared fixtures. Fixture modules of each area register here.

In CI (``$CI`` set, as ``.ci/run`` does) a real-server test that skips fails instead, with the
skip's reason: a green CI run must mean the real sshd, PostgreSQL and stack tests ran. A real-server
test is one marked ``sshd``, ``postgres`` or ``stack``, or one that uses a real-server fixture.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

import pytest

pytest_plugins = [
    name
    for name in ("tests.fixtures_http", "tests.fixtures_ssh")
    if importlib.util.find_spec(name) is not None
]


REAL_SERVER_MARKERS = ("sshd", "postgres", "stack", "browser", "multiuser")
REAL_SERVER_FIXTURES = {"sshd_factory": "sshd", "sshd_server": "sshd", "stack": "stack", "deploy": "stack"}


def in_ci(environ: Any = os.environ) -> bool:
    return str(environ.get("CI", "")).strip().lower() not in ("", "0", "false", "no")


def real_server(item: pytest.Item) -> str:
    """What real server the test needs ('' for none): its marker, else its fixture."""
    for name in REAL_SERVER_MARKERS:
        if item.get_closest_marker(name) is not None:
            return name
    used = sorted(set(REAL_SERVER_FIXTURES) & set(getattr(item, "fixturenames", ())))
    return REAL_SERVER_FIXTURES[used[0]] if used else ""


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_CI] = in_ci()  # read once: a test that changes $CI does not change the rule


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The suite runs in two processes (pytest-xdist, ``-n 2 --dist loadgroup`` in pyproject.toml):
    a test file's tests go to the same one (its module fixtures are made once), and so do all of
    tests/stack/ (one staging stack, not one per process)."""
    for item in items:
        parts = item.nodeid.split("::", 1)[0].split("/")
        group = "stack" if parts[:2] == ["tests", "stack"] else "/".join(parts)
        item.add_marker(pytest.mark.xdist_group(group))


_CI = pytest.StashKey[bool]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or hasattr(report, "wasxfail") or not item.config.stash.get(_CI, False):
        return
    server = real_server(item)
    if not server:
        return
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    reason = reason.removeprefix("Skipped: ")
    report.outcome = "failed"
    report.longrepr = (
        f"{item.nodeid} is a real-server test ({server}) and it skipped in CI ($CI is set): {reason}\n"
        "CI must run every real-server test; install what is missing (.ci/run does)."
    )
