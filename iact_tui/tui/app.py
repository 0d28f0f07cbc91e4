"""The App: which screen comes first, and the one worker that drives a run.

The run is driven from here, not from a screen (a worker dies with the screen that started it):
``_drive`` is a ``@work`` worker in the group ``run``; its end is handled in one
``Worker.StateChanged`` handler, which records the exit code (PRODUCT.md: 0 succeeded, 1
failed / rolled back / aborted, 3 paused, 130 interrupted).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path, PurePath
from typing import Any, ClassVar

from textual import on, work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.command import Provider
from textual.worker import Worker, WorkerState

from iact_tui.engine.errors import ExitCode
from iact_tui.engine.record.store import ReportError
from iact_tui.engine.run.launch import BadInput, Launch, NeedsPerson
from iact_tui.engine.status import RunStatus
from iact_tui.tui import starting as sessions
from iact_tui.tui.commands import RunCommands
from iact_tui.tui.dialogs.checklist_changed import ChecklistChangedDialog
from iact_tui.tui.dialogs.confirm import ConfirmDialog
from iact_tui.tui.dialogs.export import ExportDialog
from iact_tui.tui.dialogs.message import MessageDialog
from iact_tui.tui.exporting import (
    ExportOutcome,
    ExportRequest,
    VerifyOutcome,
    export_errors,
    run_export,
    run_verify,
)
from iact_tui.tui.run_model import RunView
from iact_tui.tui.screens.help import HelpScreen
from iact_tui.tui.screens.metrics import MetricsScreen
from iact_tui.tui.screens.run import RunScreen
from iact_tui.tui.screens.runs import RunsScreen
from iact_tui.tui.screens.setup import SetupAnswers, SetupScreen
from iact_tui.tui.screens.start import StartScreen
from iact_tui.tui.screens.verify import VerifyScreen

SWITCH_INTERVAL = 0.002  # seconds; Python's default is 0.005
# the run worker's result when the run was cancelled (quit or a signal while a step ran): the
# runner has recorded the step interrupted and the run paused
INTERRUPTED = "interrupted"


class IactApp(App[int]):
    CSS_PATH: ClassVar[list[str | PurePath]] = ["app.tcss", "dialogs.tcss"]
    TITLE = "iact-tui"
    COMMANDS: ClassVar[set[type[Provider] | Callable[[], type[Provider]]]] = App.COMMANDS | {
        RunCommands
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "ctrl+q",
            "quit",
            "Quit",
            id="quit",
            tooltip="Quit; an unfinished run can be resumed",
            priority=True,
            show=False,
        ),
    ]

    def __init__(
        self,
        launch: Launch,
        *,
        checklists_dir: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.launch = launch
        self.spec = sessions.spec_of(launch)
        self.runs_dir = launch.runs_dir
        self.checklists_dir = checklists_dir or Path("checklists")
        self.clock = clock
        self.run_view: RunView | None = None
        self.run_screen: RunScreen | None = None
        self.exit_status = 0
        self.final_lines: list[
            tuple[str, bool]
        ] = []  # (text, to stderr) printed after the app ends
        self._run_worker: Worker[str] | None = None
        self._quitting = False
        self._switch_interval = sys.getswitchinterval()
        self._export_request: ExportRequest | None = None
        self._verify_screen: VerifyScreen | None = None

    def on_mount(self) -> None:
        # the runner's thread reads a command's output as it comes; with Python's default 5 ms
        # switch interval, a frame being drawn would keep it waiting long enough for a fast
        # command to fill its pipe and stall (process-wide, for this process only: the TUI's)
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL)
        if self.launch.checklist is not None:
            self.new_run(Path(self.launch.checklist), direct=True)
        elif self.launch.run_ref is not None:
            self.resume_run(Path(self.launch.run_ref), direct=True)
        else:
            self.push_screen(StartScreen(self.checklists_dir, self.runs_dir))

    # -- starting -------------------------------------------------------------------------------

    def can_start_run(self) -> bool:
        return self._run_worker is None or self._run_worker.is_finished

    def _cancelled(self, direct: bool) -> Callable[[], None]:
        def cancel() -> None:
            if direct:
                self.final_lines.append(("iact-tui: cancelled before the run started", True))
                self.exit(ExitCode.INTERRUPTED, return_code=ExitCode.INTERRUPTED)
            else:
                self.pop_screen()

        return cancel

    def new_run(self, checklist: Path, *, direct: bool = False) -> None:
        try:
            loaded, questions = sessions.load_for_new(checklist, self.spec)
        except BadInput as exc:
            self._cannot(str(exc), direct)
            return
        info = loaded.checklist.checklist

        def submit(answers: SetupAnswers) -> str | None:
            try:
                view = sessions.start_new(
                    self.launch, checklist, self.spec, answers.operator, answers.values
                )
            except (BadInput, ReportError) as exc:
                return str(exc)
            self.start_run(view, resumed=False, replace=True)
            return None

        detail = f"{info.id} {info.version} · {checklist}"
        self.push_screen(
            SetupScreen(
                info.title,
                detail,
                self.spec.operator,
                questions,
                submit,
                self._cancelled(direct),
                banner=self.launch.banner,
            )
        )

    def resume_run(self, ref: Path, *, direct: bool = False) -> None:
        from iact_tui.engine.record.store import resolve_run

        try:
            folder = resolve_run(str(ref), self.runs_dir)
            changes = sessions.changes_for_resume(folder, self.spec)
        except (ReportError, BadInput) as exc:
            self._cannot(str(exc), direct)
            return
        if changes:

            def decided(decision: str | None) -> None:
                if decision is None:
                    if direct:
                        self._cancelled(direct)()
                    return
                self.spec.checklist_changed = decision
                self._resume_with_values(folder, direct)

            self.push_screen(ChecklistChangedDialog(str(folder.name), changes), decided)
            return
        self._resume_with_values(folder, direct)

    def _resume_with_values(self, folder: Path, direct: bool) -> None:
        try:
            questions = sessions.resume_questions(folder, self.spec)
        except BadInput as exc:
            self._cannot(str(exc), direct)
            return

        def submit(answers: SetupAnswers) -> str | None:
            try:
                view = sessions.start_resume(
                    self.launch, folder, self.spec, answers.operator, answers.values
                )
            except (BadInput, ReportError, NeedsPerson) as exc:
                return str(exc)
            self.start_run(view, resumed=True, replace=bool(questions))
            return None

        if not questions:
            problem = submit(SetupAnswers(self.spec.operator))
            if problem:
                self._cannot(problem, direct)
            return
        self.push_screen(
            SetupScreen(
                f"Resume {folder.name}",
                "Values that are never recorded are asked again.",
                self.spec.operator,
                questions,
                submit,
                self._cancelled(direct),
                start_label="Resume run",
                banner=self.launch.banner,
            )
        )

    def _cannot(self, problem: str, direct: bool) -> None:
        if direct:
            self.final_lines.append((f"iact-tui: {problem}", True))
            self.exit(2, return_code=2)
        else:
            self.notify(problem, title="Cannot start", severity="error", timeout=15)

    def start_run(self, view: RunView, *, resumed: bool, replace: bool) -> None:
        """Show the run and drive it (the form that started it, if any, makes way)."""
        assert view.bridge is not None and view.operator is not None
        screen = RunScreen(view, clock=self.clock)
        view.bridge.target = screen
        view.operator.on_change = view.bridge.question_changed
        self.run_view = view
        self.run_screen = screen
        self.final_lines = [(f"run {view.run_id} {view.folder}", False)]
        if replace:
            self.switch_screen(screen)
        else:
            self.push_screen(screen)
        self._run_worker = self._drive(view, resumed)

    @work(thread=True, group="run", exit_on_error=False, name="run")
    async def _drive(self, view: RunView, resumed: bool) -> str:
        # on its own thread and event loop: a command printing 200,000 lines, or the fsync of
        # each record, never waits on the screen (nor the screen on them)
        view.loop = asyncio.get_running_loop()
        view.task = asyncio.current_task()
        try:
            return str(await view.runner.run(resumed=resumed))
        except asyncio.CancelledError:
            return INTERRUPTED  # the runner has recorded it (quit while a step ran)
        finally:
            view.runner.store.lock.release()

    # -- the other screens (opened here, so that no screen imports another) ----------------------

    def show_runs(self) -> None:
        self.push_screen(RunsScreen(self.runs_dir))

    def show_run_record(self, folder: Path) -> None:
        """A run read from its folder, read-only: followed live (the watch screen) while another
        process drives it, else as it was recorded."""
        from iact_tui.engine.record.follow import is_driven

        own = self.run_view is not None and self.run_view.folder.resolve() == folder.resolve()
        if own and not self.can_start_run():
            self.notify("This run is driven in this window: Escape goes back to it.")
            return
        try:
            if is_driven(folder):
                from iact_tui.tui.screens.watch import WatchScreen

                self.push_screen(WatchScreen(folder))
                return
            view = RunView.from_folder(folder)
        except ReportError as exc:
            self.notify(str(exc), severity="error")
            return
        self.push_screen(RunScreen(view))

    def show_verify(self, target: str = "") -> None:
        self.push_screen(VerifyScreen(target))

    def show_metrics(self, checklist_id: str | None = None) -> None:
        self.push_screen(MetricsScreen(self.runs_dir, checklist_id=checklist_id))

    def show_help(self, bindings: list[Any]) -> None:
        self.push_screen(HelpScreen(bindings))

    # -- export and verify (thread workers: signing with ssh-agent runs a loop of its own) ------

    def export_dialog(
        self, folder: Path, previous: ExportRequest | None = None, problem: str = ""
    ) -> None:
        def chosen(request: ExportRequest | None) -> None:
            if request is not None:
                self._export_request = request
                self.notify(f"Exporting {folder.name}…")
                self._export(request)

        self.push_screen(ExportDialog(folder, previous, problem), chosen)

    @work(thread=True, group="export", exit_on_error=False, exclusive=True, name="export")
    def _export(self, request: ExportRequest) -> ExportOutcome:
        return run_export(request)

    def start_verify(self, screen: VerifyScreen, target: str, allowed: str, identity: str) -> None:
        self._verify_screen = screen
        self._verify(target, allowed, identity)

    @work(thread=True, group="verify", exit_on_error=False, exclusive=True, name="verify")
    def _verify(self, target: str, allowed: str, identity: str) -> VerifyOutcome:
        return run_verify(target, allowed, identity)

    def _export_done(self, worker: Worker[object], state: WorkerState) -> None:
        request = self._export_request
        if state == WorkerState.SUCCESS:
            outcome = worker.result
            assert isinstance(outcome, ExportOutcome)

            def after(action: str | None) -> None:
                if action == "verify":
                    self.push_screen(VerifyScreen(str(outcome.folder)))

            self.push_screen(
                MessageDialog("Exported", outcome.lines(), (("verify", "Verify it"),)), after
            )
        elif state == WorkerState.ERROR and request is not None:
            error = worker.error
            if isinstance(error, export_errors()):
                self.export_dialog(request.run_folder, request, str(error) or type(error).__name__)
            else:
                self.notify(
                    f"The export stopped on an internal error: {error!r}",
                    severity="error",
                    timeout=20,
                )

    def _verify_done(self, worker: Worker[object], state: WorkerState) -> None:
        from iact_tui.engine.report.verify import VerifyInputError

        screen = self._verify_screen
        if screen is None or not screen.is_attached:
            return
        if state == WorkerState.SUCCESS:
            assert isinstance(worker.result, VerifyOutcome)
            screen.show(worker.result)
        elif state == WorkerState.ERROR:
            error = worker.error
            text = (
                str(error)
                if isinstance(error, VerifyInputError | OSError)
                else f"internal error: {error!r}"
            )
            screen.show_error(text)

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        """The one handler of every worker's end: the run's, an export's, a verification's."""
        worker = event.worker
        if worker.group == "export":
            self._export_done(worker, event.state)
            return
        if worker.group == "verify":
            self._verify_done(worker, event.state)
            return
        if worker.group != "run" or worker is not self._run_worker:
            return
        view = self.run_view
        run_id = view.run_id if view is not None else ""
        if event.state == WorkerState.SUCCESS and worker.result == INTERRUPTED:
            self.exit_status = ExitCode.INTERRUPTED
            text = f"interrupted; resume with: iact-tui resume {run_id}"
        elif event.state == WorkerState.SUCCESS:
            status = str(worker.result)
            self.exit_status = ExitCode.of_run(status)
            if status == RunStatus.PAUSED:
                text = f"paused; continue with: iact-tui resume {run_id}"
            elif status == RunStatus.FAILED:
                text = f"failed; retry, skip or roll back with: iact-tui resume {run_id}"
            else:
                text = "e exports the report, q quits"
        elif event.state == WorkerState.CANCELLED:
            self.exit_status = ExitCode.INTERRUPTED
            text = f"interrupted; resume with: iact-tui resume {run_id}"
        elif event.state == WorkerState.ERROR:
            self.exit_status = 1
            text = f"stopped on an internal error ({worker.error}); resume with: iact-tui resume {run_id}"
            self.notify(text, title="Internal error", severity="error", timeout=30)
        else:
            return
        if self.exit_status != 0:
            self.final_lines.append((f"iact-tui: {text}", True))
        if self.run_screen is not None:
            self.run_screen.run_ended(text)
        if self._quitting:
            self.exit(self.exit_status, return_code=self.exit_status)

    # -- quitting ---------------------------------------------------------------------------------

    def on_unmount(self) -> None:
        sys.setswitchinterval(self._switch_interval)
        # however the app ends, the run's thread must end too (Textual's shutdown waits for it;
        # it may already have marked the worker cancelled): the runner records the interruption
        if self.run_view is not None:
            self.run_view.interrupt()

    async def action_quit(self) -> None:
        worker = self._run_worker
        view = self.run_view
        if worker is None or worker.is_finished or view is None or view.operator is None:
            self.exit(self.exit_status, return_code=self.exit_status)
            return
        operator = view.operator
        if operator.question is not None:
            # the run waits for a person: it pauses cleanly and can be resumed
            self._quitting = True
            operator.stop(f"the operator quit; continue with: iact-tui resume {view.run_id}")
            return
        running = view.running_step

        def confirmed(yes: bool | None) -> None:
            if yes and not worker.is_finished:
                self._quitting = True
                view.interrupt()

        if running:
            self.push_screen(
                ConfirmDialog(
                    "Quit while a step runs?",
                    f"{running} is running. Quitting stops it; the run is recorded as interrupted, and on resume "
                    "you decide whether it completed.",
                    yes="Stop it and quit",
                    danger=True,
                ),
                confirmed,
            )
        else:
            confirmed(True)
