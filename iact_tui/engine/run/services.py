"""What the steps of a run share, and what one attempt of a step gets to work with.

``Services`` holds the run's connections (one SSH connection per host, one HTTP client), opened
on first use and closed when the run ends. ``ExecutorContext`` is the ``StepContext`` an executor
gets for one attempt: the step, the run's values, the step's log, where output and captures go.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from iact_tui import __version__
from iact_tui.engine.checklist.model import Checklist
from iact_tui.engine.checklist.values import Values
from iact_tui.engine.events import Emit
from iact_tui.engine.executors.base import LogWriter, OutputCollector, compile_expectations
from iact_tui.engine.run.operator import RunOptions

# how a context writes a record to the run's journal: (type, **fields)
Record = Callable[..., Any]


class Services:
    """Connections shared by the steps of a run: one SSH connection per host, one HTTP client."""

    def __init__(
        self,
        checklist: Checklist,
        values: Values,
        host_connected: Callable[[Any], None],
        options: RunOptions,
    ) -> None:
        self._checklist = checklist
        self._values = values
        self._host_connected = host_connected
        self._options = options
        self._ssh: Any = None
        self._http: Any = None

    @property
    def ssh(self) -> Any:
        if self._ssh is None:
            from iact_tui.engine.executors.ssh_pool import SshPool

            kwargs: dict[str, Any] = {}
            if self._options.ssh_config is not None:
                kwargs["ssh_config"] = self._options.ssh_config
            if self._options.known_hosts is not None:
                kwargs["known_hosts"] = self._options.known_hosts
            if self._options.client_keys is not None:
                kwargs["client_keys"] = self._options.client_keys
            self._ssh = SshPool(self._checklist.hosts, self._values, self._host_connected, **kwargs)
        return self._ssh

    @property
    def http(self) -> Any:
        if self._http is None:
            import httpx

            self._http = httpx.AsyncClient(
                headers={"User-Agent": f"iact-tui/{__version__}"}, timeout=httpx.Timeout(30.0)
            )
        return self._http

    def http_client(self, verify: bool) -> Any:
        if verify:
            return self.http
        import httpx

        return httpx.AsyncClient(verify=False, timeout=httpx.Timeout(30.0))

    async def aclose(self) -> None:
        if self._ssh is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ssh.close(), 10)
        if self._http is not None:
            with contextlib.suppress(Exception):
                await self._http.aclose()


class ExecutorContext:
    """What an executor gets for one attempt of a step (see executors/base.py StepContext)."""

    def __init__(
        self,
        step: Any,
        attempt: int,
        log: LogWriter,
        *,
        values: Values,
        emit: Emit,
        services: Services,
        record: Record,
        hosts: Any = None,
    ) -> None:
        self.step = step
        self.attempt = attempt
        self.values = values
        self.log = log
        self.emit = emit
        self.services = services
        self._record = record
        self._hosts = hosts  # run/rollout.py HostHooks: per-host records of a group step, or None
        self.captured: dict[str, str] = {}
        self.collectors: list[OutputCollector] = []

    def __getattr__(self, name: str) -> Any:
        """The per-host hooks (``host_started``, ``host_finished``, ``host_log``, ``host_done``,
        ``host_scope``, ``rollout_stopped``, ``checklist_dir``), where this step has them."""
        hosts = self.__dict__.get("_hosts")
        if hosts is not None and not name.startswith("_") and hasattr(hosts, name):
            return getattr(hosts, name)
        raise AttributeError(name)

    def output(self, prefix: str = "") -> OutputCollector:
        collector = OutputCollector(
            self.step.id,
            self.log,
            self.emit,
            self.values,
            compile_expectations(self.step),
            self.capture,
            prefix,
        )
        self.collectors.append(collector)
        return collector

    @property
    def lines(self) -> int | None:
        return sum(c.lines for c in self.collectors) if self.collectors else None

    def capture(self, name: str, value: str) -> None:
        # a capture that contains a secret's value is kept as a secret: never written down (a
        # masked copy would come back wrong on resume; its idempotent producer re-captures it)
        contains_secret = bool(self.values.redactor) and self.values.redactor(value) != value
        self.values.set(name, value, secret=contains_secret or None)
        self.captured[name] = value

    def process_started(
        self, pid: int, *, host: str = "", start: str = "", boot_id: str = "", sudo: bool = False
    ) -> Any:
        """The step's command started as process group ``pid`` (locally, or on ``host``):
        durable before the command goes past its start gate, so a resume can find it."""
        fields = dict(
            step=self.step.id,
            attempt=self.attempt,
            host=host or None,
            pid=pid,
            start=start or None,
            boot_id=boot_id or None,
            sudo=sudo or None,
        )
        soon = getattr(self.__dict__.get("_hosts"), "record_soon", None) if host else None
        if soon is not None:  # a host of a group step: with the others of its batch, one write
            return soon("step_process", None, **fields)  # a future: the start gate waits on it
        self._record("step_process", **fields)
        return None
