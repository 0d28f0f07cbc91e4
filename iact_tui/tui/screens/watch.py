"""Watching a run another process drives (``iact-tui watch RUN``, the runs screen on a live run,
``iact-tui serve`` in a browser): the same tree, step pane and status bar as the run screen,
fed by ``engine/record/follow.py`` instead of a runner.

Read-only and lock-free: the statuses come from the run's journal as it is written, the running
step's output from its log as it grows. The one thing a watcher does to the run is answer the
step that waits for a person (p / f / s): the answer goes through the run's inbox, exactly as
``iact-tui tick`` does, and the process driving the run records it (or says why not).

Following runs on a thread (a look is a couple of ``stat`` calls, but a look after a compaction
reads report.toml, which on a long run takes a moment); the screen applies each update on its
own thread, to its own copy of the state, so no state is shared between threads.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.coordinate import Coordinate
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Label, Tree

from iact_tui.engine.record.answer import ANSWER_WAIT
from iact_tui.engine.record.asks import awaited, resume_command, runs_dir_arg, tick_command
from iact_tui.engine.record.follow import POLL, RunFollower, Update, is_driven
from iact_tui.engine.record.state import RunState, reduce
from iact_tui.engine.record.store import ReportError, list_runs
from iact_tui.engine.status import StepStatus
from iact_tui.tui.run_model import RunView
from iact_tui.tui.screens.following import StepFollowingScreen
from iact_tui.tui.widgets.status_bar import RunStatusBar
from iact_tui.tui.widgets.step_detail import StepDetail
from iact_tui.tui.widgets.step_tree import StepTree

KEEP_LINES = 5_000  # output lines of each followed step kept for the screen
FLOOD_LINES = 200  # at most this many new lines drawn at once (as the run screen does)
FOLLOW_BYTES = 32 * 1024  # of a flood of output, the newest this many bytes are read as lines
RENDER_GAP = 0.08  # seconds: at most this often the screen draws what changed in the run
BUSY_GAP = 0.15  # ... and this often while the run writes records faster than anyone reads
BUSY_RECORDS = 4  # a look or a drawing of at least this many new records: the run is busy
# (while it is, the run's files are looked at every BUSY_GAP, and the first busy look after a
# quiet spell is drawn with the next one, HOLD_AGE after the oldest of its records was written:
# see _apply)
HOLD_AGE = 0.17  # seconds: within the 250 ms a watcher has to show a record, with room to draw
STATUS_GAP = 0.5  # while busy, the status bar is drawn at most this often (a frame with it
# spans the whole screen, from the tree's rows to the bottom line)
OUTPUT_GAP = 0.25  # ... and the running step's new output (a flood is drawn at this pace)
WAITS = (StepStatus.WAITING, StepStatus.INTERRUPTED, StepStatus.FAILED)
MANUAL_KINDS = ("manual", "notify")  # a person answers these again after a failure


@dataclass
class WatchedRun(RunView):
    """A RunView whose state and output come from following the run's files."""

    outputs: dict[str, deque[str]] = field(default_factory=dict)
    printed: dict[str, int] = field(default_factory=dict)

    def set_state(self, state: RunState) -> None:
        self._state = state

    def add_lines(self, step_id: str, lines: list[str]) -> None:
        self.outputs.setdefault(step_id, deque(maxlen=KEEP_LINES)).extend(lines)
        self.printed[step_id] = self.printed.get(step_id, 0) + len(lines)

    def output_lines(self, step_id: str) -> list[str]:
        if step_id in self.outputs:
            return list(self.outputs[step_id])
        return super().output_lines(step_id)

    def lines_printed(self, step_id: str) -> int:
        # a step that finished before this watch began: its record counts its lines
        return max(self.printed.get(step_id, 0), self.recorded_lines(step_id))


def _age_left(record: dict[str, Any]) -> float:
    """Seconds until ``record`` is HOLD_AGE old (by its ``at``: the run's folder is on this
    machine or shared with it; a clock that differs is bounded by the caller)."""
    try:
        written = datetime.fromisoformat(str(record.get("at", ""))).timestamp()
    except ValueError:
        return HOLD_AGE
    return written + HOLD_AGE - time.time()


