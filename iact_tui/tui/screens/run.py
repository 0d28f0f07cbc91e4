"""The main screen of a run: steps tree (left), the selected step (right), status bar, keys.

It shows the runner's events as they arrive (through ``RunBridge`` messages) and answers the
runner's questions (through ``TuiOperator``); it decides nothing the engine decides. A run read
from disk (``RunView.from_folder``) is shown by the same screen, read-only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar

from textual import on
from textual.actions import parse
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Header, Static, Tree

from iact_tui.engine import events as ev
from iact_tui.engine.run.runner import Decision
from iact_tui.engine.record.ticks import Tick
from iact_tui.tui import format as fmt
from iact_tui.tui.bridge import RunBridge
from iact_tui.tui.dialogs.choice import ChoiceDialog
from iact_tui.tui.dialogs.confirm import ConfirmDialog
from iact_tui.tui.dialogs.failure import FailureDialog
from iact_tui.tui.dialogs.interrupted import InterruptedDialog
from iact_tui.tui.dialogs.text_prompt import TextPrompt
from iact_tui.tui.operator import Question
from iact_tui.tui.run_model import RunView
from iact_tui.tui.widgets.manual_panel import ManualPanel
from iact_tui.tui.widgets.output_view import OutputView
from iact_tui.tui.widgets.status_bar import RunStatusBar
from iact_tui.tui.widgets.step_detail import StepDetail
from iact_tui.tui.widgets.step_tree import StepTree

OUTPUT_GAP = 0.1  # seconds between two screen updates of streaming output
FLOOD_LINES = 200  # more lines than this waiting to be drawn: a flood (drawn: the newest this many)
FLOOD_GAP = 0.4  # during a flood, the newest lines are drawn this often ...
COUNT_GAP = 0.2  # ... and in between, only how many lines the step has printed so far
NOTICE_SEVERITY = {"info": "information", "warning": "warning", "error": "error"}
DIALOG_QUESTIONS = ("failure", "confirm", "choice", "interrupted")


class RunScreen(Screen[None]):
    # every action a person can take on a run; the footer, the help screen (?) and the command
    # palette all list these, with the tooltip as the explanation
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "r",
            "run_step",
            "Run step",
            id="run-step",
            tooltip="Run the next step, then wait again (while a step runs: the one after it too)",
        ),
        Binding(
            "n",
            "run_on",
            "Run on",
            id="run-on",
            tooltip="Run on to the next step that needs a person (a manual step), then wait",
        ),
        Binding("t", "retry", "Retry", id="retry", tooltip="Run the failed step again"),
        Binding(
            "p",
            "tick('pass')",
            "Pass",
            id="tick-pass",
            tooltip="Tick the waiting manual step as passed",
        ),
        Binding(
            "f",
            "tick('fail')",
            "Fail",
            id="tick-fail",
            tooltip="Tick the waiting manual step as failed",
        ),
        Binding(
            "s",
            "skip",
            "Skip",
            id="skip",
            tooltip="Skip the waiting or failed step; asks for a reason",
        ),
        Binding(
            "c", "choose", "Choose", id="choose", tooltip="Choose the alternative the run waits for"
        ),
        Binding(
            "d", "decide", "Decide", id="decide", tooltip="Open the question the run waits on again"
        ),
        Binding(
            "o", "note", "Note", id="note", tooltip="Add a note to the selected step (recorded)"
        ),
        Binding(
            "x",
            "cancel_step",
            "Cancel step",
            id="cancel-step",
            tooltip="Stop the running step and its command; it fails as cancelled",
        ),
        Binding(
            "b",
            "rollback",
            "Rollback",
            id="rollback",
            tooltip="Start the rollback phase (asks first)",
        ),
        Binding("a", "abort", "Abort", id="abort", tooltip="Abort the run (asks first)"),
        Binding("slash", "search", "Search", id="search-output", tooltip="Search the output shown"),
        Binding(
            "g",
            "follow",
            "Follow",
            id="follow",
            tooltip="Follow the running step again",
            show=False,
        ),
        Binding(
            "e",
            "export",
            "Export",
            id="export",
            tooltip="Export the report (toml, md, html), signed if you like",
        ),
        Binding(
            "v",
            "verify",
            "Verify",
            id="verify",
            tooltip="Verify a report: signature, event chain, step logs",
        ),
        Binding("l", "runs", "Runs", id="runs", tooltip="All runs: open one, resume one"),
        Binding("escape", "back", "Back", id="back", tooltip="Back to the list of runs"),
        Binding("question_mark", "help", "Help", id="help", tooltip="Keys, icons and what they do"),
        Binding(
            "q", "app.quit", "Quit", id="quit-key", tooltip="Quit; an unfinished run can be resumed"
        ),
    ]

    def __init__(self, view: RunView, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.view = view
        self.clock = clock
        self.question: Question | None = None
        self.follow = True
        self.active_step = ""
        self._dialog: Any = None  # the dialog showing the pending question, if open
        self._expected_highlights: set[str] = set()
        self._refusals: dict[str, str] = {}  # step id -> why its last tick was refused
        self._last_manual = ""  # the manual step asked last (a refusal notice is about it)
        self._last_flush = 0.0
        self._flush_timer: Timer | None = None
        self._flood_since: float | None = None  # when the current flood of output began
        self._last_tail = 0.0  # when the newest lines of a flood were drawn last
        self._allowed: tuple[bool | None, ...] = ()
        self._ended = ""

    # -- layout -----------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        if self.view.banner:
            # the demo names its sandbox here: always on screen, scrollable when it is long
            with VerticalScroll(id="banner-box"):
                yield Static(self.view.banner.strip(), id="banner", markup=False)
        with Horizontal(id="panes"):
            yield StepTree(self.view, id="steps")
            yield StepDetail(self.view, id="detail")
        yield RunStatusBar(self.view, clock=self.clock, id="status")
        yield Footer()

    def on_mount(self) -> None:
        state = self.view.state
        info = state.info
        self.title = f"{info.get('checklist_title') or self.view.checklist.checklist.title}"
        self.sub_title = f"run {state.run_id}" + (" (read-only)" if self.view.read_only else "")
        tree = self.query_one(StepTree)
        tree.focus()
        first = self._first_interesting_step()
        if first:
            self._select(first)
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._refresh_everything())

    def _first_interesting_step(self) -> str:
        steps = self.view.state.steps
        for status in ("running", "interrupted", "waiting", "failed"):
            for step_id, rec in steps.items():
                if rec.status == status:
                    return step_id
        for step_id, rec in steps.items():
            if rec.status == "pending":
                return step_id
        return next(iter(steps), "")

    # -- selection and following ------------------------------------------------------------------

    def _select(self, step_id: str) -> None:
        """Show a step and move the tree's cursor to it (without the user's moving it)."""
        self._expected_highlights.add(step_id)
        self.query_one(StepTree).select_step(step_id)
        self.query_one(StepDetail).show(step_id)

    def _attend(self, step_id: str) -> None:
        """The run is busy with this step: show it, unless the person browses elsewhere."""
        self.active_step = step_id
        if self.follow and step_id:
            self._select(step_id)

    @on(Tree.NodeHighlighted, "#steps")
    def _highlighted(self, event: Tree.NodeHighlighted[str]) -> None:
        step_id = StepTree.step_of(event.node)
        if not step_id:
            return
        if step_id in self._expected_highlights:
            self._expected_highlights.discard(step_id)
        else:
            self.follow = step_id == self.active_step or not self.active_step
        self.query_one(StepDetail).show(step_id)
        self._refresh_keys()

    def action_follow(self) -> None:
        self.follow = True
        if self.active_step:
            self._select(self.active_step)
        self.query_one(OutputView).follow()

    @property
    def selected_step(self) -> str:
        return self.query_one(StepDetail).step_id

    # -- the engine's events ----------------------------------------------------------------------

    @on(RunBridge.OutputReady)
    def _output(self) -> None:
        # a few screen updates a second, however fast a command prints: between two, the bridge
        # keeps the newest lines (bounded). Drawing holds the interpreter (one GIL for this thread
        # and the runner's), and a command whose pipe is full waits for the runner: so during a
        # flood the screen only counts the lines, and draws the newest ones every FLOOD_GAP
        if self._flush_timer is not None:
            return  # a flood's tick, or the next update, is already on its way
        wait = self._last_flush + OUTPUT_GAP - time.monotonic()
        if wait <= 0:
            self._flush_output()
        else:
            self._flush_timer = self.set_timer(wait, self._flush_output)

    def _flush_output(self, *, whole: bool = False) -> None:
        """Draw the buffered output. While a step runs: what came since the last update, or,
        during a flood, the count of lines and every FLOOD_GAP the newest FLOOD_LINES. When it
        ends (``whole``): everything buffered, up to the view's full scrollback."""
        if self._flush_timer is not None:
            self._flush_timer.stop()
            self._flush_timer = None
        now = time.monotonic()
        self._last_flush = now
        bridge = self.view.bridge
        if bridge is None:
            return
        detail = self.query_one(StepDetail)
        status = self.query_one(RunStatusBar)
        if not whole and bridge.buffered_lines > FLOOD_LINES:
            if self._flood_since is None:
                self._flood_since = self._last_tail = now  # the first tail after FLOOD_GAP
            flooding = bridge.buffered_steps
            # the count: one line of the status bar, the cheapest thing to draw
            status.set_note(f"{bridge.lines_printed(flooding[0]):,} lines so far")
            if now - self._last_tail >= FLOOD_GAP - COUNT_GAP / 2:
                self._last_tail = now
                for step_id, lines in bridge.take_output(FLOOD_LINES).items():
                    detail.add_output(step_id, lines)
                    detail.output_count(step_id, bridge.lines_printed(step_id), running=True)
            # the bridge posts no new OutputReady until the output is taken: tick on a timer
            self._flush_timer = self.set_timer(COUNT_GAP, self._flush_output)
            return
        if self._flood_since is not None or whole:
            self._flood_since = None
            status.set_note("")
        for step_id, lines in bridge.take_output(None if whole else FLOOD_LINES).items():
            detail.add_output(step_id, lines)
            detail.output_count(step_id, bridge.lines_printed(step_id), running=not whole)

    @on(RunBridge.EngineEvent)
    def _event(self, message: RunBridge.EngineEvent) -> None:
        event = message.event
        if isinstance(event, (ev.StepFinished, ev.RunFinished, ev.RunPaused)):
            self._flush_output(whole=True)  # the whole output is on screen when a step ends
        tree = self.query_one(StepTree)
        detail = self.query_one(StepDetail)
        status = self.query_one(RunStatusBar)
        step_id = str(getattr(event, "step_id", "") or "")
        if step_id:
            tree.refresh_step(step_id)
        else:
            tree.refresh_all()
        if isinstance(event, ev.StepStarted):
            status.activity = f"running {event.step_id}" + (
                f" (attempt {event.attempt})" if event.attempt > 1 else ""
            )
            self._attend(event.step_id)
        elif isinstance(event, ev.StepFinished):
            status.activity = f"{event.step_id} {event.status}"
            detail.output_count(
                event.step_id, self.view.lines_printed(event.step_id), running=False
            )
        elif isinstance(event, ev.PhaseStarted):
            status.activity = f"phase {event.title}"
        elif isinstance(event, ev.StepChanged) and event.status == "interrupted":
            self._attend(event.step_id)
        elif isinstance(event, ev.Notice):
            self._notice(event)
        elif isinstance(event, ev.RunPaused):
            status.activity = f"paused: {event.reason}"
            self.notify(event.reason, title="Run paused", severity="warning", timeout=10)
        elif isinstance(event, ev.RunFinished):
            counts = ", ".join(f"{v} {fmt.words(k)}" for k, v in sorted(event.summary.items()))
            status.activity = counts
            severity = "information" if event.status == "succeeded" else "warning"
            self.notify(
                f"{fmt.words(event.status).capitalize()}: {counts}. Press e to export the report, q to quit.",
                title="Run finished",
                severity=severity,
                timeout=15,
            )
        if step_id and step_id == detail.step_id:
            detail.refresh_facts()
        status.update_state()
        self._refresh_keys()

    def _notice(self, event: ev.Notice) -> None:
        if event.level == "error" and self._last_manual:
            # a refused tick (four eyes): the same question comes again; say why on the panel
            self._refusals[self._last_manual] = event.text
        self.notify(
            event.text,
            severity=NOTICE_SEVERITY.get(event.level, "information"),  # type: ignore[arg-type]
            timeout=10 if event.level == "error" else 5,
        )

    # -- the runner's questions -------------------------------------------------------------------

    @on(RunBridge.QuestionChanged)
    def _question(self, message: RunBridge.QuestionChanged) -> None:
        self._flush_output(whole=True)  # a failure is asked about with its output on screen
        question = message.question
        previous = self.question
        self.question = question
        detail = self.query_one(StepDetail)
        status = self.query_one(RunStatusBar)
        if previous is not None and previous.kind == "manual":
            detail.close_manual()
        if question is None:
            self._close_dialog()
            status.activity = ""
            status.update_state()
            self._refresh_keys()
            return
        if question.kind == "pace":
            self.active_step = question.step_id
            title = self.view.display(question.step.display_title)
            status.activity = f"next: {title}"
            if self.follow:
                self._select(question.step_id)
        else:
            self.follow = True
            if question.step_id:
                self._attend(question.step_id)
            status.activity = {
                "manual": "waits for a person",
                "failure": "a step failed: decide",
                "confirm": "asks for confirmation",
                "choice": "choose an alternative",
                "interrupted": "an interrupted step: decide",
            }[question.kind]
        if question.kind == "manual":
            self._last_manual = question.step_id
            detail.ask_manual(question.step, self.operator_name)
            refusal = self._refusals.pop(question.step_id, "")
            if refusal:
                self.query_one(ManualPanel).refuse(refusal)
        elif question.kind in DIALOG_QUESTIONS:
            self.action_decide()
        status.update_state()
        self._refresh_keys()

    @property
    def operator_name(self) -> str:
        return self.view.operator.name if self.view.operator is not None else ""

    def _answer(self, question: Question, value: Any) -> None:
        if self.view.operator is not None and value is not None:
            self.view.operator.answer(question, value)

    def _close_dialog(self) -> None:
        dialog, self._dialog = self._dialog, None
        if dialog is not None and dialog in self.app.screen_stack:
            self.pop_until_active()

    def action_decide(self) -> None:
        """Show the dialog for the pending question (again)."""
        question = self.question
        if question is None or question.kind not in DIALOG_QUESTIONS:
            return
        if self._dialog is not None and self._dialog in self.app.screen_stack:
            return
        name = self.operator_name
        title = self.view.display(question.step.display_title) if question.step is not None else ""
        dialog: Any
        if question.kind == "failure":
            dialog = FailureDialog(question.step, question.failure, name, title)
        elif question.kind == "confirm":
            dialog = ConfirmDialog(
                f"Run “{title}”?",
                "The checklist asks for a confirmation before this step "
                "runs. “Not now” pauses the run.",
                yes="Run it",
                no="Not now",
                danger=True,
                detail=str(question.detail),
            )
        elif question.kind == "choice":
            assert question.phase is not None
            dialog = ChoiceDialog(
                question.phase, list(question.detail or []), self.view.display(question.phase.title)
            )
        else:
            rec = self.view.state.steps.get(question.step_id)
            dialog = InterruptedDialog(
                question.step,
                rec.message if rec else "",
                self.view.describe(question.step_id),
                name,
                title,
                running=str(question.detail or ""),
            )
        self._dialog = dialog

        def answered(value: Any) -> None:
            if self._dialog is dialog:
                self._dialog = None
            self._answer(question, value)

        self.app.push_screen(dialog, answered)

    # -- actions ----------------------------------------------------------------------------------

    def _refresh_keys(self) -> None:
        """Refresh the footer when the keys that apply change (a refresh rebuilds the footer)."""
        allowed = tuple(
            self.check_action(*parse(binding.action)[1:])
            for binding in self.BINDINGS
            if isinstance(binding, Binding)
        )
        if allowed != self._allowed:
            self._allowed = allowed
            self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        view = self.view
        if action == "back":
            return view.read_only
        if action in ("runs", "help", "search", "follow", "verify"):
            return action != "follow" or not view.read_only
        if action == "export":
            return view.state.status != "running" or view.read_only
        if view.read_only:
            return False
        q = self.question
        kind = q.kind if q is not None else ""
        state = view.state
        live = state.status == "running"
        if action in ("run_step", "run_on"):
            # while a step runs they say what comes after it (one more step, or on to the next
            # manual step); offering them then also keeps the footer the same for a whole step
            return kind == "pace" or (live and q is None)
        if action == "retry":
            return kind in ("failure", "interrupted")
        if action == "tick":
            return kind == "manual"
        if action == "skip":
            return kind in ("manual", "failure", "interrupted")
        if action == "choose":
            return kind == "choice"
        if action == "decide":
            return kind in DIALOG_QUESTIONS
        if action == "note":
            return live and bool(self.selected_step) and self.selected_step in state.steps
        if action == "cancel_step":
            # offered while the run is live (it says so when nothing runs): the footer then stays
            # the same from step to step, instead of being rebuilt when each starts and ends
            return live and kind in ("", "pace")
        if action == "rollback":
            has_rollback = any(p.rollback for p in view.checklist.phases)
            return live and has_rollback and not state.rollback_started
        if action == "abort":
            return live
        return True

    def action_run_step(self) -> None:
        if self.view.operator is not None and not self.view.operator.go("step"):
            self.notify("After the running step, the next one runs too.")

    def action_run_on(self) -> None:
        if self.view.operator is not None and not self.view.operator.go("run_on"):
            self.notify("After the running step, the run goes on to the next manual step.")

    def action_retry(self) -> None:
        q = self.question
        if q is None:
            return
        if q.kind == "failure":
            self._answer(q, Decision("retry", self.operator_name))
        elif q.kind == "interrupted":
            self._answer(q, Decision("rerun", self.operator_name))

    def action_tick(self, action: str) -> None:
        q = self.question
        if q is None or q.kind != "manual":
            return
        panel = self.query_one(ManualPanel)
        self._answer(q, Tick(q.step_id, action, panel.approver, note=panel.note))

    @on(ManualPanel.Answered)
    def _panel_answer(self, message: ManualPanel.Answered) -> None:
        if message.action == "skip":
            self.action_skip()
        else:
            self.action_tick(message.action)

    def action_skip(self) -> None:
        q = self.question
        if q is None or q.kind not in ("manual", "failure", "interrupted"):
            return
        title = self.view.display(q.step.display_title)

        def skipped(reason: str | None) -> None:
            if not reason:
                return
            if q.kind == "manual":
                self._answer(
                    q,
                    Tick(
                        q.step_id,
                        "skip",
                        self.operator_name,
                        reason=reason,
                        note=self.query_one(ManualPanel).note,
                    ),
                )
            else:
                self._answer(q, Decision("skip", self.operator_name, reason))

        self.app.push_screen(
            TextPrompt(
                f"Skip “{title}”: why?",
                placeholder="the reason is recorded in the report",
                ok="Skip",
            ),
            skipped,
        )

    def action_choose(self) -> None:
        self.action_decide()

    def action_note(self) -> None:
        step_id = self.selected_step
        runner = self.view.runner
        if runner is None or not step_id:
            return

        def noted(note: str | None) -> None:
            if note:
                self.view.control(runner.add_note, step_id, note, self.operator_name)

        self.app.push_screen(
            TextPrompt(
                f"Note for {step_id}",
                placeholder="recorded in the report, with your name",
                ok="Add note",
            ),
            noted,
        )

    def action_cancel_step(self) -> None:
        runner = self.view.runner
        if runner is None:
            return
        step_id = self.view.running_step
        if step_id and self.view.control(runner.cancel_step):
            self.notify(f"Stopping {step_id}…", severity="warning")
        else:
            self.notify("No step is running right now.")

    def action_rollback(self) -> None:
        self._request("rollback")

    def action_abort(self) -> None:
        self._request("abort")

    def _request(self, action: str) -> None:
        runner = self.view.runner
        operator = self.view.operator
        if runner is None or operator is None:
            return
        what = "Start the rollback" if action == "rollback" else "Abort the run"
        body = (
            "The checklist's rollback phase runs next; the steps not done yet become not applicable."
            if action == "rollback"
            else "The run stops and is recorded as aborted."
        )
        if self.view.running_step:
            body += " The running step finishes first (x cancels it)."

        def confirmed(yes: bool | None) -> None:
            if not yes:
                return
            q = self.question
            reason = f"{action} requested by {self.operator_name} from the TUI"
            if q is not None and q.kind == "failure":
                self._answer(q, Decision(action, self.operator_name, reason))
                return
            request = runner.request_rollback if action == "rollback" else runner.request_abort
            self.view.control(request, reason, self.operator_name)
            operator.wake()  # a held run reaches the point where the runner looks at requests

        self.app.push_screen(ConfirmDialog(f"{what}?", body, yes=what, danger=True), confirmed)

    def action_search(self) -> None:
        output = self.query_one(OutputView)

        def search(text: str | None) -> None:
            if not text:
                return
            found = output.search(text)
            if found is None:
                self.notify(f"No line of the output shown contains “{text}”.", severity="warning")
            else:
                line, count = found
                self.notify(f"Line {line} ({count} matching lines; / and Enter finds the next).")

        self.app.push_screen(
            TextPrompt("Search the output", value=output._search, placeholder="text to find"),
            search,
        )

    def action_export(self) -> None:
        app: Any = self.app
        app.export_dialog(self.view.folder)

    def action_verify(self) -> None:
        from iact_tui.tui.screens.verify import VerifyScreen

        exported = self.view.folder / "export" / "report.toml"
        self.app.push_screen(VerifyScreen(str(exported if exported.exists() else self.view.folder)))

    def action_runs(self) -> None:
        from iact_tui.tui.screens.runs import RunsScreen

        self.app.push_screen(RunsScreen(self.app.runs_dir))  # type: ignore[attr-defined]

    def action_help(self) -> None:
        from iact_tui.tui.screens.help import HelpScreen

        self.app.push_screen(HelpScreen(self.BINDINGS))

    def action_back(self) -> None:
        if self.view.read_only:
            self.dismiss()

    # -- the end ----------------------------------------------------------------------------------

    def run_ended(self, text: str) -> None:
        """The run's worker ended (the App tells): say so, keep everything readable."""
        self._ended = text
        status = self.query_one(RunStatusBar)
        status.activity = text
        status.update_state()
        self.query_one(StepTree).refresh_all()
        self._refresh_keys()

    def _refresh_everything(self) -> None:
        self.query_one(StepTree).refresh_all()
        self.query_one(StepDetail).refresh_facts()
        self.query_one(RunStatusBar).update_state()
