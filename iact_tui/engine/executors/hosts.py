"""Per-host records and logs of a group step: what an executor calls for each member host.

Durable records first (``host_started`` / ``host_finished`` / ``rollout_stopped``), then the
``HostStepChanged`` event, and each host's own log ``logs/<step>@<host>.log``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from iact_tui.engine.events import HostStepChanged
from iact_tui.engine.status import StepStatus


class HostHooks:
    """What an executor calls for each host of a group step: durable records first, then the
    event, and the host's own log ``logs/<step>@<host>.log``. Executors find these methods on
    their context (``ctx.host_started`` …); a context without them records nothing per host."""

    def __init__(
        self,
        step_id: str,
        attempt: int,
        logs: Path,
        record: Callable[..., Any],
        emit: Callable[[Any], None],
        redact: Callable[[str], str] | None,
        *,
        done: Callable[[str], bool] | None = None,
        scope: Callable[[list[str]], list[str]] | None = None,
        checklist_dir: Path | None = None,
        record_soon: Callable[..., Any] | None = None,
    ) -> None:
        self.step_id = step_id
        self.attempt = attempt
        self.logs = logs
        self._record = record
        self._emit = emit
        self._redact = redact
        self._batch: dict[str, int | None] = {}
        self.checklist_dir = checklist_dir
        if record_soon is not None:
            # group commit (RunStore.append_soon): the records of a batch's hosts that arrive
            # together are written with one write and one fdatasync, each event after it
            self.record_soon = record_soon
        if done is not None:
            self.host_done = done  # resume: a host that finished the step is not run again
        if scope is not None:
            self.host_scope = scope  # rollback: only the hosts the run changed, last batch first

    record_soon: Callable[..., Any] | None = None
    batch_index: int | None = None  # the batch of a rolling phase (else the step's own batches)
    rollout_max_fail: int | None = None  # a rolling phase's max_fail left for this batch

    def host_started(self, host: str, batch: int | None = None) -> Any:
        """Record the host's start; with group commit, a future the executor awaits before the
        command starts (the whole batch's starts are written together)."""
        if self.batch_index is not None:
            batch = self.batch_index
        self._batch[host] = batch
        return self._durably(
            HostStepChanged(self.step_id, host, StepStatus.RUNNING, batch),
            "host_started",
            (),
            step=self.step_id,
            host=host,
            attempt=self.attempt,
            batch=batch,
        )

    def _durably(self, event: Any, type_: str, files: tuple[Any, ...], **fields: Any) -> Any:
        """The record, durable, then the event: at once, or with the batch's group commit."""
        if self.record_soon is not None:
            return self.record_soon(
                type_, lambda _rec: self._emit(event), sync_files=files, **fields
            )
        self._record(type_, **fields)
        self._emit(event)
        return None

    def host_log(self, host: str) -> Any:
        from iact_tui.engine.executors.base import LogWriter

        self.logs.mkdir(parents=True, exist_ok=True)
        return LogWriter(self.logs / f"{self.step_id}@{host}.log", self._redact)

    def host_finished(
        self,
        host: str,
        *,
        ok: bool,
        result: str = "",
        changed: bool | None = None,
        message: str = "",
        exit_status: int | None = None,
        duration: float | None = None,
        log: Any = None,
    ) -> None:
        sha, size = None, None
        files: tuple[Any, ...] = ()
        if log is not None:
            if self.record_soon is not None:
                files = (log.hand_over(),)  # synced and closed with the batch, before its record
            else:
                log.close()
            sha, size = log.sha256, log.size
        status = StepStatus.PASSED if ok else StepStatus.FAILED
        if ok:
            detail = (
                f"exit {exit_status} in {duration or 0:.2f} s"
                if exit_status is not None
                else f"in {duration or 0:.2f} s"
            )
        else:
            detail = message
        self._durably(
            HostStepChanged(self.step_id, host, status, self._batch.get(host), detail, result),
            "host_finished",
            files,
            step=self.step_id,
            host=host,
            attempt=self.attempt,
            status=status,
            exit_status=exit_status,
            duration=duration,
            message=message or None,
            result=result or None,
            changed=changed,
            log_sha256=sha,
            log_bytes=size,
        )

    def rollout_stopped(self, reason: str, failed: list[str], limit: int) -> None:
        self._record(
            "rollout_stopped", step=self.step_id, failed=failed, limit=limit, reason=reason
        )