def waiting_step(state: RunState, selected: str = "") -> str:
    """The step a watcher's p / f / s answers: the selected one if it waits for a person, else
    the first that does ('' when none does)."""
    rec = state.steps.get(selected)
    if rec is not None and rec.status in WAITS:
        return selected
    return next((s.id for s in state.steps.values() if s.status == StepStatus.WAITING), "")


class WatchScreen(StepFollowingScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "p",
            "tick('pass')",
            "Pass",
            id="watch-pass",
            tooltip="Tick the step that waits for a person as passed (through the run's inbox)",
        ),
        Binding(
            "f",
            "tick('fail')",
            "Fail",
            id="watch-fail",
            tooltip="Tick the step that waits for a person as failed (through the run's inbox)",
        ),
        Binding(
            "s",
            "tick('skip')",
            "Skip",
            id="watch-skip",
            tooltip="Skip the step that waits for a person; asks for a reason",
        ),
        Binding(
            "g",
            "follow",
            "Follow",
            id="watch-follow",
            tooltip="Follow the run's current step again",
        ),
        Binding("escape", "back", "Back", id="watch-back", tooltip="Stop watching"),
        Binding("q", "app.quit", "Quit", id="watch-quit", tooltip="Quit; the run goes on"),
    ]

    def __init__(
        self,
        folder: Path,
        *,
        name_as: str = "",
        sign: str = "",
        poll: float = POLL,
        closable: bool = True,
        acts: bool = True,
    ) -> None:
        super().__init__()
        self.acts = acts  # False: a watch that only shows (a browser session has no identity)
        self.folder = Path(folder)
        self.follower = RunFollower(self.folder, poll=poll, keep_bytes=FOLLOW_BYTES)
        self.follower.open()  # ReportError, with the reason, when it cannot be watched
        view = RunView.from_folder(self.folder)
        self.view = WatchedRun(view.checklist, view.values, self.folder)
        self.view.set_state(reduce(list(self.follower.records)))
        opened = self.follower.opened  # the running step's output so far (its count whole)
        for step_id, lines in opened.output.items():
            self.view.add_lines(step_id, lines)
        for step_id, count in opened.skipped.items():
            self.view.printed[step_id] = self.view.printed.get(step_id, 0) + count
        self.name_as = name_as
        self.sign = sign
        self.closable = closable
        self.follow = True
        self.active_step = ""
        self._stop = threading.Event()
        # what updates changed and the screen has not drawn yet (see _apply and _flush)
        self._pending_records: list[dict[str, Any]] = []
        self._pending_steps: set[str] = set()
        self._pending_all = False
        self._pending_output: dict[str, list[str]] = {}
        self._problem = ""
        self._flush_timer: Timer | None = None
        self._last_flush = 0.0
        self._render_gap = RENDER_GAP  # BUSY_GAP after a drawing of many records
        self._last_status = 0.0  # when the status bar was last drawn
        self._status_timer: Timer | None = None  # its drawing held back by STATUS_GAP
        self._last_output = 0.0  # when the output pane was last given new lines
        self._look_gap = poll  # seconds between two looks (read by the follower thread)
        self._holding = False  # a burst's first look, taken in and not drawn: the next one draws
        self._busy = False  # the last look brought records by the handful
        self._expected_highlights: set[str] = set()
        # (seq of the newest record shown, when it was drawn): the watch benchmark reads these
        self.shown: list[tuple[int, float]] = []
        self.live = is_driven(self.folder)
        self._hint = ""  # the bottom line's text, as last drawn

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="panes"):
            yield StepTree(self.view, id="steps")
            yield StepDetail(self.view, id="detail")
        yield RunStatusBar(self.view, id="status")
        yield Label("", id="watch-hint", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        state = self.view.state
        self.title = str(state.info.get("checklist_title") or self.view.checklist.checklist.title)
        self.sub_title = f"watching run {state.run_id} (read-only)"
        self.query_one(StepTree).focus()
        first = self._current_step(state) or next(iter(state.steps), "")
        if first:
            self._select(first)
        self._say_what_waits()
        self._follow_worker()

    def on_unmount(self) -> None:
        self._stop.set()

    # -- following (a thread) ---------------------------------------------------------------------

    @work(thread=True, group="watch", exit_on_error=False)
    def _follow_worker(self) -> None:
        follower = self.follower
        while not self._stop.is_set():
            update = follower.look()
            if update or self._holding:  # (holding: the look after a held one draws, even empty)
                fresh = reduce(list(follower.records)) if update.reloaded else None
                try:
                    self.app.call_from_thread(self._apply, update, fresh)
                except RuntimeError:  # the app is gone
                    return
            self._stop.wait(self._look_gap)  # _apply sets it (call_from_thread waits for it)

    def _apply(self, update: Update, fresh: RunState | None) -> None:
        """Take an update into the screen's copy of the state (cheap, at once); what it changes on
        screen is drawn by ``_flush``, at most every RENDER_GAP seconds.

        While records come by the handful (BUSY_RECORDS a look), the run is looked at every
        BUSY_GAP instead of every poll. The first such look after a quiet spell is not drawn: the
        records after it come as fast, so it is drawn together with the next look, taken when
        the oldest of its records is HOLD_AGE old. A short burst (a run's quick steps, dozens a
        second) is then taken in with two looks and drawn once, after it, instead of competing
        with the run for the CPU while it lasts; its records are still on screen within HOLD_AGE
        and a frame (~0.2 s)."""
        if not self.is_mounted:
            return
        busy = len(update.records) >= BUSY_RECORDS
        self._holding = busy and not self._holding and not self._busy and fresh is None
        self._busy = busy
        self._look_gap = BUSY_GAP if busy else self.follower.poll_interval
        if self._holding:  # the next look: when the oldest record is HOLD_AGE old (bounded)
            self._look_gap = min(max(_age_left(update.records[0]), POLL), HOLD_AGE)
        view = self.view
        if fresh is not None:
            view.set_state(fresh)
            self._pending_all = True
        else:
            for rec in update.records:
                view.state.apply(rec)
        for rec in update.records:
            step = rec.get("step")
            if isinstance(step, str):
                self._pending_steps.add(step)
            else:
                self._pending_all = True  # a choice, a rollback: phases and alternatives change
        self._pending_records += update.records
        for step_id, count in update.skipped.items():  # a flood: counted, not read
            view.printed[step_id] = view.printed.get(step_id, 0) + count
        shown = self.query_one(StepDetail).step_id
        for step_id, lines in update.output.items():
            view.add_lines(step_id, lines)
            if step_id != shown:
                continue  # kept for when it is shown (StepDetail.show reads them): nothing to draw
            self._pending_output.setdefault(step_id, []).extend(lines)
            del self._pending_output[step_id][:-FLOOD_LINES]  # bounded: the newest are drawn
        if update.problem:
            self._problem = update.problem
        if self._holding:
            return  # drawn with the next look (a drawing due before it waits for it: _flush)
        self._schedule_flush()  # after a held look: now, unless the last drawing was < a gap ago

    def _schedule_flush(self) -> None:
        """Draw what is pending now, or as soon as RENDER_GAP has passed since the last drawing;
        new records are never held back by output (that has its own, slower pace)."""
        if self._flush_timer is not None:
            return
        now = time.monotonic()
        due = self._last_flush + self._render_gap
        if not self._pending_records and not self._pending_all and not self._problem:
            due = max(due, self._last_output + OUTPUT_GAP)  # only output: at its own pace
        if due <= now:
            self._flush()
        else:
            self._flush_timer = self.set_timer(due - now, self._flush)

    def _flush(self) -> None:
        if self._flush_timer is not None:
            self._flush_timer.stop()
            self._flush_timer = None
        if not self.is_mounted or self._holding:
            return  # (holding: the look that ends the hold draws everything)
        self._last_flush = time.monotonic()
        view = self.view
        tree = self.query_one(StepTree)
        detail = self.query_one(StepDetail)
        status = self.query_one(RunStatusBar)
        records, self._pending_records = self._pending_records, []
        # a frame redraws most of the screen: while steps go by by the dozen, fewer of them
        self._render_gap = BUSY_GAP if len(records) >= BUSY_RECORDS else RENDER_GAP
        touched, self._pending_steps = self._pending_steps, set()
        if self._pending_all or len(touched) >= 50:
            tree.refresh_all()
        else:
            for step_id in touched:
                tree.refresh_step(step_id)
        self._pending_all = False
        attend = ""
        for rec in records:
            attend = self._describe(rec, status) or attend
        if attend:
            # a step that waits for a person is shown at once; steps that run, at a readable pace
            waits = any(
                r.get("type") == "step_waiting" and r.get("step") == attend for r in records
            )
            self._attend_soon(attend, at_once=waits, busy=len(records) >= BUSY_RECORDS)
        output: dict[str, list[str]] = {}
        finished = any(
            r.get("type") in ("step_finished", "run_paused", "run_finished") for r in records
        )
        if self._pending_output and (
            finished or self._last_flush - self._last_output >= OUTPUT_GAP
        ):
            output, self._pending_output = self._pending_output, {}
            self._last_output = self._last_flush
        for step_id, lines in output.items():
            detail.add_output(step_id, lines)
            step_rec = view.state.steps.get(step_id)
            detail.output_count(
                step_id,
                view.lines_printed(step_id),
                running=step_rec is not None and step_rec.status == StepStatus.RUNNING,
            )
        if self._problem:
            status.activity = f"cannot read the run now: {self._problem}"
            self._problem = ""
        if detail.step_id in touched:
            detail.refresh_facts()
        self._update_status(busy=self._render_gap == BUSY_GAP and not self._status_urgent(records))
        self._say_what_waits()
        if records:
            seqs = [int(r["seq"]) for r in records]
            self.call_after_refresh(lambda: self.shown.extend((seq, time.time()) for seq in seqs))
        if self._pending_output:  # output held back to its pace: drawn at the next one
            self._schedule_flush()

    @staticmethod
    def _status_urgent(records: list[dict[str, Any]]) -> bool:
        """Records the status bar says at once, busy or not: the run stops, pauses or waits."""
        return any(
            r.get("type") in ("run_paused", "run_finished", "step_waiting", "rollout_stopped")
            for r in records
        )

    def _update_status(self, *, busy: bool = False) -> None:
        """Draw the status bar now, or (while the run is busy) at most every STATUS_GAP."""
        wait = self._last_status + STATUS_GAP - time.monotonic() if busy else 0.0
        if wait > 0:
            if self._status_timer is None:
                self._status_timer = self.set_timer(wait, self._update_status)
            return
        if self._status_timer is not None:
            self._status_timer.stop()
            self._status_timer = None
        if not self.is_mounted:
            return
        self._last_status = time.monotonic()
        self.query_one(RunStatusBar).update_state()

    def _describe(self, rec: dict[str, Any], status: RunStatusBar) -> str:
        """Say what a record did in the status bar; returns the step to show, if any."""
        kind = rec.get("type")
        step = str(rec.get("step", ""))
        if kind == "step_started":
            attempt = int(rec.get("attempt", 1) or 1)
            status.activity = f"running {step}" + (f" (attempt {attempt})" if attempt > 1 else "")
            return step
        elif kind == "step_finished":
            status.activity = f"{step} {rec.get('status', '')}"
        elif kind == "step_waiting":
            status.activity = f"{step} waits for a person"
            return step
        elif kind in ("step_ticked", "step_skipped"):
            state = self.view.state.steps.get(step)
            status.activity = f"{step} {state.status if state else ''} by {rec.get('by', '')}"
        elif kind == "run_paused":
            status.activity = f"paused: {rec.get('reason', '')}"
            self.notify(
                str(rec.get("reason", "")), title="Run paused", severity="warning", timeout=10
            )
        elif kind == "run_finished":
            status.activity = f"finished: {str(rec.get('status', '')).replace('_', ' ')}"
            self.notify(
                f"The run {str(rec.get('status', '')).replace('_', ' ')}.", title="Run finished"
            )
        elif kind == "run_resumed":
            status.activity = f"resumed by {rec.get('by', '')}"
        return ""

    def _current_step(self, state: RunState) -> str:
        for wanted in (
            StepStatus.RUNNING,
            StepStatus.WAITING,
            StepStatus.INTERRUPTED,
            StepStatus.FAILED,
        ):
            for step_id, rec in state.steps.items():
                if rec.status == wanted:
                    return step_id
        return ""

    def _say_what_waits(self) -> None:
        """The bottom line: the step that waits for a person, who it waits for, the keys and the
        exact command that answer it (whole: the line wraps)."""
        hint = self.query_one("#watch-hint", Label)
        step = waiting_step(self.view.state, self.query_one(StepDetail).step_id)
        if not step:
            hint.display = False
            return
        state = self.view.state
        if self._failed_automatic(step):
            keys = "s skip, or: " if self.acts else ""
            text = (
                f"{step} failed: skip it with a reason — {keys}{self._skip_command(step)} — "
                f"or retry it: {resume_command(state.run_id, self.folder)}"
            )
        else:
            rec = state.steps.get(step)
            asked = awaited(
                self.view.step(step) or SimpleNamespace(id=step),
                state.run_id,
                state.info.get("approver_keys"),
                interrupted=rec is not None and rec.status == StepStatus.INTERRUPTED,
                folder=self.folder,
            )
            keys = "p pass · f fail · s skip — or: " if self.acts else ""
            text = f"{step} waits for {asked.who}: {keys}{asked.command}"
        if text != self._hint:
            self._hint = text
            hint.update(text)
        hint.display = True

    def _failed_automatic(self, step_id: str) -> bool:
        """A step that ran and failed: a person skips it or has it retried, never passes it (as
        ``engine/record/ticks.check_tick`` judges: a manual or notify step is answered again)."""
        rec = self.view.state.steps.get(step_id)
        step = self.view.step(step_id)
        kind = getattr(step, "kind", None) or (rec.kind if rec is not None else "")
        return rec is not None and rec.status == StepStatus.FAILED and kind not in MANUAL_KINDS

    def _skip_command(self, step_id: str) -> str:
        state = self.view.state
        return (
            f"{tick_command(state.run_id, step_id)} --skip --reason TEXT{runs_dir_arg(self.folder)}"
        )

    # -- selection --------------------------------------------------------------------------------

    @on(Tree.NodeHighlighted, "#steps")
    def _highlighted(self, event: Tree.NodeHighlighted[str]) -> None:
        step_id = StepTree.step_of(event.node)
        if not step_id:
            return
        self._highlight_moved(step_id)
        self._say_what_waits()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "tick":
            return self.acts
        return True

    def action_follow(self) -> None:
        self.follow = True
        step = self.active_step or self._current_step(self.view.state)
        if step:
            self._select(step)

    def action_back(self) -> None:
        if self.closable and len(self.app.screen_stack) > 1:
            self.dismiss()
        else:
            self.app.exit()

    # -- acting: a tick through the inbox ---------------------------------------------------------

    def action_tick(self, action: str) -> None:
        state = self.view.state
        step = waiting_step(state, self.query_one(StepDetail).step_id)
        if not step:
            self.notify("No step waits for a person now.", severity="warning")
            return
        if action != "skip" and self._failed_automatic(step):
            self.notify(
                f"{step} failed: it is not passed or failed by hand. Skip it with a reason (s, or "
                f"{self._skip_command(step)}), or retry it: "
                f"{resume_command(state.run_id, self.folder)}",
                title="Not possible",
                severity="error",
                timeout=10,
            )
            return
        from iact_tui.tui.dialogs.text_prompt import TextPrompt

        def answered(text: str | None) -> None:
            if text is None:
                return
            if action == "skip":
                self._post(step, action, note="", reason=text)
            else:
                self._post(step, action, note=text, reason="")

        if action == "skip":
            prompt = TextPrompt(
                f"Skip {step}: why?", placeholder="the reason is recorded in the report", ok="Skip"
            )
        else:
            prompt = TextPrompt(
                f"{'Pass' if action == 'pass' else 'Fail'} {step}: a note (optional)",
                placeholder="recorded in the report, with your name",
                ok="Pass" if action == "pass" else "Fail",
                required=action == "fail",
            )
        self.app.push_screen(prompt, answered)

    @work(thread=True, group="watch-tick", exit_on_error=False)
    def _post(self, step: str, action: str, note: str, reason: str) -> None:
        # the wait for a driving process's answer ends when the screen goes (_stop): Textual's
        # exit waits for its worker threads, and Esc or q must not wait up to ANSWER_WAIT
        message, ok = send_tick(
            self.folder,
            self.view.state,
            step,
            action,
            self.name_as,
            note,
            reason,
            self.sign,
            stop=self._stop,
        )
        if self._stop.is_set():
            return  # the screen is gone: no one to tell (the tick waits in the run's inbox)
        try:
            self.app.call_from_thread(
                self.notify,
                message,
                title="Recorded" if ok else "Not recorded",
                severity="information" if ok else "error",
                timeout=10,
            )
        except RuntimeError:  # the app is gone
            pass


def send_tick(
    folder: Path,
    state: RunState,
    step: str,
    action: str,
    name: str,
    note: str,
    reason: str,
    sign: str = "",
    *,
    stop: threading.Event | None = None,
) -> tuple[str, bool]:
    """A watcher's answer, given as ``iact-tui tick`` gives it (``engine/record/answer.py``):
    through the run's inbox when a process drives the run, recorded here when none does; returns
    what to tell the watcher and whether it was recorded. ``stop``: give up waiting."""
    from iact_tui.engine.record.answer import answer_step
    from iact_tui.engine.record.ticks import Tick
    from iact_tui.engine.report.approvals import check_tick_signature

    by = name
    if not by:
        from iact_tui.engine.run.launch import default_operator

        by = default_operator()
    fields: dict[str, Any] = {}
    if sign:
        from iact_tui.engine.report.approvals import ApprovalError, payload_for, sign_payload

        try:
            signed = sign_payload(sign, payload_for(state, step, action, note, reason))
        except ApprovalError as exc:
            return f"cannot sign: {exc}", False
        fields = {"signature": signed.signature, "chain_head": state.last_hash}
    tick = Tick(step, action, by, note=note, reason=reason, **fields)
    from iact_tui.engine.run.runner import process_alive_here

    answer = answer_step(
        folder,
        tick,
        check_tick_signature,
        wait=ANSWER_WAIT,
        process_alive=process_alive_here,  # as `tick` does: a local command is looked up at once
        stop=stop,
    )
    message = f"{answer.message}\n{answer.then}" if answer.then else answer.message
    return message, answer.ok


class RunPicker(Screen[None]):
    """The runs to watch (``iact-tui serve``, ``iact-tui watch`` without a run): live ones first."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Watch", id="picker-open", tooltip="Watch the selected run"),
        Binding("r", "reload", "Reload", id="picker-reload", tooltip="Read the runs folder again"),
        Binding("q", "app.quit", "Quit", id="picker-quit", tooltip="Quit"),
    ]

    def __init__(
        self, runs_dir: Path, *, name_as: str = "", sign: str = "", acts: bool = True
    ) -> None:
        super().__init__()
        self.acts = acts
        self.runs_dir = runs_dir
        self.name_as = name_as
        self.sign = sign
        self._folders: list[Path] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Label(
            f"Runs in {self.runs_dir} — Enter watches one (read-only)",
            id="picker-title",
            markup=False,
        )
        yield DataTable(id="picker-runs", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.title = "iact-tui"
        self.sub_title = "watch a run"
        table = self.query_one(DataTable)
        table.add_columns("run", "status", "progress", "operator", "checklist")
        self.action_reload()
        table.focus()
        self.set_interval(2.0, self.action_reload)

    def action_reload(self) -> None:
        table = self.query_one(DataTable)
        try:
            rows = list_runs(self.runs_dir)
        except ReportError as exc:
            self.notify(str(exc), severity="error")
            return
        entries = []
        for folder, state, _problem in rows:
            if state is None:
                continue
            live = is_driven(folder)
            status = str(state.status)
            if status == StepStatus.RUNNING and not live:
                status = StepStatus.INTERRUPTED
            done, total = state.progress()
            entries.append(
                (
                    not live,
                    folder,
                    state.run_id,
                    status + (" (live)" if live else ""),
                    f"{done}/{total}",
                    state.operator,
                    str(state.info.get("checklist_id", "")),
                )
            )
        entries.sort(key=lambda e: e[0])  # live first, newest first within each
        folders = [e[1] for e in entries]
        if folders == self._folders and table.row_count == len(entries):
            for row, entry in enumerate(entries):
                for column, value in enumerate(entry[2:]):
                    table.update_cell_at(Coordinate(row, column), value)
            return
        self._folders = folders
        table.clear()
        for entry in entries:
            table.add_row(*entry[2:], key=str(entry[1]))

    def action_open(self) -> None:
        table = self.query_one(DataTable)
        if not self._folders or table.cursor_row is None or table.cursor_row >= len(self._folders):
            return
        folder = self._folders[table.cursor_row]
        try:
            screen = WatchScreen(folder, name_as=self.name_as, sign=self.sign, acts=self.acts)
        except ReportError as exc:
            self.notify(str(exc), severity="error")
            return
        self.app.push_screen(screen)

    @on(DataTable.RowSelected)
    def _selected(self) -> None:
        self.action_open()
