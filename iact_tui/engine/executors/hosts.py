"""A step on a host group: the rollout over its members, and the per-host records and logs.

``on_members`` is the one rollout every executor of a host step uses (``ssh``, ``http``): batch
after batch (``serial``), every member of a batch at once, until done or past ``max_fail``;
``once``, the rollback's scope and resume's finished hosts applied. For each member it calls the
context's hooks (``HostHooks``): durable records first (``host_started`` / ``host_finished`` /
``rollout_stopped``), then the ``HostStepChanged`` event, and each host's own log
``logs/<step>@<host>.log``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iact_tui.engine.events import HostStepChanged
from iact_tui.engine.status import StepStatus

if TYPE_CHECKING:
    from iact_tui.engine.checklist.model import Host
    from iact_tui.engine.checklist.values import Values
    from iact_tui.engine.executors.base import Outcome, StepContext

# what runs on one member: (member, the member's own log or None) -> its outcome
OnMember = Callable[[str, Any], Awaitable["Outcome"]]


def members_of(hosts: Mapping[str, Host], name: str) -> list[str]:
    """The member names of a host group, or ``[name]`` for a single host."""
    host = hosts.get(name)
    if host is not None and host.members:
        return list(host.members)
    return [name]


def host_address(values: Values, name: str) -> str:
    """``{host_address}``: the host's ``address`` with its placeholders filled, else its name
    (as the SSH connection resolves it, before ``~/.ssh/config``). Raises MissingValue."""
    host = values.checklist.hosts.get(name)
    address = values.text(host.address).strip() if host is not None and host.address else ""
    return address or name


def host_values(values: Values, name: str) -> dict[str, str]:
    """The built-ins of one host of a step: ``{host}`` and ``{host_address}``."""
    return {"host": name, "host_address": host_address(values, name)}


async def on_members(ctx: StepContext, members: list[str], run_one: OnMember) -> Outcome:
    """Run ``run_one`` on each member of a group step under the rollout (docs/fleets.md):
    batches of ``serial``, every host of a batch at once, stop past ``max_fail``; ``once``: the
    first member only; the rollback's scope and resume's finished hosts from the context's hooks
    (``host_scope``, ``host_done``); one record per host where the context keeps them."""
    from iact_tui.engine.checklist.rollout import fail_limit, roll
    from iact_tui.engine.executors.base import Outcome

    step = ctx.step
    # the hosts this attempt is for (rollback: the changed)
    scope = getattr(ctx, "host_scope", None)
    if getattr(step, "once", False):
        members = members[:1]  # shared by the group (the database): its first member, once
    elif scope is not None:
        members = scope(members)
    started = getattr(ctx, "host_started", None)
    finished = getattr(ctx, "host_finished", None)
    outcomes: dict[str, Outcome] = {}

    async def one(index: int, member: str) -> Outcome:
        if started is not None:
            durable = started(member, batch=index)
            if isinstance(durable, asyncio.Future):
                await durable  # the batch's host_started records: one group commit
        t0 = time.monotonic()
        log = ctx.host_log(member) if hasattr(ctx, "host_log") else None
        try:
            outcome = await run_one(member, log)
        except asyncio.CancelledError:
            if finished is not None:
                finished(
                    member,
                    ok=False,
                    message="cancelled; the command was stopped",
                    duration=round(time.monotonic() - t0, 3),
                    log=log,
                )
            raise
        if finished is not None:
            finished(
                member,
                ok=outcome.ok,
                message=outcome.message,
                exit_status=outcome.exit_status,
                duration=round(time.monotonic() - t0, 3),
                log=log,
            )
        elif log is not None:
            log.close()
        return outcome

    async def run_batch(index: int, batch: list[str]) -> dict[str, bool]:
        results = await asyncio.gather(*(one(index, m) for m in batch))
        outcomes.update(zip(batch, results, strict=True))
        return {m: o.ok for m, o in zip(batch, results, strict=True)}

    done = getattr(ctx, "host_done", None)  # resume: a host that finished the step is not re-run
    max_fail = getattr(ctx, "rollout_max_fail", None)  # a rolling phase's batch: what is left
    if max_fail is None:
        max_fail = getattr(step, "max_fail", None)
    result = await roll(members, getattr(step, "serial", None), max_fail, run_batch, skip=done)
    artifacts = [a for o in outcomes.values() for a in o.artifacts]
    evidence = _evidence(outcomes)
    failed = [(m, o) for m, o in outcomes.items() if not o.ok]
    if not failed:
        return Outcome(True, exit_status=0, artifacts=artifacts, evidence=evidence)
    message = "; ".join(f"on {m}: {o.message}" for m, o in failed)
    if not result.stopped:  # within max_fail
        return Outcome(
            True,
            exit_status=0,
            artifacts=artifacts,
            evidence=evidence,
            warning=f"{result.reason}; the rollout went on ({message})",
        )
    stop = getattr(ctx, "rollout_stopped", None)
    if stop is not None:
        stop(result.reason, result.failed, fail_limit(max_fail, len(members)))
    if result.untouched:
        message += (
            f"; rollout stopped ({result.reason}); not started on {', '.join(result.untouched)}"
        )
    return Outcome(
        False,
        message,
        exit_status=failed[0][1].exit_status,
        artifacts=artifacts,
        evidence=evidence,
    )


def _evidence(outcomes: Mapping[str, Outcome]) -> dict[str, Any]:
    """Each host's evidence under its name (an HTTP check's status and latency), where the
    members kept some; the command kinds keep none."""
    per_host = {m: o.evidence for m, o in outcomes.items() if o.evidence}
    return {"hosts": per_host} if per_host else {}


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
        if ok and exit_status is None and message and not result:
            detail = message  # what a check found (an HTTP check: "HTTP 200 in 3.1 ms")
        elif ok:
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
