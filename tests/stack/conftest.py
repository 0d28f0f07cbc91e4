"""Fixtures of the real-stack tests: one stack per test package (PostgreSQL, sshd, a jump host,
the app's git repositories and virtualenv), and a fresh deployment of the app per test."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from .stack import Deployment, Stack, missing_prerequisites

_started: dict[str, object] = {}


@pytest.fixture(scope="package")
def stack() -> Iterator[Stack]:
    problems = missing_prerequisites()
    if problems:
        pytest.skip(
            "the real staging stack cannot run here (.ci/install-stack.sh installs it): "
            + "; ".join(problems)
        )
    t0 = time.monotonic()
    the_stack = Stack().start()
    _started["seconds"] = time.monotonic() - t0
    _started["stack"] = the_stack
    try:
        yield the_stack
    finally:
        the_stack.close()


@pytest.fixture
def deploy(stack: Stack) -> Iterator[Callable[..., Deployment]]:
    """``deploy(variant="develop", owner=None)``: staging before the deploy, torn down after."""
    made: list[Deployment] = []

    def make(variant: str = "develop", owner: str | None = None) -> Deployment:
        deployment = stack.deploy(variant, owner)
        made.append(deployment)
        return deployment

    yield make
    for deployment in made:
        stack.forget(deployment)
    # a test that stopped sshd (lost connection) must not leave it stopped for the next one
    for server in (stack.sshd, stack.jump):
        if not server.running():
            server.start()


@pytest.fixture
def deployment(deploy: Callable[..., Deployment]) -> Deployment:
    return deploy()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    the_stack = _started.get("stack")
    if isinstance(the_stack, Stack):
        seconds = the_stack.timings.seconds
        terminalreporter.write_line(
            f"staging stack: up in {_started['seconds']:.1f} s "
            f"({the_stack.timings.summary(exclude=('deployments', 'stop'))}); "
            f"{the_stack.deployments_started} deployments started in "
            f"{seconds.get('deployments', 0.0):.1f} s in all; "
            f"taken down in {seconds.get('stop', 0.0):.1f} s"
        )
