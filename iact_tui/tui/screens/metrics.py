"""DORA metrics of the run history (`iact-tui metrics` on a screen): the four metrics of one
checklist with value, target and met / missed / no data, the runs left out and why, and a bar
per ISO week of its deployments (succeeded, rolled back, failed) against the weekly target.

The numbers are the engine's (iact_tui.engine.metrics, docs/metrics.md), computed on a thread
worker: a long run history is read from disk without holding up the screen.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Label, Select, Static
from textual.worker import Worker, WorkerState

from iact_tui.engine.metrics import (
    FREQUENCY,
    LABELS,
    ChecklistMetrics,
    MetricsReport,
    compute_metrics,
    iso_week,
    value_text,
)
from iact_tui.tui.widgets.theme import theme_style
from iact_tui.tui.widgets.week_chart import WeekBar, WeekChart

# result -> (icon, theme colour)
RESULT_MARKS: dict[str, tuple[str, str]] = {
    "met": ("✔", "success"),
    "missed": ("✘", "error"),
    "no data": ("–", "foreground-muted"),
    "no target": ("·", "foreground-muted"),
}
LISTED = 3  # run ids named in a note before "and N more"


def target_text(name: str, target: float | None, at_least: bool) -> str:
    if target is None:
        return "-"
    return f"{'≥' if at_least else '<'} {value_text(name, target)}"


def week_bars(measured: ChecklistMetrics) -> list[WeekBar]:
    """The chart's weeks: the engine's weekly points, with the deployments that failed without a
    rollback (failed, or aborted after the deploy phase ran) counted from the runs."""
    failed = Counter(
        iso_week(r.at)
        for r in measured.runs
        if r.deployment and not r.succeeded and not r.change_failure
    )
    return [
        WeekBar(
            week=point.week,
            monday=point.monday,
            succeeded=point.succeeded,
            rolled_back=point.change_failures,
            failed=failed[point.week],
            lead_time=value_text("lead_time_hours", point.lead_time_hours)
            if point.lead_time_hours is not None
            else "",
            mttr=value_text("mttr_minutes", point.mttr_minutes)
            if point.mttr_minutes is not None
            else "",
        )
        for point in measured.weeks
    ]


def _names(ids: list[str]) -> str:
    shown = ", ".join(ids[:LISTED])
    return shown + (f" and {len(ids) - LISTED} more" if len(ids) > LISTED else "")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


class MetricsScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="metrics-back", tooltip="Back to the previous screen"),
        Binding(
            "c",
            "choose_checklist",
            "Checklist",
            id="metrics-checklist",
            tooltip="Choose the checklist whose metrics are shown",
        ),
        Binding(
            "ctrl+r",
            "reload",
            "Reload",
            id="metrics-reload",
            tooltip="Read the runs folder and compute the metrics again",
        ),
        Binding("question_mark", "help", "Help", id="metrics-help", tooltip="Keys"),
        Binding(
            "q", "app.quit", "Quit", id="quit-key", tooltip="Quit; an unfinished run can be resumed"
        ),
    ]

    def __init__(
        self,
        runs_dir: Path,
        *,
        checklist_id: str | None = None,
        now: datetime | None = None,
    ) -> None:
        super().__init__()
        self.runs_dir = runs_dir
        self.checklist_id = checklist_id  # the one shown (the caller's wish until the report)
        self.now = now  # the end of the window; None: the time of each computation
        self.report: MetricsReport | None = None
        self._worker: Worker[MetricsReport] | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="metrics-body"):
            yield Select[str](
                [], id="metrics-checklist", compact=True, prompt="Checklist", allow_blank=True
            )
            yield Label("", id="metrics-heading", markup=False)
            yield Label("", id="metrics-where", markup=False)
            yield Static("", id="metrics-table")
            yield Static("", id="metrics-notes")
            yield WeekChart(
                id="metrics-chart", target_text=lambda v: f"≥ {value_text(FREQUENCY, v)}"
            )
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Metrics"
        self.sub_title = "DORA"
        self.query_one("#metrics-checklist", Select).display = False
        self.action_reload()

    # -- computing --------------------------------------------------------------------------------

    def action_reload(self) -> None:
        self.query_one("#metrics-body").loading = True
        self._worker = self._compute()

    @work(thread=True, group="metrics", exit_on_error=False, exclusive=True, name="metrics")
    def _compute(self) -> MetricsReport:
        return compute_metrics(self.runs_dir, now=self.now)

    @on(Worker.StateChanged)
    def _computed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group != "metrics":
            return
        event.stop()
        if worker is not self._worker or not self.is_attached:
            return  # a computation a reload replaced
        if event.state == WorkerState.SUCCESS:
            assert isinstance(worker.result, MetricsReport)
            self.report = worker.result
            self._show_report()
        elif event.state == WorkerState.ERROR:
            error = worker.error
            if isinstance(error, OSError):
                why = f"cannot read the runs folder {self.runs_dir}: {error.strerror or error}"
            else:
                why = f"an internal error stopped it ({error!r})"
            self._show_nothing(f"The metrics cannot be computed: {why}.", error=True)
            self.refresh_bindings()
        else:
            return
        self.query_one("#metrics-body").loading = False

    # -- showing ----------------------------------------------------------------------------------

    def _show_report(self) -> None:
        report = self.report
        assert report is not None
        select: Select[str] = self.query_one("#metrics-checklist", Select)
        if not report.checklists:
            select.display = False
            self._show_nothing(
                f"No runs in {report.runs_dir}; nothing to measure."
                if report.runs_found == 0
                else f"None of the {report.runs_found} runs in {report.runs_dir} can be measured."
            )
            return
        ids = [c.checklist_id for c in report.checklists]
        if self.checklist_id not in ids:
            # the checklist most recently run is the one people look at first
            newest = max(report.checklists, key=lambda c: max(r.at for r in c.runs))
            self.checklist_id = newest.checklist_id
        several = len(ids) > 1
        select.display = several
        self.query_one("#metrics-heading", Label).display = not several
        if several:
            with select.prevent(Select.Changed):
                select.set_options(
                    (
                        Text(f"{c.checklist_id} · {c.title}" if c.title else c.checklist_id),
                        c.checklist_id,
                    )
                    for c in report.checklists
                )
                select.value = self.checklist_id
        self.refresh_bindings()
        self._show_checklist()

    def _measured(self) -> ChecklistMetrics | None:
        if self.report is None:
            return None
        return next(
            (c for c in self.report.checklists if c.checklist_id == self.checklist_id), None
        )

    def _show_checklist(self) -> None:
        measured = self._measured()
        if measured is None:
            return
        for selector in ("#metrics-table", "#metrics-notes", "#metrics-chart"):
            self.query_one(selector).display = True
        title = (
            f"{measured.checklist_id} · {measured.title}"
            if measured.title
            else measured.checklist_id
        )
        self.query_one("#metrics-heading", Label).update(title)
        weeks = len(measured.weeks)
        where = self.query_one("#metrics-where", Label)
        where.remove_class("-error")
        where.update(
            f"{_plural(len(measured.runs), 'run')} from {measured.window_start:%Y-%m-%d} to "
            f"{measured.window_end:%Y-%m-%d} ({_plural(weeks, 'ISO week')}) in {self.runs_dir}"
        )
        self.query_one("#metrics-table", Static).update(self._table(measured))
        self.query_one("#metrics-notes", Static).update(self._notes(measured))
        self.query_one(WeekChart).show(
            week_bars(measured), measured.targets.deployment_frequency_per_week
        )

    def _show_nothing(self, sentence: str, *, error: bool = False) -> None:
        self.query_one("#metrics-heading", Label).display = True
        self.query_one("#metrics-heading", Label).update("No metrics")
        where = self.query_one("#metrics-where", Label)
        where.update(sentence)
        where.set_class(error, "-error")
        for selector in ("#metrics-table", "#metrics-notes", "#metrics-chart"):
            self.query_one(selector).display = False

    def _table(self, measured: ChecklistMetrics) -> Table:
        muted = theme_style(self, "foreground-muted")
        rows: list[tuple[Text, Text, Text, Text, Text]] = []
        for name, metric in measured.metrics.items():
            icon, colour = RESULT_MARKS.get(metric.result, ("?", "foreground"))
            rows.append(
                (
                    Text(LABELS[name]),
                    Text(value_text(name, metric.value)),
                    Text(target_text(name, metric.target, metric.at_least)),
                    Text(f"{icon} {metric.result}", theme_style(self, colour, bold=True)),
                    Text(metric.detail, muted),
                )
            )
        table = Table(box=None, pad_edge=False, expand=True, header_style=Style(bold=True))
        # the four short columns keep their width; what the numbers are based on gets the rest
        for index, (heading, justify) in enumerate(
            (("metric", "left"), ("value", "right"), ("target", "left"), ("result", "left"))
        ):
            width = max(len(heading), *(row[index].cell_len for row in rows))
            table.add_column(heading, justify=justify, no_wrap=True, min_width=width)  # type: ignore[arg-type]
        table.add_column("based on", no_wrap=True, overflow="ellipsis", ratio=1)
        for row in rows:
            table.add_row(*row)
        return table

    def _notes(self, measured: ChecklistMetrics) -> Text:
        """Which runs are left out of which numbers, and why; where the targets come from."""
        muted = theme_style(self, "foreground-muted")
        lines: list[Text] = []
        excluded = measured.excluded
        if excluded:
            # "interrupted, not finished (resume it ...)" -> "interrupted"
            reasons = Counter(r.excluded.split(",")[0] for r in excluded)
            why = ", ".join(f"{n} {reason}" for reason, n in reasons.items())
            line = Text()
            line.append("Excluded: ", Style(bold=True))
            line.append(f"{len(excluded)} of {_plural(len(measured.runs), 'run')} ({why}).")
            lines.append(line)
        else:
            lines.append(
                Text(f"Excluded: none of the {_plural(len(measured.runs), 'run')}.", muted)
            )
        unknown = [r for r in measured.runs if r.lead_time_unknown]
        if unknown:
            line = Text()
            line.append("Lead time unknown: ", Style(bold=True))
            first = unknown[0]
            line.append(f"{_names([r.run_id for r in unknown])} ({first.lead_time_unknown}).")
            lines.append(line)
        unreadable = self.report.unreadable if self.report is not None else []
        if unreadable:
            line = Text()
            line.append("Not counted, cannot be read: ", theme_style(self, "error", bold=True))
            line.append(f"{_names([name for name, _ in unreadable])}.")
            lines.append(line)
        lines.append(Text(f"Targets: {measured.targets_from}.", muted))
        return Text("\n").join(lines)

    # -- keys -------------------------------------------------------------------------------------

    @on(Select.Changed, "#metrics-checklist")
    def _checklist_chosen(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and event.value != self.checklist_id:
            self.checklist_id = event.value
            self._show_checklist()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "choose_checklist":
            # hidden, not greyed: with one checklist there is nothing to choose
            return self.report is not None and len(self.report.checklists) > 1
        return True

    def action_choose_checklist(self) -> None:
        select = self.query_one("#metrics-checklist", Select)
        select.focus()
        select.expanded = True

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.dismiss()

    def action_help(self) -> None:
        app: Any = self.app
        app.show_help(self.BINDINGS)
