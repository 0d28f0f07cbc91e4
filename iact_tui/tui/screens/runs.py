"""Every run, newest first: checklist, status, operator, start and duration. Open one to read
it (read-only), resume an unfinished one."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Label

from iact_tui.engine.state import FINAL_RUN_STATES, RunState
from iact_tui.engine.store import ReportError, RunLock, list_runs
from iact_tui.tui import format as fmt
from iact_tui.tui.screens.start import run_status
from iact_tui.tui.widgets.theme import theme_style


class RunsScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "enter", "open", "Open", id="runs-open", tooltip="Read the selected run (read-only)"
        ),
        Binding(
            "u", "resume", "Resume", id="runs-resume", tooltip="Resume the selected unfinished run"
        ),
        Binding(
            "e", "export", "Export", id="runs-export", tooltip="Export the selected run's report"
        ),
        Binding(
            "v", "verify", "Verify", id="runs-verify", tooltip="Verify the selected run's report"
        ),
        Binding(
            "ctrl+r", "reload", "Reload", id="runs-reload", tooltip="Read the runs folder again"
        ),
        Binding(
            "m",
            "metrics",
            "Metrics",
            id="metrics",
            tooltip="DORA metrics of the runs, per week (of the selected run's checklist)",
            show=False,  # the footer is full at 80 columns; in help and the palette
        ),
        Binding("escape", "back", "Back", id="runs-back", tooltip="Back to the previous screen"),
        Binding("question_mark", "help", "Help", id="runs-help", tooltip="Keys"),
        Binding(
            "q", "app.quit", "Quit", id="quit-key", tooltip="Quit; an unfinished run can be resumed"
        ),
    ]

    def __init__(self, runs_dir: Path) -> None:
        super().__init__()
        self.runs_dir = runs_dir
        self.rows: dict[str, tuple[Path, RunState | None, str]] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield Label("", id="runs-where", markup=False)
        yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Runs"
        table = self.query_one(DataTable)
        table.add_columns("run", "status", "checklist", "operator", "took", "started")
        self.action_reload()
        table.focus()

    def action_reload(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        self.rows.clear()
        runs = list_runs(self.runs_dir)
        where = (
            f"{len(runs)} run{'s' if len(runs) != 1 else ''} in {self.runs_dir}"
            " · Enter opens one (read-only) · u resumes an unfinished one"
        )
        self.query_one("#runs-where", Label).update(where)
        for folder, state, problem in runs:
            key = folder.name
            self.rows[key] = (folder, state, problem)
            if state is None:
                table.add_row(
                    Text(key),
                    Text("unreadable", theme_style(self, "error")),
                    Text(problem),
                    "",
                    "",
                    "",
                    key=key,
                )
                continue
            status = state.status
            in_use = status not in FINAL_RUN_STATES and RunLock.is_held(folder)
            colour = theme_style(self, fmt.RUN_COLOURS.get(status, "foreground"))
            took = fmt.span(state.started_at, state.finished_at)
            table.add_row(
                Text(state.run_id),
                Text(run_status(status, in_use), colour),
                Text(str(state.info.get("checklist_id", ""))),
                Text(state.operator),
                Text(fmt.duration(took) if took is not None else ""),
                Text(fmt.local_time(state.started_at)),
                key=key,
            )
        self.refresh_bindings()

    def _selected(self) -> tuple[Path, RunState | None, str] | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.rows.get(str(key))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("open", "resume", "export", "verify"):
            selected = self._selected() if self.is_mounted else None
            if selected is None or selected[1] is None:
                return None
            if action == "resume":
                folder, state, _ = selected
                app: Any = self.app
                resumable = state.status not in FINAL_RUN_STATES and not RunLock.is_held(folder)
                return True if resumable and app.can_start_run() else None
        return True

    @on(DataTable.RowHighlighted)
    def _moved(self) -> None:
        self.refresh_bindings()

    @on(DataTable.RowSelected)
    def _chosen(self) -> None:
        self.action_open()

    def action_open(self) -> None:
        from iact_tui.tui.run_view import RunView
        from iact_tui.tui.screens.run import RunScreen

        selected = self._selected()
        if selected is None or selected[1] is None:
            return
        try:
            view = RunView.from_folder(selected[0])
        except ReportError as exc:
            self.notify(str(exc), severity="error")
            return
        self.app.push_screen(RunScreen(view))

    def action_resume(self) -> None:
        selected = self._selected()
        if selected is None or selected[1] is None:
            return
        app: Any = self.app
        if not app.can_start_run():
            self.notify(
                "A run is already open in this window; finish or quit it first.", severity="warning"
            )
            return
        app.resume_run(selected[0])

    def action_export(self) -> None:
        selected = self._selected()
        if selected is not None and selected[1] is not None:
            app: Any = self.app
            app.export_dialog(selected[0])

    def action_verify(self) -> None:
        from iact_tui.tui.screens.verify import VerifyScreen

        selected = self._selected()
        if selected is not None:
            exported = selected[0] / "export" / "report.toml"
            self.app.push_screen(VerifyScreen(str(exported if exported.exists() else selected[0])))

    def action_metrics(self) -> None:
        from iact_tui.tui.screens.metrics import MetricsScreen

        selected = self._selected()
        state = selected[1] if selected is not None else None
        checklist_id = str(state.info.get("checklist_id", "")) if state is not None else ""
        self.app.push_screen(MetricsScreen(self.runs_dir, checklist_id=checklist_id or None))

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.dismiss()

    def action_help(self) -> None:
        from iact_tui.tui.screens.help import HelpScreen

        self.app.push_screen(HelpScreen(self.BINDINGS))
