"""Every run, newest first: checklist, status, operator, start and duration. Open one to read
it (read-only), resume an unfinished one.

The table fits the terminal: a run's id (up to some 50 characters) gets a column when there is
room for all of it (wide terminals), else the highlighted run's id is shown above the table;
a long checklist id or operator name is shortened with an ellipsis as a last resort.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Label

from iact_tui.engine.record.state import RunState
from iact_tui.engine.record.store import RunLock, list_runs
from iact_tui.engine.status import FINAL_RUN_STATES
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
        self._cells: dict[str, dict[str, Text]] = {}  # per run: its cells, by column
        self._fitted: tuple[tuple[str, ...], tuple[int, ...]] | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Label("", id="runs-where", markup=False)
        yield Label("", id="runs-selected", markup=False)
        yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Runs"
        self.action_reload()
        self.query_one(DataTable).focus()

    def on_resize(self, event: events.Resize) -> None:
        self._fill_table()

    def action_reload(self) -> None:
        self.rows.clear()
        self._cells.clear()
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
                self._cells[key] = {  # the problem: in the checklist's column, as room allows
                    "run": Text(key),
                    "status": Text("unreadable", theme_style(self, "error")),
                    "problem": Text(problem),
                }
                continue
            status = state.status
            in_use = status not in FINAL_RUN_STATES and RunLock.is_held(folder)
            colour = theme_style(self, fmt.RUN_COLOURS.get(status, "foreground"))
            took = fmt.span(state.started_at, state.finished_at)
            self._cells[key] = {
                "run": Text(state.run_id),
                "started": Text(fmt.local_time(state.started_at)),
                "status": Text(run_status(status, in_use), colour),
                "checklist": Text(str(state.info.get("checklist_id", ""))),
                "operator": Text(state.operator),
                "took": Text(fmt.duration(took) if took is not None else ""),
            }
        self._fitted = None
        self._fill_table()
        self.refresh_bindings()

    def _fill_table(self) -> None:
        """(Re)build the table for the terminal's width, keeping the highlighted run."""
        table = self.query_one(DataTable)
        fitted = fit_columns(self._cells.values(), self.app.size.width - 1, table.cell_padding)
        if fitted == self._fitted:
            return
        self._fitted = fitted
        columns, widths = fitted
        selected = self._selected_key()
        table.clear(columns=True)
        for name, width in zip(columns, widths, strict=True):
            table.add_column(name, width=width, key=name)
        for key, cells in self._cells.items():
            row = [
                _shortened(cells.get(name) or cells.get(OVERFLOW.get(name, ""), Text("")), width)
                for name, width in fitted_pairs(fitted)
            ]
            table.add_row(*row, key=key)
        if selected in self._cells:
            table.move_cursor(row=table.get_row_index(selected), animate=False)
        self._show_selected()

    def _selected_key(self) -> str:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return ""
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def _show_selected(self) -> None:
        """Above the table: the highlighted run's id when the table has no room for it, and why
        a run cannot be read (the table shows the start of it)."""
        label = self.query_one("#runs-selected", Label)
        key = self._selected_key()
        problem = self.rows[key][2] if key in self.rows else ""
        no_id = self._fitted is not None and "run" not in self._fitted[0]
        label.display = bool(key) and (no_id or bool(problem))
        if label.display:
            label.update(f"run {key}" + (f" cannot be read: {problem}" if problem else ""))

    def _selected(self) -> tuple[Path, RunState | None, str] | None:
        key = self._selected_key()
        return self.rows.get(key) if key else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("open", "resume", "export", "verify"):
            selected = self._selected() if self.is_mounted else None
            if selected is None or selected[1] is None:
                return None
            folder, state, _ = selected
            if action == "resume" and state is not None:
                app: Any = self.app
                finished = state.status in FINAL_RUN_STATES
                resumable = not finished and not RunLock.is_held(folder)
                return True if resumable and app.can_start_run() else None
        return True

    @on(DataTable.RowHighlighted)
    def _moved(self) -> None:
        self._show_selected()
        self.refresh_bindings()

    @on(DataTable.RowSelected)
    def _chosen(self) -> None:
        self.action_open()

    def action_open(self) -> None:
        selected = self._selected()
        if selected is None or selected[1] is None:
            return
        app: Any = self.app
        app.show_run_record(selected[0])

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
        selected = self._selected()
        if selected is not None:
            exported = selected[0] / "export" / "report.toml"
            app: Any = self.app
            app.show_verify(str(exported if exported.exists() else selected[0]))

    def action_metrics(self) -> None:
        selected = self._selected()
        state = selected[1] if selected is not None else None
        checklist_id = str(state.info.get("checklist_id", "")) if state is not None else ""
        app: Any = self.app
        app.show_metrics(checklist_id or None)

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.dismiss()

    def action_help(self) -> None:
        app: Any = self.app
        app.show_help(self.BINDINGS)


COLUMNS = ("run", "status", "checklist", "operator", "took", "started")
SHRINKABLE = ("checklist", "operator")  # shortened (…) only when nothing else fits
OVERFLOW = {"checklist": "problem"}  # shown in a column, not measured: shortened to fit it
MIN_WIDTH = 8


def fit_columns(
    rows: Iterable[dict[str, Text]], width: int, padding: int
) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The columns shown in ``width`` cells, and their widths: all of them when they fit; else
    without the run id (shown above the table instead); else with the checklist id and the
    operator shortened, the longer first."""
    cells = list(rows)
    natural = {
        name: max([cell_len(name)] + [cell_len(r[name].plain) for r in cells if name in r])
        for name in COLUMNS
    }

    def total(names: tuple[str, ...]) -> int:
        return sum(natural[n] + 2 * padding for n in names)

    names = COLUMNS if total(COLUMNS) <= width else COLUMNS[1:]
    excess = total(names) - width
    while excess > 0:
        name = max(SHRINKABLE, key=lambda n: natural[n])
        if natural[name] <= MIN_WIDTH:
            break  # a terminal this narrow scrolls sideways
        cut = min(excess, natural[name] - MIN_WIDTH)
        natural[name] -= cut
        excess -= cut
    # room to spare goes to the columns whose text was not measured (why a run is unreadable)
    for name, overflow in OVERFLOW.items():
        longest = max([cell_len(r[overflow].plain) for r in cells if overflow in r], default=0)
        if excess < 0 and longest > natural[name]:
            grow = min(-excess, longest - natural[name])
            natural[name] += grow
            excess += grow
    return names, tuple(natural[n] for n in names)


def fitted_pairs(fitted: tuple[tuple[str, ...], tuple[int, ...]]) -> list[tuple[str, int]]:
    return list(zip(*fitted, strict=True))


def _shortened(text: Text, width: int) -> Text:
    if cell_len(text.plain) <= width:
        return text
    short = text.copy()
    short.truncate(max(1, width), overflow="ellipsis")
    return short
