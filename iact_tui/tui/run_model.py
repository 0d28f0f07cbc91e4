"""What a run screen shows: a live run (a runner driving it) or a run read from its folder.

Every pane reads the run's state from here, so a live run and a finished one look the same;
only a live run takes actions. The state is the TUI's own copy, made on the screen's thread by
the engine's pure ``reduce`` from the run's durable records: never the runner's ``RunState``,
which the runner changes on its own thread. A live run's copy is brought up to date when an
event says something changed (``catch_up``); the records are durable before the event is sent.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iact_tui.engine.checklist.hosts_override import recorded_hosts, with_hosts
from iact_tui.engine.checklist.load import parse_checklist
from iact_tui.engine.checklist.model import Checklist
from iact_tui.engine.checklist.problems import ChecklistError
from iact_tui.engine.checklist.values import Values
from iact_tui.engine.executors import executor_for
from iact_tui.engine.record.follow import RunFollower
from iact_tui.engine.record.state import RunState, reduce
from iact_tui.engine.record.store import PINNED, ReportError, read_records
from iact_tui.engine.status import StepStatus
from iact_tui.tui.bridge import RunBridge
from iact_tui.tui.operator import TuiOperator

TAIL_BYTES = 256 * 1024  # how much of a finished step's log a screen loads


@dataclass
class RunView:
    checklist: Checklist
    values: Values
    folder: Path
    runner: Any = None  # iact_tui.engine.run.runner.Runner of a live run
    operator: TuiOperator | None = None
    bridge: RunBridge | None = None
    banner: str = ""
    _state: RunState = field(default_factory=RunState)
    # the runner drives the run on its own thread and event loop (the App's worker sets these):
    # reading the output and saving records never wait on the screen, nor the screen on them
    loop: asyncio.AbstractEventLoop | None = None
    task: asyncio.Task[Any] | None = None
    # the run's records as they are written: each catch_up reads only the new ones
    _follower: RunFollower | None = None

    @classmethod
    def live(
        cls, runner: Any, operator: TuiOperator, bridge: RunBridge, banner: str = ""
    ) -> RunView:
        """A run a runner is about to drive (not started yet: its values are copied here once;
        later captures come from the run's records, never from the runner's objects)."""
        values = Values(
            runner.checklist,
            dict(runner.values.values),
            set(runner.values.secret_names),
            copy.deepcopy(runner.values.redactor),
        )
        view = cls(runner.checklist, values, runner.store.folder, runner, operator, bridge, banner)
        view.catch_up()
        return view

    @classmethod
    def from_folder(cls, folder: Path) -> RunView:
        """A run read from disk, to look at (raises ReportError with the reason it cannot)."""
        state = reduce(read_records(folder))
        try:
            checklist = with_hosts(  # and the hosts the run started with (its vars file's)
                parse_checklist((folder / PINNED).read_bytes(), str(folder / PINNED), pinned=True),
                recorded_hosts(state.info),
            ).checklist
        except (OSError, ChecklistError) as exc:
            raise ReportError(f"the run's pinned checklist cannot be read: {exc}") from None
        recorded = {k: str(v) for k, v in dict(state.info.get("variables", {})).items()}
        builtins = {"run_id": state.run_id, "operator": state.operator, "run_folder": str(folder)}
        values = Values.resolve(checklist, recorded, builtins=builtins, environ={})
        for name, value in state.captures.items():
            values.values.setdefault(name, str(value))
        return cls(checklist, values, folder, _state=state)

    @property
    def state(self) -> RunState:
        return self._state

    def catch_up(self) -> None:
        """Bring the copy up to date with the run's records (on the screen's thread): the ones
        written since the last call (a compaction makes the follower read report.toml again).
        A read that fails or races the report's rewrite is dropped; the next event reads again."""
        if self._follower is None:
            self._follower = RunFollower(self.folder, logs=False)  # the output comes by the bridge
        update = self._follower.look()
        if update.problem or not self._follower.records:
            return
        state = self._follower.state  # the follower's own copy, changed only here
        if state.last_seq >= self._state.last_seq:
            self._state = state
            # what the screen shows of commands and instructions: the captures so far
            self.values.secret_names.update(state.secret_captures)
            for name, value in state.captures.items():
                self.values.values[name] = str(value)

    @property
    def read_only(self) -> bool:
        return self.runner is None

    @property
    def run_id(self) -> str:
        return self.state.run_id

    def control(self, function: Callable[..., Any], *args: Any) -> bool:
        """Call a runner control (cancel_step, request_rollback, add_note ...) on the runner's
        event loop. False when no runner is driving the run."""
        if self.loop is None or self.loop.is_closed():
            return False
        self.loop.call_soon_threadsafe(function, *args)
        return True

    def interrupt(self) -> bool:
        """Cancel the run (quit while a step runs): the runner records it as interrupted."""
        task = self.task
        return task is not None and self.control(task.cancel)

    def cancel_step(self) -> bool:
        """Stop the running step (its command too); it fails as cancelled."""
        return self.runner is not None and self.control(self.runner.cancel_step)

    def request(self, action: str, reason: str, by: str) -> bool:
        """Ask the runner to start the rollback or abort the run at its next safe point."""
        if self.runner is None:
            return False
        method = self.runner.request_rollback if action == "rollback" else self.runner.request_abort
        return self.control(method, reason, by)

    def add_note(self, step_id: str, note: str, by: str) -> bool:
        return self.runner is not None and self.control(self.runner.add_note, step_id, note, by)

    @property
    def running_step(self) -> str:
        steps = self.state.steps.values()
        return next((s.id for s in steps if s.status == StepStatus.RUNNING), "")

    def step(self, step_id: str) -> Any:
        try:
            return self.checklist.step(step_id)
        except KeyError:
            return None

    def describe(self, step_id: str) -> str:
        """The resolved command or request, secrets masked: as recorded, else as it would run."""
        rec = self.state.steps.get(step_id)
        if rec is not None and rec.command:
            return rec.command
        step = self.step(step_id)
        if step is None:
            return ""
        try:
            return str(executor_for(step.kind).describe(step, self.values))
        except Exception as exc:  # a placeholder that cannot be filled yet, e.g.
            return f"<{exc}>"

    def display(self, text: str) -> str:
        """Checklist text with its placeholders filled, secrets masked."""
        try:
            return self.values.display_text(text)
        except Exception:
            return text

    def group_hosts(self, step_id: str) -> list[str]:
        """The hosts of a step on a host group, in the group's order (then any other host with a
        record for it, e.g. of an ansible inventory); [] for a step on no group."""
        step = self.step(step_id)
        name = getattr(step, "host", None) if step is not None else None
        spec = self.checklist.hosts.get(name) if name else None
        members = list(spec.members or []) if spec is not None else []
        recorded = [r.host for r in self.state.fleet.for_step(step_id)]
        if not members and not recorded:
            return []
        return list(dict.fromkeys([*members, *recorded]))

    def output_lines(self, step_id: str) -> list[str]:
        """The step's latest output: kept in memory for a live run, else the log's tail."""
        if self.bridge is not None and step_id in self.bridge.outputs:
            return self.bridge.lines_of(step_id)
        return log_tail(self.folder / "logs" / f"{step_id}.log")

    def lines_printed(self, step_id: str) -> int:
        """How many lines the step has printed: in this session, or as its record says when it
        finished (a step of an earlier session, a run read from its folder; 0: not known)."""
        seen = self.bridge.lines_printed(step_id) if self.bridge is not None else 0
        return max(seen, self.recorded_lines(step_id))

    def recorded_lines(self, step_id: str) -> int:
        rec = self.state.steps.get(step_id)
        return int(rec.lines or 0) if rec is not None else 0


def log_tail(path: Path, max_bytes: int = TAIL_BYTES) -> list[str]:
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except OSError:
        return []
    lines = data.decode("utf-8", errors="replace").splitlines()
    return lines[1:] if size > max_bytes and lines else lines  # the first line may be cut
