"""Pytest fixtures for SSH: real servers to run steps against, and a step context for executors.

Registered in tests/conftest.py with ``pytest_plugins = ["tests.fixtures_ssh"]``.

- ``asyncssh_server``: an in-process asyncssh server (fast; commands run ``/bin/sh -c``).
- ``sshd_server``: a real OpenSSH sshd on 127.0.0.1, logging in as the plain user ``iactdeploy``
  (``.host``, ``.port``, ``.user``, ``.client_key``, ``.known_hosts``, ``.ssh_config`` with the
  ``Host`` alias ``.alias``). Skipped, with the reason, when sshd cannot run here.
- ``sshd_factory``: starts more sshds (other users, e.g. ``("root",)``, or a jump host).
- ``StepRun``: builds a checklist with one ssh step and hands an executor a real step context.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import tomli_w

from iact_tui.engine.checklist.load import parse_checklist
from iact_tui.engine.checklist.values import Values
from iact_tui.engine.events import Event, StepOutput
from iact_tui.engine.executors.base import LogWriter, Outcome, OutputCollector, compile_expectations
from iact_tui.engine.executors.ssh_pool import HostKeyInfo, SshPool
from tests.sshd import InProcessSshServer, OpenSshd, sshd_missing_reason


@pytest.fixture
async def asyncssh_server(tmp_path: Path) -> AsyncIterator[InProcessSshServer]:
    server = await InProcessSshServer(tmp_path / "asyncssh-server").start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def sshd_factory() -> Iterator[Callable[..., OpenSshd]]:
    reason = sshd_missing_reason()
    if reason:
        pytest.skip(reason)
    started: list[OpenSshd] = []

    def start(users: tuple[str, ...] = ("iactdeploy",), alias: str = "sshd-test") -> OpenSshd:
        server = OpenSshd(users=users, alias=alias)
        started.append(server)
        return server.start()

    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def ssh_agent(tmp_path: Path) -> Iterator[Callable[[Path], str]]:
    """Starts an ssh-agent; call it with a key file to add; returns the agent's socket."""
    socket_path = tmp_path / "agent.sock"
    agent = subprocess.Popen(
        ["ssh-agent", "-D", "-a", str(socket_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert agent.stdout is not None
    # the first line comes once the socket listens: an event to wait on, not a file to poll
    assert "SSH_AUTH_SOCK" in agent.stdout.readline()

    def add(key: Path) -> str:
        subprocess.run(
            ["ssh-add", "-q", str(key)],
            env={"SSH_AUTH_SOCK": str(socket_path), "PATH": os.environ.get("PATH", "/usr/bin")},
            check=True,
            capture_output=True,
        )
        return str(socket_path)

    try:
        yield add
    finally:
        agent.terminate()
        agent.wait(timeout=5)
        agent.stdout.close()


@pytest.fixture
def sshd_server(sshd_factory: Callable[..., OpenSshd]) -> OpenSshd:
    return sshd_factory()


class StepContextForTests:
    """A real ``StepContext`` (base.py's protocol) without the runner: log file, events, captures."""

    def __init__(self, step: Any, values: Values, pool: SshPool, log_dir: Path) -> None:
        self.step = step
        self.attempt = 1
        self.values = values
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log = LogWriter(log_dir / f"{step.id}.log")
        self.events: list[Event] = []
        self.services = SimpleNamespace(ssh=pool)
        self.captured: dict[str, str] = {}
        self._changed = asyncio.Event()

    def emit(self, event: Event) -> None:
        self.events.append(event)
        self._changed.set()

    def output(self) -> OutputCollector:
        return OutputCollector(
            self.step.id,
            self.log,
            self.emit,
            self.values,
            compile_expectations(self.step),
            self.capture,
        )

    def capture(self, name: str, value: str) -> None:
        self.captured[name] = value
        self.values.set(name, value)

    async def wait_for_person(self, question: str) -> Any:
        raise AssertionError(f"an ssh step never asks a person ({question})")

    @property
    def output_text(self) -> str:
        return "".join(e.text for e in self.events if isinstance(e, StepOutput))

    async def wait_for_output(self, text: str, within: float = 10.0) -> None:
        """Wait until ``text`` has been emitted (an event, not a sleep)."""
        async with asyncio.timeout(within):
            while text not in self.output_text:
                self._changed.clear()
                await self._changed.wait()


class StepRun:
    """One checklist with hosts, variables and ssh steps; a pool over it; contexts per step."""

    def __init__(
        self,
        tmp_path: Path,
        hosts: dict[str, dict[str, Any]],
        steps: list[dict[str, Any]],
        *,
        variables: dict[str, dict[str, Any]] | None = None,
        overrides: dict[str, str] | None = None,
        **pool_options: Any,
    ) -> None:
        document: dict[str, Any] = {
            "schema_version": 1,
            "checklist": {"id": "TEST-SSH", "title": "ssh tests", "version": "1"},
            "vars": variables or {},
            "hosts": hosts,
            "phases": [
                {"id": "main", "title": "Main", "steps": [{"kind": "ssh", **s} for s in steps]}
            ],
        }
        self.tmp_path = tmp_path
        self.checklist = parse_checklist(tomli_w.dumps(document).encode()).checklist
        self.values = Values.resolve(self.checklist, overrides or {}, environ={})
        self.host_keys: list[HostKeyInfo] = []
        pool_options.setdefault("ssh_config", [])  # never the tester's own ~/.ssh/config
        pool_options.setdefault("agent_path", "")
        self.pool = SshPool(
            self.checklist.hosts, self.values, self.host_keys.append, **pool_options
        )

    def context(self, step_id: str) -> StepContextForTests:
        step = self.checklist.step(step_id)
        return StepContextForTests(step, self.values, self.pool, self.tmp_path / "logs")

    async def run(self, step_id: str) -> tuple[Outcome, StepContextForTests]:
        from iact_tui.engine.executors.ssh import SshExecutor

        ctx = self.context(step_id)
        outcome = await SshExecutor().execute(ctx)
        ctx.log.close()
        return outcome, ctx

    async def close(self) -> None:
        await self.pool.close()


def host_entry(server: InProcessSshServer | OpenSshd, **extra: Any) -> dict[str, Any]:
    """A checklist ``[hosts.x]`` table for a test server."""
    if isinstance(server, InProcessSshServer):
        entry = {
            "address": server.host,
            "port": server.port,
            "user": server.user,
            "identity": str(server.client_key_path),
            "known_hosts": str(server.known_hosts),
        }
    else:
        entry = {
            "address": server.host,
            "port": server.port,
            "user": server.user,
            "identity": str(server.client_key),
            "known_hosts": str(server.known_hosts),
        }
    entry.update(extra)
    return entry
