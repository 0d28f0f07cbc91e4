"""Plain `iact-tui`: the checklists under ./checklists and the unfinished runs, newest first.
Enter starts the highlighted checklist or resumes the highlighted run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Header, Label, OptionList
from textual.widgets.option_list import Option

from iact_tui.engine.checklist.load import load_checklist
from iact_tui.engine.checklist.problems import ChecklistError
from iact_tui.engine.record.store import RunLock, list_runs
from iact_tui.engine.status import FINAL_RUN_STATES, RunStatus
from iact_tui.tui import format as fmt
from iact_tui.tui.widgets.theme import theme_style


@dataclass(frozen=True)
class Entry:
    kind: str  # checklist | run
    path: Path  # the checklist file, or the run's folder
    usable: bool
    why_not: str = ""


class StartScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "enter",
            "open",
            "Start / resume",
            id="start-open",
            tooltip="Start a run of the highlighted checklist, or resume the highlighted run",
        ),
        Binding("l", "runs", "Runs", id="start-runs", tooltip="All runs: open one to read it"),
        Binding("v", "verify", "Verify", id="start-verify", tooltip="Verify a report file"),
        Binding(
            "m", "metrics", "Metrics", id="metrics", tooltip="DORA metrics of the runs, per week"
        ),
        Binding(
            "ctrl+r",
            "reload",
            "Reload",
            id="start-reload",
            tooltip="Look for checklists and runs again",
        ),
        Binding("question_mark", "help", "Help", id="start-help", tooltip="Keys"),
        Binding(
            "q", "app.quit", "Quit", id="quit-key", tooltip="Quit; an unfinished run can be resumed"
        ),
    ]

    def __init__(self, checklists_dir: Path, runs_dir: Path) -> None:
        super().__init__()
        self.checklists_dir = checklists_dir
        self.runs_dir = runs_dir
        self.entries: dict[str, Entry] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield Label(
            "Start a checklist, or resume an unfinished run (↑/↓ then Enter).", id="start-hint"
        )
        yield OptionList(id="start-list")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "iact-tui"
        self.sub_title = "start"
        self.action_reload()
        self.query_one(OptionList).focus()

    def action_reload(self) -> None:
        options = self.query_one(OptionList)
        options.clear_options()
        self.entries.clear()
        items: list[Option | None] = [
            Option(Text(f"Checklists in {self.checklists_dir}", Style(bold=True)), disabled=True)
        ]
        files = sorted(self.checklists_dir.glob("*.toml")) if self.checklists_dir.is_dir() else []
        if not files:
            items.append(
                Option(
                    Text("  (none: give one with `iact-tui run FILE`)", Style(dim=True)),
                    disabled=True,
                )
            )
        for path in files:
            key = f"checklist:{path}"
            try:
                loaded = load_checklist(path)
            except ChecklistError as exc:
                problem = short_problem(str(exc), path)
                self.entries[key] = Entry("checklist", path, False, problem)
                label = Text(f"  ✘ {path.name}: ", theme_style(self, "error"))
                label.append(problem, Style(dim=True))
                items.append(Option(label, id=key))
                continue
            info = loaded.checklist.checklist
            steps = len(loaded.checklist.step_ids)
            label = Text("  ▶ ")
            label.append(info.title, Style(bold=True))
            label.append(
                f"  {path.name} · {info.id} {info.version} · {steps} steps", Style(dim=True)
            )
            self.entries[key] = Entry("checklist", path, True)
            items.append(Option(label, id=key))
        items.append(None)
        items.append(Option(Text("Unfinished runs, newest first", Style(bold=True)), disabled=True))
        unfinished = [
            (f, s)
            for f, s, _ in list_runs(self.runs_dir)
            if s is not None and s.status not in FINAL_RUN_STATES
        ]
        if not unfinished:
            items.append(Option(Text("  (none)", Style(dim=True)), disabled=True))
        for folder, state in unfinished:
            key = f"run:{folder}"
            in_use = RunLock.is_held(folder)
            done, total = state.progress()
            label = Text("  ↻ ")
            label.append(state.run_id, Style(bold=True))
            label.append(
                f"  {run_status(state.status, in_use)}",
                theme_style(self, fmt.RUN_COLOURS.get(state.status, "foreground")),
            )
            label.append(
                f" · {done}/{total} steps · {state.operator} · {fmt.local_time(state.started_at)}",
                Style(dim=True),
            )
            if in_use:
                label.append(" · in use by another process", theme_style(self, "warning"))
            self.entries[key] = Entry("run", folder, not in_use, "it is in use by another process")
            items.append(Option(label, id=key))
        options.add_options(items)
        # the cursor starts on the first thing that can be started or resumed
        listed = [o for o in items if o is not None]
        first = next(
            (i for i, o in enumerate(listed) if o.id in self.entries and self.entries[o.id].usable),
            None,
        )
        if first is not None:
            options.highlighted = first

    @on(OptionList.OptionSelected)
    def _selected(self) -> None:
        self.action_open()

    def action_open(self) -> None:
        options = self.query_one(OptionList)
        if options.highlighted is None:
            return
        option = options.get_option_at_index(options.highlighted)
        entry = self.entries.get(option.id or "")
        if entry is None:
            return
        if not entry.usable:
            self.notify(f"{entry.path.name}: {entry.why_not}", severity="error")
            return
        app: Any = self.app
        if entry.kind == "checklist":
            app.new_run(entry.path)
        else:
            app.resume_run(entry.path)

    # the App opens the other screens (no screen imports another)

    def action_runs(self) -> None:
        app: Any = self.app
        app.show_runs()

    def action_verify(self) -> None:
        app: Any = self.app
        app.show_verify()

    def action_metrics(self) -> None:
        app: Any = self.app
        app.show_metrics()

    def action_help(self) -> None:
        app: Any = self.app
        app.show_help(self.BINDINGS)


def run_status(status: str, in_use: bool) -> str:
    """A run's state in words; "running" without a process driving it means it was interrupted."""
    if status == RunStatus.RUNNING:
        return "running (in use)" if in_use else "interrupted"
    return fmt.words(status)


def short_problem(message: str, path: Path, limit: int = 72) -> str:
    """The first problem of a checklist that does not load, in one short line."""
    first = message.splitlines()[0] if message else "cannot be read"
    first = first.split(" (hint:", 1)[0]
    for prefix in (f"{path}:", f"{path.name}:"):
        if first.startswith(prefix):
            first = first[len(prefix) :].lstrip("0123456789: ")
    return first if len(first) <= limit else first[: limit - 1] + "…"
