"""The main screen of a run: steps tree (left), the selected step (right), status bar, keys.

It shows the runner's events as they arrive (through ``RunBridge`` messages) and answers the
runner's questions (through ``TuiOperator``); it decides nothing the engine decides. A run read
from disk (``RunView.from_folder``) is shown by the same screen, read-only. Its keys are in
``run_keys``, the words and dialogs of the questions in ``run_questions``, the pacing of
streamed output in ``run_output``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar

from textual import on, work
from textual.actions import parse
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.notifications import SeverityLevel
from textual.widgets import Footer, Header, Label, Static, Tree

from iact_tui.engine import events as ev
from iact_tui.engine.events import QuestionKind
from iact_tui.engine.record.ticks import Tick, needs_signature
from iact_tui.engine.run.operator import Decision
from iact_tui.engine.status import RunStatus, StepStatus
from iact_tui.tui import format as fmt
from iact_tui.tui.bridge import RunBridge
from iact_tui.tui.dialogs.confirm import ConfirmDialog
from iact_tui.tui.dialogs.text_prompt import TextPrompt
from iact_tui.tui.operator import Pacing, Question
from iact_tui.tui.run_model import RunView
from iact_tui.tui.screens import run_questions as questions
from iact_tui.tui.screens.following import StepFollowingScreen
from iact_tui.tui.screens.run_keys import RUN_BINDINGS, allowed
from iact_tui.tui.screens.run_output import OutputPacer
from iact_tui.tui.widgets.manual_panel import ManualPanel
from iact_tui.tui.widgets.output_view import OutputView
from iact_tui.tui.widgets.status_bar import RunStatusBar
from iact_tui.tui.widgets.step_detail import StepDetail
from iact_tui.tui.widgets.step_tree import StepTree

NOTICE_SEVERITY: dict[str, SeverityLevel] = {
    "info": "information",
    "warning": "warning",
    "error": "error",
}
# the step shown first: the first in one of these states (in this order), else the first pending
FIRST_SHOWN = (
    StepStatus.RUNNING,
    StepStatus.INTERRUPTED,
    StepStatus.WAITING,
    StepStatus.FAILED,
    StepStatus.PENDING,
)


class RunScreen(StepFollowingScreen):
    BINDINGS: ClassVar[list[BindingType]] = RUN_BINDINGS

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
        self._output = OutputPacer(self, view.bridge)
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
        yield Label("", id="run-hint", markup=False)  # who a step waits for, the tick command
        yield Footer()

    def on_mount(self) -> None:
        state = self.view.state
        info = state.info
        self.title = f"{info.get('checklist_title') or self.view.checklist.checklist.title}"
        self.sub_title = f"run {state.run_id}" + (" (read-only)" if self.view.read_only else "")
        self.query_one("#run-hint", Label).display = False
        tree = self.query_one(StepTree)
        tree.focus()
        first = self._first_interesting_step()
        if first:
            self._select(first)
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._refresh_everything())

    def _first_interesting_step(self) -> str:
        steps = self.view.state.steps
        for status in FIRST_SHOWN:
            for step_id, rec in steps.items():
                if rec.status == status:
                    return step_id
        return next(iter(steps), "")

    # -- selection and following ------------------------------------------------------------------

    @on(Tree.NodeHighlighted, "#steps")
    def _highlighted(self, event: Tree.NodeHighlighted[str]) -> None:
        step_id = StepTree.step_of(event.node)
        if not step_id:
            return
        self._highlight_moved(step_id)
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
    def _output_ready(self) -> None:
        self._output.ready()

    @on(RunBridge.EngineEvent)
    def _event(self, message: RunBridge.EngineEvent) -> None:
        event = message.event
        if isinstance(event, (ev.StepFinished, ev.RunFinished, ev.RunPaused)):
            self._output.flush(whole=True)  # the whole output is on screen when a step ends
        self.view.catch_up()  # the event's records are durable: the screen's copy reads them
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
        elif isinstance(event, ev.StepChanged) and event.status == StepStatus.INTERRUPTED:
            self._attend(event.step_id)
        elif isinstance(event, ev.Notice):
            self._notice(event)
        elif isinstance(event, ev.RunPaused):
            status.activity = f"paused: {event.reason}"
            self.notify(event.reason, title="Run paused", severity="warning", timeout=10)
        elif isinstance(event, ev.RunFinished):
            counts = ", ".join(f"{v} {fmt.words(k)}" for k, v in sorted(event.summary.items()))
            status.activity = counts
            severity: SeverityLevel = (
                "information" if event.status == RunStatus.SUCCEEDED else "warning"
            )
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
            severity=NOTICE_SEVERITY.get(event.level, "information"),
            timeout=10 if event.level == "error" else 5,
        )

    # -- the runner's questions -------------------------------------------------------------------

    @on(RunBridge.QuestionChanged)
    def _question(self, message: RunBridge.QuestionChanged) -> None:
        self._output.flush(whole=True)  # a failure is asked about with its output on screen
        question = message.question
        previous = self.question
        self.question = question
        detail = self.query_one(StepDetail)
        status = self.query_one(RunStatusBar)
        if previous is not None and previous.kind == QuestionKind.MANUAL:
            detail.close_manual()
        self._show_hint(questions.hint(question, self.view) if question is not None else "")
        if question is None:
            self._close_dialog()
            status.activity = ""
            status.update_state()
            self._refresh_keys()
            return
        if question.kind == QuestionKind.PACE:
            self.active_step = question.step_id
            title = self.view.display(question.step.display_title)
            status.activity = f"next: {title}"
            if self.follow:
                self._select(question.step_id)
        else:
            self.follow = True
            if question.step_id:
                self._attend(question.step_id)
            status.activity = questions.activity(question, self.view)
        if question.kind == QuestionKind.MANUAL:
            self._last_manual = question.step_id
            detail.ask_manual(
                question.step, self.operator_name, questions.tick_command(question, self.view)
            )
            refusal = self._refusals.pop(question.step_id, "")
            if refusal:
                self.query_one(ManualPanel).refuse(refusal)
        elif question.kind in questions.DIALOG_QUESTIONS:
            self.action_decide()
        status.update_state()
        self._refresh_keys()

    def _show_hint(self, text: str) -> None:
        """The line under the status bar: shown, whole (it wraps), while a step waits."""
        hint = self.query_one("#run-hint", Label)
        if text:
            hint.update(text)
        hint.display = bool(text)

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
        if question is None or question.kind not in questions.DIALOG_QUESTIONS:
            return
        if self._dialog is not None and self._dialog in self.app.screen_stack:
            return
        dialog = questions.dialog_for(question, self.view, self.operator_name)
        self._dialog = dialog

        def answered(value: Any) -> None:
            if self._dialog is dialog:
                self._dialog = None
            self._answer(question, value)

        self.app.push_screen(dialog, answered)

    # -- actions ----------------------------------------------------------------------------------

    def _refresh_keys(self) -> None:
        """Refresh the footer when the keys that apply change (a refresh rebuilds the footer)."""
        allowed_now = tuple(
            self.check_action(*parse(binding.action)[1:])
            for binding in self.BINDINGS
            if isinstance(binding, Binding)
        )
        if allowed_now != self._allowed:
            self._allowed = allowed_now
            self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return allowed(action, self.view, self.question, self.selected_step)

    def action_run_step(self) -> None:
        if self.view.operator is not None and not self.view.operator.go(Pacing.STEP):
            self.notify("After the running step, the next one runs too.")

    def action_run_on(self) -> None:
        if self.view.operator is not None and not self.view.operator.go(Pacing.RUN_ON):
            self.notify("After the running step, the run goes on to the next manual step.")

    def action_retry(self) -> None:
        q = self.question
        if q is not None:
            self._answer(q, questions.retry(q, self.operator_name))

    def action_tick(self, action: str) -> None:
        q = self.question
        if q is None or q.kind != QuestionKind.MANUAL:
            return
        panel = self.query_one(ManualPanel)
        tick = Tick(q.step_id, action, panel.approver, note=panel.note)
        if needs_signature(self.view.state, q.step):
            # the role's approvers sign: with the key in this person's ssh-agent (a thread: the
            # agent is asked on a loop of its own); the runner checks it like any signed tick
            self._sign_and_answer(q, tick)
            return
        refusal = questions.refusal(tick, self.view)  # four eyes, said here: the question stays
        if refusal:
            panel.refuse(refusal)
            return
        self._answer(q, tick)

    @work(thread=True, group="sign-tick", exit_on_error=False)
    def _sign_and_answer(self, q: Question, tick: Tick) -> None:
        signed, problem = questions.sign_with_agent(tick, self.view)
        if signed is None:
            self.app.call_from_thread(self.query_one(ManualPanel).refuse, problem)
            return
        self.app.call_from_thread(self._answer, q, signed)

    @on(ManualPanel.Answered)
    def _panel_answer(self, message: ManualPanel.Answered) -> None:
        if message.action == "skip":
            self.action_skip()
        else:
            self.action_tick(message.action)

    def action_skip(self) -> None:
        q = self.question
        if q is None or not allowed("skip", self.view, q, self.selected_step):
            return
        title = self.view.display(q.step.display_title)

        def skipped(reason: str | None) -> None:
            if reason:
                note = self.query_one(ManualPanel).note
                answer = questions.skip(q, self.operator_name, reason, note)
                if isinstance(answer, Tick) and needs_signature(self.view.state, q.step):
                    self._sign_and_answer(q, answer)
                    return
                self._answer(q, answer)

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
        if self.view.read_only or not step_id:
            return

        def noted(note: str | None) -> None:
            if note:
                self.view.add_note(step_id, note, self.operator_name)

        self.app.push_screen(
            TextPrompt(
                f"Note for {step_id}",
                placeholder="recorded in the report, with your name",
                ok="Add note",
            ),
            noted,
        )

    def action_cancel_step(self) -> None:
        if self.view.read_only:
            return
        step_id = self.view.running_step
        if step_id and self.view.cancel_step():
            self.notify(f"Stopping {step_id}…", severity="warning")
        else:
            self.notify("No step is running right now.")

    def action_rollback(self) -> None:
        self._request("rollback")

    def action_abort(self) -> None:
        self._request("abort")

    def _request(self, action: str) -> None:
        operator = self.view.operator
        if self.view.read_only or operator is None:
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
            if q is not None and q.kind == QuestionKind.FAILURE:
                self._answer(q, Decision(action, self.operator_name, reason))
                return
            self.view.request(action, reason, self.operator_name)
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
                self.notify(
                    f"Line {line} ({count} matching lines; / then Enter twice finds the next)."
                )

        self.app.push_screen(
            TextPrompt("Search the output", value=output._search, placeholder="text to find"),
            search,
        )

    # -- elsewhere (the App opens the other screens: no screen imports another) -------------------

    def action_export(self) -> None:
        app: Any = self.app
        app.export_dialog(self.view.folder)

    def action_verify(self) -> None:
        exported = self.view.folder / "export" / "report.toml"
        app: Any = self.app
        app.show_verify(str(exported if exported.exists() else self.view.folder))

    def action_runs(self) -> None:
        app: Any = self.app
        app.show_runs()

    def action_help(self) -> None:
        app: Any = self.app
        app.show_help(self.BINDINGS)

    def action_back(self) -> None:
        if self.view.read_only:
            self.dismiss()

    # -- the end ----------------------------------------------------------------------------------

    def run_ended(self, text: str) -> None:
        """The run's worker ended (the App tells): say so, keep everything readable."""
        self._ended = text
        self.view.catch_up()
        status = self.query_one(RunStatusBar)
        status.activity = text
        status.update_state()
        self.query_one(StepTree).refresh_all()
        self._refresh_keys()

    def _refresh_everything(self) -> None:
        self.query_one(StepTree).refresh_all()
        self.query_one(StepDetail).refresh_facts()
        self.query_one(RunStatusBar).update_state()
