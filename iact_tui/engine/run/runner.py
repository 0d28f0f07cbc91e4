"""The runner: walks a checklist, runs the automatic steps, asks a person for the rest.

The runner decides the flow (order, retries, failure policy, rollback, resume); the front end
only answers its questions through the ``Operator`` protocol (run/operator.py) and shows the
events it emits. Every state change goes through ``_change``: recorded (durable) first, then
announced with what a front end shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import sys
import time
import traceback
from collections.abc import Awaitable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from iact_tui.engine import events as ev
from iact_tui.engine.checklist import template
from iact_tui.engine.checklist.load import LoadedChecklist
from iact_tui.engine.checklist.model import Phase
from iact_tui.engine.checklist.values import Values
from iact_tui.engine.errors import IactError
from iact_tui.engine.events import QuestionKind
from iact_tui.engine.executors import executor_for
from iact_tui.engine.executors.base import Executor, LogWriter, MaskedOutput, Outcome
from iact_tui.engine.executors.processes import (
    DEFAULT_WAIT,
    POLL,
    REMOTE_POLL,
    ProcessRef,
    local_alive,
    local_stop,
    remote_alive,
    remote_stop,
)
from iact_tui.engine.formatting import printable
from iact_tui.engine.record.asks import resume_command, runs_dir_arg, tick_command
from iact_tui.engine.record.state import RunState
from iact_tui.engine.record.store import RunStore
from iact_tui.engine.record.ticks import (
    Tick,
    TickRefused,
    answer_request,
    apply_ahead,
    check_input,
    check_tick,
    describe,
    needs_signature,
    pending_requests,
    record_tick,
    reject_request,
)
from iact_tui.engine.report.approvals import agent_fingerprints, check_tick_signature
from iact_tui.engine.run.operator import Decision, Failure, Operator, Pause, RunOptions
from iact_tui.engine.run.rollout import PhaseBatch, hooks_for, rolling_phase
from iact_tui.engine.run.services import ExecutorContext, Services
from iact_tui.engine.status import DONE_STATES, FINAL_RUN_STATES, RunStatus, StepStatus

T = TypeVar("T")

INBOX_POLL = 0.2  # seconds between looks at the inbox of a live run
MAX_REFUSALS = 20  # refused ticks in a row before a manual step pauses the run


class _StopRun(Exception):
    pass


class _Abort(Exception):
    pass


class _StartRollback(Exception):
    def __init__(self, reason: str, by: str, step: str = "") -> None:
        super().__init__(reason)
        self.reason, self.by, self.step = reason, by, step


# -- the runner -------------------------------------------------------------------------------


class Runner:
    def __init__(
        self,
        loaded: LoadedChecklist,
        store: RunStore,
        values: Values,
        operator: Operator,
        emit: ev.Emit,
        options: RunOptions | None = None,
    ) -> None:
        self.loaded = loaded
        self.checklist = loaded.checklist
        self.store = store
        self.values = values
        self.operator = operator
        self._emit = emit
        self.options = options or RunOptions()
        store.redact = self._masked_fields
        self.services = Services(self.checklist, values, self.host_connected, self.options)
        self._external: dict[str, asyncio.Event] = {}
        self._current: asyncio.Task[Outcome] | None = None
        self._cancel_requested = False
        self._t0 = time.monotonic()
        self._waiting_on: str = ""
        self._confirming: str = ""  # the step whose confirmation the run asks for now
        self._declined: dict[str, str] = {}  # step -> who declined its confirmation by a tick
        self._request: tuple[str, str, str] | None = None  # (rollback|abort, reason, by)
        self._request_event = asyncio.Event()
        self._rejected: set[str] = set()  # inbox files that could not be moved aside
        self.phase_batch: PhaseBatch | None = None  # the batch of a rolling phase now running
        # captured values of earlier attempts (non-secret) come back on resume
        for name, value in self.state.captures.items():
            if name in self.checklist.vars:  # a variable of the capture's name is only its fallback
                values.values[name] = str(value)
            else:
                values.values.setdefault(name, str(value))
        values.values["run_id"] = store.state.run_id
        values.values["run_folder"] = str(store.folder)
        values.values["rollback_reason"] = self.state.rollback_reason

    @property
    def state(self) -> RunState:
        return self.store.state

    @property
    def run_id(self) -> str:
        return str(self.store.state.run_id)

    def emit(self, event: ev.Event) -> None:
        """Every event leaves the engine here, masked (output the collector masked is passed on)."""
        redactor = self.values.redactor
        if redactor and not isinstance(event, MaskedOutput):
            event = _masked_event(event, redactor)
        try:
            self._emit(event)
        except Exception:  # a front end's bug must not break the record
            sys.stderr.write(redactor(traceback.format_exc()))

    def record(self, type_: str, **fields: Any) -> dict[str, Any]:
        """A record that no front end is told about (a decision, a confirmation, a process)."""
        return self.store.append(type_, **fields)  # masked by the store (see _masked_fields)

    def _change(
        self, type_: str, /, *, detail: str | None = None, anonymous: bool = False, **fields: Any
    ) -> dict[str, Any]:
        """A state change: recorded (durable) first, then announced with the event built from the
        record. ``detail`` replaces the record's note or reason as the event's words; an
        ``anonymous`` event does not name who made the change."""
        rec = self.record(type_, **fields)
        self._announce(rec, detail, anonymous=anonymous)
        return rec

    def _announce(
        self, rec: dict[str, Any], detail: str | None = None, *, anonymous: bool = False
    ) -> None:
        """The event of a record just made (here, or by the ticks' module), with what the front
        ends show: the step and the run as they are after it."""
        kind = rec["type"]
        run = ev.RunProgress.of(self.state)
        event: ev.Event
        if kind == "host_connected":
            event = ev.HostConnected(
                rec["host"], f"{rec.get('address')}:{rec.get('port')}", rec.get("fingerprint", "")
            )
        elif kind == "run_paused":
            event = ev.RunPaused(rec.get("reason", ""), run)
        elif kind == "run_finished":
            event = ev.RunFinished(rec["status"], dict(rec.get("counts", {})), run)
        else:
            sid = rec["step"]
            view = ev.StepView.of(self.state.steps[sid])
            if kind == "step_started":
                event = ev.StepStarted(sid, rec["attempt"], rec.get("command", ""), view, run)
            elif kind == "step_finished":
                event = ev.StepFinished(
                    sid,
                    rec["status"],
                    rec["attempt"],
                    rec.get("message") or "",
                    rec["duration"],
                    bool(rec.get("will_retry")),
                    view,
                    run,
                )
            else:
                words = detail if detail is not None else rec.get("note") or rec.get("reason") or ""
                event = ev.StepChanged(
                    sid, view.status, words, "" if anonymous else rec.get("by", ""), view, run
                )
        self.emit(event)

    def _masked_fields(self, fields: dict[str, Any]) -> dict[str, Any]:
        """What the store writes for a record, secrets masked by value (every record of the run,
        the ticks' included, goes through here); ids and states are kept as they are."""
        redactor = self.values.redactor
        if not redactor:
            return fields
        return {k: v if k in _KEPT_FIELDS else redactor.value(v) for k, v in fields.items()}

    def host_connected(self, info: Any) -> None:
        known = self.state.hosts.get(info.host)
        if known and known.get("fingerprint") == info.fingerprint:
            return
        # with the other hosts connecting in the same batch: one write (group commit); durable
        # before it is announced, and before the host's command passes its start gate (its
        # step_process record comes after it)
        self.store.append_soon(
            "host_connected",
            self._announce,
            host=info.host,
            address=info.address,
            port=info.port,
            user=info.user,
            fingerprint=info.fingerprint,
            key_type=info.key_type,
        )

    # -- public controls (used by front ends) ---------------------------------------------------

    def cancel_step(self) -> bool:
        """Stop the running step (its remote process too); it fails as "cancelled"."""
        if self._current is not None and not self._current.done():
            self._cancel_requested = True
            self._current.cancel()
            return True
        return False

    def request_rollback(self, reason: str, by: str) -> None:
        """Start the rollback at the next safe point (now, if the run waits for a person)."""
        self._request = ("rollback", reason, by)
        self._request_event.set()

    def request_abort(self, reason: str, by: str) -> None:
        """Abort the run at the next safe point (now, if the run waits for a person)."""
        self._request = ("abort", reason, by)
        self._request_event.set()

    def _check_request(self, step_id: str = "") -> None:
        if self._request is None:
            return
        action, reason, by = self._request
        self._request = None
        self._request_event.clear()
        if action == "rollback" and not self.state.rollback_started:
            raise _StartRollback(reason or "started by the operator", by, step_id)
        if action == "abort":
            self.record("run_aborted", reason=reason or None, by=by, step=step_id or None)
            raise _Abort()

    def add_note(self, step_id: str, note: str, by: str) -> None:
        self._change(
            "note_added", detail="note added", step=step_id, note=self.values.redactor(note), by=by
        )

    # -- the run --------------------------------------------------------------------------------

    async def run(self, *, resumed: bool = False) -> str:
        """Drive the run until it finishes or needs a person who is not here. Returns the status."""
        self.emit(ev.RunOpened(self.run_id, str(self.store.folder), resumed))
        inbox_task = asyncio.create_task(self._inbox_loop())
        try:
            if resumed:
                keys = (
                    await asyncio.to_thread(agent_fingerprints)
                    if self.checklist.checklist.approvers
                    else []
                )
                self.record(
                    "run_resumed",
                    by=self.operator.name,
                    mode=self.options.mode,
                    presets=self.options.choices or None,
                    on_failure=self.options.on_failure or None,
                    operator_keys=keys or None,
                )
                self._mark_interrupted()
            status = await self._drive()
            return status
        except Pause as p:
            self._change("run_paused", reason=str(p))
            return RunStatus.PAUSED
        except asyncio.CancelledError:
            self._interrupt_running("the run was interrupted (Ctrl-C or quit) while this step ran")
            self._change("run_paused", reason="interrupted")
            raise
        finally:
            inbox_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await inbox_task
            await self.services.aclose()
            self.store.compact()

    def _mark_interrupted(self) -> None:
        for rec in list(self.state.steps.values()):
            if rec.status == StepStatus.RUNNING:
                self._change(
                    "step_interrupted",
                    detail="was running when the run stopped",
                    step=rec.id,
                    attempt=rec.attempts,
                    reason="the run stopped while this step was running; it may or may not have completed",
                )

    def _interrupt_running(self, reason: str) -> None:
        for rec in list(self.state.steps.values()):
            if rec.status == StepStatus.RUNNING:
                self._change("step_interrupted", step=rec.id, attempt=rec.attempts, reason=reason)

    async def _drive(self) -> str:
        if self.state.status in FINAL_RUN_STATES:
            return str(self.state.status)
        try:
            if self.options.rollback and not self.state.rollback_started:
                reason = self.values.redactor(self.options.rollback_reason.strip())
                raise _StartRollback(reason or "rollback requested on resume", self.operator.name)
            if not self.state.rollback_started:
                for phase in self.checklist.phases:
                    if not phase.rollback:
                        await self._phase(phase)
                for phase in self.checklist.phases:
                    if phase.rollback:
                        self._not_applicable_phase(phase, "no rollback was needed")
                return self._finish(
                    RunStatus.SUCCEEDED if not self._failed_steps() else RunStatus.FAILED
                )
        except _StartRollback as r:
            if not self._changed_steps():
                return self._nothing_to_roll_back(r.reason, r.by, r.step)
            self._start_rollback(r.reason, r.by, r.step)
        except _Abort:
            return self._finish(RunStatus.ABORTED)
        except _StopRun:
            return self._finish(RunStatus.FAILED)
        # the rollback
        try:
            for phase in self.checklist.phases:
                if phase.rollback:
                    await self._phase(phase, in_rollback=True)
        except _Abort:
            return self._finish(RunStatus.ABORTED)
        except _StopRun:
            return self._finish(RunStatus.FAILED)
        except _StartRollback:  # cannot happen inside the rollback (not offered)
            return self._finish(RunStatus.FAILED)
        return self._finish(RunStatus.ROLLED_BACK)

    def _failed_steps(self) -> list[str]:
        return [
            s.id
            for s in self.state.steps.values()
            if s.status == StepStatus.FAILED and s.decision != "continue"
        ]

    def _finish(self, status: RunStatus) -> str:
        self._change("run_finished", status=status, counts=self.state.counts())
        return status

    def _changed_steps(self) -> list[str]:
        """The steps of this run that may have changed the target: those the dry run marks
        [changes] that ran (passed, failed or interrupted: a failed command may have done part of
        its work) or that a person confirmed done. A rollback undoes only these."""
        out = []
        for phase, _, step in self.checklist.iter_steps():
            rec = self.state.steps.get(step.id)
            if phase.rollback or rec is None or not step.changes:
                continue
            if rec.attempts > 0 or rec.status in (
                StepStatus.PASSED,
                StepStatus.RUNNING,
                StepStatus.INTERRUPTED,
            ):
                out.append(step.id)
        return out

    def _nothing_to_roll_back(self, reason: str, by: str, step: str) -> str:
        """A rollback was asked for before anything changed the target: end the run failed (and
        resumable), with no rollback step run, and say so."""
        why = "no step that changes the target has run yet, so there is nothing to roll back"
        self.record("rollback_not_needed", reason=reason, by=by, step=step or None, why=why)
        self.emit(
            ev.Notice(
                f"nothing to roll back: {why} (asked: {reason}); the run ends failed", "warning"
            )
        )
        return self._finish(RunStatus.FAILED)

    def _start_rollback(self, reason: str, by: str, step: str) -> None:
        self.record("rollback_started", reason=reason, by=by, step=step or None)
        self.values.values["rollback_reason"] = reason
        for phase in self.checklist.phases:
            if not phase.rollback:
                self._not_applicable_phase(phase, "rollback started")
        self.emit(ev.Notice(f"rollback started: {reason}", "warning"))

    def _not_applicable_phase(self, phase: Phase, reason: str) -> None:
        for _, step in phase.all_steps():
            rec = self.state.steps.get(step.id)
            if rec is not None and rec.status in (StepStatus.PENDING, StepStatus.WAITING):
                self._change("step_not_applicable", step=step.id, reason=reason)

    # -- phases ---------------------------------------------------------------------------------

    async def _phase(self, phase: Phase, in_rollback: bool = False) -> None:
        self.emit(ev.PhaseStarted(phase.id, phase.title))
        steps: list[Any]
        if phase.alternatives:
            chosen = await self._choose(phase)
            steps = [s for alt in phase.alternatives if alt.id in chosen for s in alt.steps]
        else:
            steps = list(phase.steps)
        if phase.serial is not None and phase.batch == "phase":
            await rolling_phase(
                self, phase, steps, in_rollback
            )  # batch after batch (run/rollout.py)
        else:
            for step in steps:
                await self._step(step, in_rollback)
        self.store.checkpoint()  # report.toml shows the finished phase (the journal is kept)

    async def _choose(self, phase: Phase) -> list[str]:
        if phase.id in self.state.choices:
            return list(self.state.choices[phase.id])
        ids = [a.id for a in phase.alternatives]
        # --choose given now, or at the run's start or an earlier resume
        preset = self.options.choices.get(phase.id) or self.state.presets.get(phase.id)
        how = "--choose"
        if preset is None:
            self.emit(ev.Waiting(QuestionKind.CHOICE, phase_id=phase.id, detail=", ".join(ids)))
            preset = await self.operator.choose(phase, phase.defaults)
            how = "operator"
            if preset is None:
                raise Pause(
                    f"phase '{phase.id}' needs a choice between {', '.join(ids)} (use --choose {phase.id}=ALTERNATIVE)"
                )
        unknown = [c for c in preset if c not in ids]
        if unknown or not preset:
            raise Pause(
                f"phase '{phase.id}' has no alternative '{', '.join(unknown)}'; the alternatives are {', '.join(ids)}"
            )
        if len(preset) > 1 and not phase.multiple:
            raise Pause(f"phase '{phase.id}' takes one alternative, not {len(preset)}")
        chosen = [i for i in ids if i in preset]  # file order
        self.record(
            "alternative_chosen",
            phase=phase.id,
            alternatives=chosen,
            by=self.operator.name,
            how=how,
        )
        for alt in phase.alternatives:
            if alt.id not in chosen:
                for step in alt.steps:
                    if (
                        self.state.steps.get(step.id)
                        and self.state.steps[step.id].status == StepStatus.PENDING
                    ):
                        self._change(
                            "step_not_applicable",
                            detail=f"alternative '{alt.id}' not chosen",
                            step=step.id,
                            reason=f"alternative '{alt.id}' was not chosen",
                        )
        self.emit(ev.Notice(f"{phase.id}: chose {', '.join(chosen)}"))
        return chosen

    # -- steps ----------------------------------------------------------------------------------

    async def _step(self, step: Any, in_rollback: bool) -> None:
        rec = self.state.steps[step.id]
        if rec.status in DONE_STATES or (
            rec.status == StepStatus.FAILED and rec.decision == "continue"
        ):
            return
        if rec.status == StepStatus.INTERRUPTED:
            await self._resolve_interrupted(step)
            if self.state.steps[step.id].status in DONE_STATES:
                return
        reason = step.not_applicable_reason(self.values.values)  # `when` and `unless`
        if reason:
            self._change("step_not_applicable", step=step.id, reason=reason)
            return
        if step.id in self.state.ahead:  # ticked ahead (`tick --ahead`): the answer given then
            self._apply_ahead(step.id)
            if self.state.steps[step.id].status in DONE_STATES:
                return
        missing = self._never_captured(step) if in_rollback else []
        if missing:
            # the run never got as far as capturing what this step would undo (e.g. the backup file)
            names = ", ".join(f"{{{n}}}" for n in missing)
            why = f"nothing to undo: it needs {names}, which this run never captured"
            self._change("step_skipped", step=step.id, reason=why, by="iact-tui")
            return
        self._check_request(step.id)
        await self.operator.pace(step)
        self._check_request(step.id)
        if executor_for(step.kind).needs_person(step, self.values):
            await self._manual(step, in_rollback)
            return
        await self._recover_secret_captures(step)
        if step.confirm and step.id not in self.state.confirmed:
            command = self._describe(step)
            # recorded, so that a reader (`show`, a watcher) knows what the run waits for
            self.record("confirmation_asked", step=step.id, command=command)
            self.emit(ev.Waiting(QuestionKind.CONFIRM, step.id, detail=command))
            self._confirming = (
                step.id
            )  # a tick from the inbox answers it (headless --wait, a watcher)
            try:
                answer = await self._ask(step.id, self.operator.confirm(step, command))
            finally:
                self._confirming = ""
            if answer is None:
                folder = self.store.folder
                raise Pause(
                    f"step '{step.id}' needs a confirmation before it runs: confirm it with "
                    f"`{tick_command(self.run_id, step.id, folder)}` (then resume), or resume "
                    f"confirming it with `{resume_command(self.run_id, folder, '--yes')}`"
                )
            if answer is _EXTERNAL:
                declined = self._declined.pop(step.id, "")
                if declined:
                    raise Pause(f"{declined} did not confirm step '{step.id}'")
                if step.id not in self.state.confirmed:
                    return  # skipped (a tick --skip)
            elif not answer:
                raise Pause(f"the operator did not confirm step '{step.id}'")
            else:
                self.record("step_confirmed", step=step.id, by=self.operator.name)
        while True:
            outcome, hints = await self._attempts(step)
            if outcome.ok:
                return
            if step.on_failure == "continue":
                self.record(
                    "failure_decision",
                    step=step.id,
                    decision="continue",
                    by="checklist",
                    reason="on_failure = continue",
                )
                return
            failure = self._failure(
                step,
                outcome.message,
                list(self.state.steps[step.id].output_tail),
                hints,
                in_rollback,
            )
            self.emit(ev.Waiting(QuestionKind.FAILURE, step.id, detail=outcome.message))
            decision = await self._ask(step.id, self.operator.failure(step, failure))
            if decision is _EXTERNAL:
                if self.state.steps[step.id].status in DONE_STATES:
                    return
                continue
            if decision is None:
                raise _StopRun()
            try:
                await self._apply_decision(step, decision, failure)
            except _Skipped:
                return

    def _never_captured(self, step: Any) -> list[str]:
        """The values an automatic step's command or request uses that a step captures and this run
        has not captured (none for manual steps and notices: those are shown or sent regardless)."""
        if step.kind in ("manual", "notify"):
            return []
        fields = [
            getattr(step, f, None)
            for f in type(step).templated
            if f not in ("title", "instructions", "checks")
        ]
        captured = {
            n
            for _, _, s in self.checklist.iter_steps()
            for n in (
                *(getattr(s, "capture", {}) or {}),
                *(getattr(s, "capture_json", {}) or {}),
                *(getattr(s, "capture_run", {}) or {}),
            )
        }
        return [
            n
            for n in template.names_in([f for f in fields if f])
            if n in captured and n not in self.values.values and n not in self.state.secret_captures
        ]

    def _failure(
        self,
        step: Any,
        message: str,
        tail: list[str],
        hints: list[tuple[str, str]],
        in_rollback: bool,
    ) -> Failure:
        return Failure(
            step.id,
            self.values.redactor(message),
            [self.values.redactor(line) for line in tail],
            hints,
            can_rollback=not in_rollback and any(p.rollback for p in self.checklist.phases),
            suggest_rollback=step.on_failure == "rollback",
        )

    async def _apply_decision(self, step: Any, d: Decision, failure: Failure) -> None:
        by = d.by or self.operator.name
        reason = self.values.redactor(d.reason)
        if d.action == "rollback" and not failure.can_rollback:
            d = Decision("stop", by, reason)
        self.record(
            "failure_decision", step=step.id, decision=d.action, reason=reason or None, by=by
        )
        if d.action == "retry":
            return
        if d.action == "skip":
            if not reason.strip():
                raise _StopRun()
            self._change("step_skipped", step=step.id, reason=reason, by=by)
            raise _Skipped()
        if d.action == "rollback":
            raise _StartRollback(
                reason or f"step '{step.id}' failed: {failure.message}", by, step.id
            )
        if d.action == "abort":
            raise _Abort()
        raise _StopRun()

    async def _resolve_interrupted(self, step: Any) -> None:
        if not await self._settle_running(step):
            return
        rerun = step.id in self.options.rerun or step.idempotent
        decision: Any
        if rerun:
            why = "--rerun" if step.id in self.options.rerun else "idempotent = true"
            decision = Decision("rerun", self.operator.name, why)
        else:
            self.emit(
                ev.Waiting(
                    QuestionKind.INTERRUPTED, step.id, detail=self.state.steps[step.id].message
                )
            )
            decision = await self._ask(step.id, self.operator.interrupted(step))
            if decision is _EXTERNAL:
                return
            if decision is None:
                raise Pause(
                    f"step '{step.id}' was interrupted; confirm it completed with "
                    f"`{tick_command(self.run_id, step.id, self.store.folder)}` or re-run it with "
                    f"`{resume_command(self.run_id, self.store.folder, f'--rerun {step.id}')}`"
                )
        if decision.action == "rerun":
            self._change(
                "step_reset",
                detail="will re-run",
                anonymous=True,
                step=step.id,
                reason=f"re-run after interruption ({decision.reason or 'operator'})",
                by=decision.by or self.operator.name,
            )
        elif decision.action == "done":
            tick = Tick(
                step.id,
                "pass",
                decision.by or self.operator.name,
                note=decision.note or "confirmed done after interruption",
            )
            self._record_tick(tick)
        elif decision.action == "skip":
            self._record_tick(
                Tick(step.id, "skip", decision.by or self.operator.name, reason=decision.reason)
            )
        else:
            raise (
                _Abort()
                if decision.action == "abort"
                else Pause(f"step '{step.id}' is still interrupted")
            )

    async def _settle_running(self, step: Any) -> bool:
        """First of all: a process the interrupted step started that still runs (its driver was
        killed, or lost its terminal) is waited for or stopped, never run a second time beside.
        False when a tick from another terminal settled the step meanwhile."""
        for _ in range(MAX_REFUSALS):  # bounded: each turn is an answer from another terminal
            refs = [ProcessRef.from_record(r) for r in self.state.processes.get(step.id, [])]
            alive = []
            for ref in refs:
                if await self._process_alive(step, ref):
                    alive.append(ref)
                else:  # known gone: recorded, so that a tick may answer the step now
                    self.record(
                        "step_process_ended",
                        step=step.id,
                        pid=ref.pid,
                        host=ref.host or None,
                        how="ended",
                    )
            if not alive:
                return True
            what = "; ".join(ref.describe() for ref in alive)
            decision: Any
            if step.id in self.options.stop_running:
                decision = Decision("stop", self.operator.name, "--stop-running")
            elif step.id in self.options.wait_running:
                decision = Decision("wait", self.operator.name, "--wait-running")
            else:
                self.emit(
                    ev.Waiting(QuestionKind.INTERRUPTED, step.id, detail=f"still running: {what}")
                )
                decision = await self._ask(step.id, self.operator.interrupted(step, running=what))
                if decision is _EXTERNAL:
                    if self.state.steps[step.id].status != StepStatus.INTERRUPTED:
                        return False
                    continue
            if decision is not None and decision.action == "abort":
                raise _Abort()
            if decision is None or decision.action not in ("wait", "stop"):
                folder = self.store.folder
                raise Pause(
                    f"step '{step.id}' is still running ({what}); wait for it to end with "
                    f"`{resume_command(self.run_id, folder, f'--wait-running {step.id}')}` or stop "
                    f"it with `{resume_command(self.run_id, folder, f'--stop-running {step.id}')}`"
                )
            for ref in alive:
                if decision.action == "stop":
                    self.emit(ev.Notice(f"{step.id}: stopping {ref.describe()}", "warning"))
                    gone = await self._stop_process(step, ref)
                else:
                    self.emit(ev.Notice(f"{step.id}: waiting for {ref.describe()} to end"))
                    gone = await self._wait_process(step, ref)
                if not gone:
                    how = "be stopped" if decision.action == "stop" else "end in time"
                    raise Pause(
                        f"step '{step.id}' is still running: {ref.describe()} did not {how}"
                    )
                self._change(
                    "step_process_ended",
                    detail=f"{ref.describe()} has ended",
                    anonymous=True,
                    step=step.id,
                    pid=ref.pid,
                    host=ref.host or None,
                    how="stopped" if decision.action == "stop" else "waited",
                    by=decision.by or self.operator.name,
                )
        raise Pause(f"step '{step.id}' is still running")

    async def _process_alive(self, step: Any, ref: ProcessRef) -> bool:
        if not ref.host:
            return local_alive(ref)
        try:
            conn = await self.services.ssh.connection(ref.host)
            return await remote_alive(conn, ref)
        except Exception as exc:
            detail = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            raise Pause(
                f"step '{step.id}' was interrupted and it cannot be checked whether its "
                f"{ref.describe()} still runs ({self.values.redactor(detail)}); it is not started "
                "again until that can be checked"
            ) from None

    async def _stop_process(self, step: Any, ref: ProcessRef) -> bool:
        if not ref.host:
            return await local_stop(ref)
        conn = await self.services.ssh.connection(ref.host)
        return await remote_stop(conn, ref)

    async def _wait_process(self, step: Any, ref: ProcessRef) -> bool:
        limit = step.timeout or DEFAULT_WAIT
        deadline = time.monotonic() + limit
        poll = REMOTE_POLL if ref.host else POLL
        while time.monotonic() < deadline:  # bounded by the step's timeout (or 6 h)
            if not await self._process_alive(step, ref):
                return True
            await asyncio.sleep(poll)
        return not await self._process_alive(step, ref)

    def _record_tick(self, tick: Tick) -> dict[str, Any]:
        rec = record_tick(
            self.store, self.checklist, tick, check_tick_signature, process_alive_here
        )
        if rec["type"] == "step_ticked_ahead":
            self.emit(
                ev.Notice(
                    f"{tick.step}: {tick.action} ticked ahead by {tick.by}; used when the run gets there"
                )
            )
            return rec
        self._announce(rec)  # recorded by the ticks' module (the same for `iact-tui tick`)
        return rec

    def _apply_ahead(self, step_id: str) -> None:
        """The run reached a step ticked ahead: use that answer (four eyes still checked)."""
        try:
            rec = apply_ahead(self.store, self.checklist, step_id)
        except TickRefused as exc:
            self.emit(
                ev.Notice(f"the answer ticked ahead for '{step_id}' is not used: {exc}", "warning")
            )
            return
        detail = f"ticked ahead at {rec.get('ahead_at', '')}"
        why = rec.get("note") or rec.get("reason")
        self._announce(rec, f"{detail}: {why}" if why else detail)

    async def _manual(self, step: Any, in_rollback: bool) -> None:
        refusals = 0
        last_refused: Tick | None = None
        if self.state.steps[step.id].status == StepStatus.FAILED:
            # ticked failed before this resume: asked again, as a failed automatic step is run
            # again (a new answer goes through every check: four eyes, a signature)
            self._change(
                "step_reset",
                detail="asked again",
                anonymous=True,
                step=step.id,
                reason="asked again on resume (it was ticked failed)",
                by=self.operator.name,
            )
        while True:
            rec = self.state.steps[step.id]
            if rec.status in DONE_STATES:
                return
            if rec.status == StepStatus.FAILED:
                failure = self._failure(
                    step,
                    rec.message or "ticked as failed",
                    [],
                    self._hints(step, rec.message),
                    in_rollback,
                )
                self.emit(ev.Waiting(QuestionKind.FAILURE, step.id, detail=failure.message))
                decision = await self._ask(step.id, self.operator.failure(step, failure))
                if decision is _EXTERNAL:
                    continue
                if decision is None:
                    raise _StopRun()
                if decision.action == "retry":
                    self.record(
                        "failure_decision",
                        step=step.id,
                        decision="retry",
                        by=decision.by or self.operator.name,
                    )
                    self.record(
                        "step_reset",
                        step=step.id,
                        reason="asked again",
                        by=decision.by or self.operator.name,
                    )
                    continue
                if (
                    decision.action == "skip"
                ):  # a skip is a tick: a reason, and four eyes for an approval
                    skip = Tick(
                        step.id,
                        "skip",
                        decision.by or self.operator.name,
                        reason=self.values.redactor(decision.reason),
                    )
                    try:
                        check_tick(self.state, self.checklist, skip)
                        if needs_signature(self.state, step):  # a decision carries no signature
                            command = tick_command(self.run_id, step.id)
                            raise TickRefused(
                                f"step '{step.id}' takes only a signed answer: {command} "
                                f"--skip --reason TEXT --sign KEY|agent{runs_dir_arg(self.store.folder)}"
                            )
                    except TickRefused as exc:
                        self.emit(ev.Notice(str(exc), "error"))
                        refusals += 1
                        if skip == last_refused or refusals >= MAX_REFUSALS:
                            raise Pause(f"step '{step.id}' waits for a person: {exc}") from None
                        last_refused = skip
                        continue
                    self.record(
                        "failure_decision",
                        step=step.id,
                        decision="skip",
                        reason=skip.reason,
                        by=skip.by,
                    )
                    self._record_tick(skip)
                    return
                try:
                    await self._apply_decision(step, decision, failure)
                except _Skipped:
                    return
                continue
            if rec.status != StepStatus.WAITING:
                self.record("step_waiting", step=step.id, role=getattr(step, "role", None))
            instructions = self._instructions(step)
            self.emit(ev.Waiting(QuestionKind.MANUAL, step.id, detail=instructions))
            tick = await self._ask(step.id, self.operator.manual(step, instructions))
            if tick is _EXTERNAL:
                continue
            if tick is None:
                role = getattr(step, "role", None)
                who = f" (role: {role})" if role else ""
                sign = " --sign KEY|agent" if needs_signature(self.state, step) else ""
                raise Pause(
                    f"step '{step.id}' waits for a person{who}: "
                    f"{tick_command(self.run_id, step.id, self.store.folder)}{sign}"
                )
            try:
                self._record_tick(tick)
            except TickRefused as exc:
                self.emit(ev.Notice(str(exc), "error"))
                refusals += 1
                if tick == last_refused or refusals >= MAX_REFUSALS:
                    # the same answer again (an automatic ticker) would loop: wait for a person
                    raise Pause(f"step '{step.id}' waits for a person: {exc}") from None
                last_refused = tick

    def _instructions(self, step: Any) -> str:
        text = step.instructions or ""
        if step.kind == "notify":
            text = (text + "\n\n" if text else "") + step.message
        checks = getattr(step, "checks", None) or []
        if checks:
            text = (text.rstrip() + "\n\n" if text else "") + "\n".join(
                f"- [ ] {c}" for c in checks
            )
        try:
            return self.values.display_text(text)
        except Exception:
            return text

    async def _recover_secret_captures(self, step: Any) -> None:
        """A secret capture (a login token) is never written down; after a resume, re-run the
        idempotent step that captures it, or fail with a sentence that says what to do."""
        needed = [
            n
            for n in _step_names(step)
            if n not in self.values.values and n in self.state.secret_captures
        ]
        for name in needed:
            producer = next(
                (
                    s
                    for _, _, s in self.checklist.iter_steps()
                    if name in (getattr(s, "capture", {}) or {})
                    or name in (getattr(s, "capture_json", {}) or {})
                ),
                None,
            )
            if producer is not None and producer.idempotent:
                self.record(
                    "step_reset",
                    step=producer.id,
                    reason=f"re-run to recover the secret capture '{name}' after resume",
                    by="iact-tui",
                )
                await self._attempts(producer)

    def _describe(self, step: Any) -> str:
        try:
            return str(executor_for(step.kind).describe(step, self.values))
        except Exception as exc:
            return self.values.redactor(f"<{exc}>")

    async def _attempts(self, step: Any) -> tuple[Outcome, list[tuple[str, str]]]:
        executor = executor_for(step.kind)
        outcome = Outcome(False, "not run")
        hints: list[tuple[str, str]] = []
        for i in range(step.retries + 1):
            attempt = self.state.steps[step.id].attempts + 1
            self.values.values["elapsed_minutes"] = str(int((time.monotonic() - self._t0) // 60))
            command = self._describe(step)
            self._change("step_started", step=step.id, attempt=attempt, command=command)
            log = LogWriter(self.store.log_path(step.id), self.values.redactor)  # masks every write
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            log.line(f"--- {step.id} attempt {attempt} at {stamp}: {command}")
            hosts = hooks_for(
                step,
                attempt,
                state=self.state,
                checklist=self.checklist,
                logs=self.store.log_path(step.id).parent,
                record=self.record,
                emit=self.emit,
                redact=self.values.redactor,
                checklist_dir=self.loaded.path.resolve().parent,
                batch=self.phase_batch,
                record_soon=self.store.append_soon,
            )
            ctx = ExecutorContext(
                step,
                attempt,
                log,
                values=self.values,
                emit=self.emit,
                services=self.services,
                record=self.record,
                hosts=hosts,
            )
            t0 = time.monotonic()
            outcome = await self._execute(executor, ctx)
            duration = round(time.monotonic() - t0, 3)
            if not outcome.ok:
                log.line(f"--- failed: {outcome.message}")
            log.close()
            hints = (
                []
                if outcome.ok
                else self._hints(step, outcome.message, log_tail=self._log_tail(ctx))
            )
            public = {k: v for k, v in ctx.captured.items() if not self.values.is_secret(k)}
            secret = sorted(k for k in ctx.captured if self.values.is_secret(k))
            will_retry = not outcome.ok and i < step.retries
            self._change(
                "step_finished",
                step=step.id,
                attempt=attempt,
                status=StepStatus.PASSED if outcome.ok else StepStatus.FAILED,
                exit_status=outcome.exit_status,
                duration=duration,
                message=self.values.redactor(outcome.message) or None,
                warning=self.values.redactor(outcome.warning) or None,
                output_tail=self._log_tail(ctx) or None,
                lines=ctx.lines,
                log_sha256=log.sha256,
                log_bytes=log.size,
                captures=public or None,
                secret_captures=secret or None,
                evidence=self.values.redactor.value(outcome.evidence) or None,
                artifacts=outcome.artifacts or None,
                hints=[t for t, _ in hints] or None,
                will_retry=will_retry or None,
            )
            if outcome.warning:
                self.emit(ev.Notice(f"{step.id}: {outcome.warning}", "warning"))
            for title, advice in hints:
                self.emit(ev.HintShown(step.id, title, advice))
            if outcome.ok:
                return outcome, []
            if will_retry:
                self.emit(
                    ev.Notice(
                        f"{step.id}: retrying in {step.retry_delay:g} s ({i + 1}/{step.retries})"
                    )
                )
                await asyncio.sleep(step.retry_delay)
        return outcome, hints

    async def _execute(self, executor: Executor, ctx: ExecutorContext) -> Outcome:
        self._cancel_requested = False
        self._current = asyncio.create_task(executor.execute(ctx))
        try:
            return await self._current
        except asyncio.CancelledError:
            if self._cancel_requested and not _outer_cancelling():
                return Outcome(False, "cancelled by the operator; the command was stopped")
            raise
        except template.MissingValue as exc:
            return Outcome(
                False,
                f"{exc}: it is captured by an earlier step that has not run (or failed) in this run",
            )
        except Exception as exc:
            message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            if not _is_plain_error(exc):
                ctx.log.line(traceback.format_exc())  # masked by the log writer, like every write
                message = f"internal error: {type(exc).__name__}: {message}"
            return Outcome(False, message)
        finally:
            self._current = None
            self._cancel_requested = False

    def _log_tail(self, ctx: ExecutorContext) -> list[str]:
        if len(ctx.collectors) == 1:
            return list(ctx.collectors[0].tail)
        return _file_tail(ctx.log.path)

    def _hints(
        self, step: Any, message: str, log_tail: list[str] | None = None
    ) -> list[tuple[str, str]]:
        haystack = "\n".join([message or "", *(log_tail or [])])
        found: list[tuple[str, str]] = []
        for hint in getattr(step, "hints", []) or []:
            if re.search(hint.pattern, haystack, re.MULTILINE):
                found.append((hint.title or "hint", hint.advice))
        for t in self.checklist.troubleshooting:
            if t.steps and step.id not in t.steps:
                continue
            if re.search(t.pattern, haystack, re.MULTILINE):
                found.append((t.title, t.advice))
        return found

    # -- asking, with ticks from other terminals racing the front end ---------------------------

    async def _ask(self, step_id: str, question: Awaitable[T]) -> T | Any:
        """The front end's answer, or _EXTERNAL when `iact-tui tick` answered first."""
        external = self._external.setdefault(step_id, asyncio.Event())
        external.clear()
        self._process_inbox()
        if external.is_set():
            _close(question)
            return _EXTERNAL
        self._check_request(step_id)
        self._waiting_on = step_id
        ask = asyncio.ensure_future(question)
        wait_ext = asyncio.ensure_future(external.wait())
        wait_req = asyncio.ensure_future(self._request_event.wait())
        try:
            done, _ = await asyncio.wait(
                {ask, wait_ext, wait_req}, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            self._waiting_on = ""
            for f in (ask, wait_ext, wait_req):
                if not f.done():
                    f.cancel()
        if ask in done:
            return ask.result()
        if wait_req in done:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await ask
            self._check_request(step_id)
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await ask
        return _EXTERNAL

    async def _inbox_loop(self) -> None:
        while True:
            self._process_inbox()
            self.store.compact_if_due()  # report.toml lags at most COMPACT_EVERY s, even during a long step
            await asyncio.sleep(INBOX_POLL)

    def _process_inbox(self) -> None:
        """Take the ticks other terminals left in the inbox. A file that is no tick (garbage, wrong
        types, a directory, too big) is moved to inbox/rejected/ and answered: it never stops the run."""
        inbox = self.store.folder / "inbox"
        for path, tick, why in pending_requests(inbox):
            if str(path) in self._rejected:
                continue  # could not be moved aside or answered: said once
            if tick is None:
                self.emit(ev.Notice(f"inbox: {reject_request(path, why)}", "warning"))
                if os.path.lexists(path):
                    self._rejected.add(str(path))
                continue
            if tick.step == self._confirming and tick.step == self._waiting_on and not tick.ahead:
                if tick.action != "skip":
                    self._confirm_from_inbox(path, tick)
                    continue
                tick = dataclasses.replace(
                    tick, ahead=True
                )  # skipped before it runs: as ticked ahead
            try:
                rec = self._record_tick(tick)
            except TickRefused as exc:
                self._answer(path, False, str(exc))
                continue
            if rec["type"] == "step_ticked_ahead" and tick.step == self._waiting_on:
                self._apply_ahead(
                    tick.step
                )  # the run asks about this very step now (a confirmation)
            self._answer(path, True, describe(self.store, tick, rec))
            event = self._external.get(tick.step)
            if event is not None and (
                rec["type"] != "step_ticked_ahead" or tick.step == self._waiting_on
            ):
                event.set()

    def _confirm_from_inbox(self, path: Path, tick: Tick) -> None:
        """A tick for the step that asks for a confirmation now: pass runs it, fail declines it
        (the run pauses). Who confirmed is recorded, as when the operator confirms."""
        try:
            check_input(tick)
        except TickRefused as exc:
            self._answer(path, False, str(exc))
            return
        if tick.action == "pass":
            self.record(
                "step_confirmed", step=tick.step, by=tick.by, note=tick.note or None, how="tick"
            )
            self._answer(path, True, f"confirmed: {tick.step} runs now (by {printable(tick.by)})")
        else:
            self._declined[tick.step] = tick.by
            self._answer(
                path,
                True,
                f"not confirmed: {tick.step} does not run; the run pauses (by {printable(tick.by)})",
            )
        event = self._external.get(tick.step)
        if event is not None:
            event.set()

    def _answer(self, path: Path, ok: bool, message: str) -> None:
        try:
            answer_request(path, ok, message)
        except (
            OSError
        ) as exc:  # the answer cannot be written: the run goes on, the tick is recorded
            self._rejected.add(str(path))
            self.emit(
                ev.Notice(f"inbox: cannot answer {path.name}: {exc.strerror or exc}", "warning")
            )


def process_alive_here(record: dict[str, Any]) -> bool | None:
    """Whether a step's recorded process still runs, as far as it can be told at once: a local
    one is looked up; for one on a remote host None (only a resume, over SSH, checks it)."""
    ref = ProcessRef.from_record(record)
    return None if ref.host else local_alive(ref)


class _Skipped(Exception):
    pass


_EXTERNAL = object()


# "signed": a signature and its key must stay byte for byte what was signed (nothing secret is in them)
_KEPT_FIELDS = frozenset(
    {"step", "phase", "alternatives", "plan", "run_id", "status", "decision", "attempt", "signed"}
)
_KEPT_EVENT_FIELDS = frozenset(
    {
        "step_id",
        "phase_id",
        "status",
        "question",
        "level",
        "attempt",
        "run_id",  # events
        "id",
        "phase",
        "kind",
        "alternative",  # StepView
    }
)

T_Masked = TypeVar("T_Masked")


def _masked_event(event: T_Masked, redactor: Any) -> T_Masked:
    """The event with every text in it masked, the step and run views in it too (ids and states
    kept)."""
    changes = {}
    for f in dataclasses.fields(event):  # type: ignore[arg-type]
        if f.name in _KEPT_EVENT_FIELDS:
            continue
        value = getattr(event, f.name)
        masked: Any
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            masked = _masked_event(value, redactor)
        elif isinstance(value, tuple) and value and all(dataclasses.is_dataclass(v) for v in value):
            masked = tuple(_masked_event(v, redactor) for v in value)
        elif isinstance(value, (str, dict, list, tuple)):
            masked = redactor.value(value)
        else:
            continue
        if masked != value:
            changes[f.name] = masked
    return dataclasses.replace(event, **changes) if changes else event  # type: ignore[type-var]


def _outer_cancelling() -> bool:
    task = asyncio.current_task()
    return bool(task is not None and task.cancelling())


def _close(awaitable: Any) -> None:
    if hasattr(awaitable, "close"):
        awaitable.close()


def _is_plain_error(exc: BaseException) -> bool:
    """Errors whose message is already a sentence for a person: the engine's own, and the
    system's and the network's (a connection refused, a timeout); anything else is a bug."""
    import httpx

    return isinstance(exc, (IactError, OSError, TimeoutError, httpx.HTTPError))


def _step_names(step: Any) -> list[str]:
    fields = [getattr(step, f, None) for f in type(step).templated]
    return template.names_in([f for f in fields if f])


def _file_tail(path: Path, n: int = 20) -> list[str]:
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 8192))
            lines = f.read().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return []
    return [line for line in lines if not line.startswith("--- ")][-n:]
