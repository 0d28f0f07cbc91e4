"""One line at the bottom: run state, elapsed time, progress (steps done / total), hosts."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, ProgressBar

from iact_tui.engine.status import RunStatus
from iact_tui.tui import format as fmt
from iact_tui.tui.run_model import RunView
from iact_tui.tui.widgets.theme import theme_style


class RunStatusBar(Horizontal):
    def __init__(
        self, view: RunView, *, clock: Callable[[], float] = time.monotonic, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.view = view
        self.clock = clock
        self.started = clock()
        self.activity = ""  # what the run does now, in a few words
        self.note = ""  # and how far it is with it (e.g. the lines a step printed so far)
        self._shown: dict[str, object] = {}

    def compose(self) -> ComposeResult:
        yield Label("", id="run-state")
        yield Label("", id="run-elapsed")
        yield ProgressBar(show_eta=False, show_percentage=False, id="run-progress")
        yield Label("", id="run-count")
        yield Label("", id="run-hosts")

    def on_mount(self) -> None:
        self.update_state()
        if not self.view.read_only:
            self.set_interval(1, self._tick)

    def _tick(self) -> None:
        if self.view.state.status == RunStatus.RUNNING:
            self._set("#run-elapsed", fmt.clock(self.clock() - self.started))

    def _set(self, selector: str, content: str | Text, *, layout: bool = False) -> None:
        """Update a label only when its content changes; the labels have fixed widths, so an
        update needs no new layout (a layout of the whole screen is what costs)."""
        key = (content.plain, tuple(content.spans)) if isinstance(content, Text) else content
        if self._shown.get(selector) == key:
            return
        self._shown[selector] = key
        self.query_one(selector, Label).update(content, layout=layout)

    def update_state(self) -> None:
        state = self.view.state
        status = state.status
        text = Text()
        text.append(
            f"● {fmt.words(status)}",
            theme_style(self, fmt.RUN_COLOURS.get(status, "foreground"), bold=True),
        )
        if self.activity:
            text.append(f"  {self.activity}", Style(dim=True))
        if self.note:
            text.append(f" · {self.note}", Style(dim=True))
        self._set("#run-state", text)
        if self.view.read_only:
            elapsed = fmt.span(state.started_at, state.finished_at)
            self._set("#run-elapsed", fmt.duration(elapsed) if elapsed is not None else "")
        else:
            self._set("#run-elapsed", fmt.clock(self.clock() - self.started))
        done, total = state.progress()
        if self._shown.get("progress") != (done, total):
            self._shown["progress"] = (done, total)
            self.query_one("#run-progress", ProgressBar).update(total=max(total, 1), progress=done)
        count = f"{done}/{total}"
        # never cut: the label grows when the count outgrows it (a new layout of the whole screen,
        # so only then: its minimum width holds the counts of any checklist of hundreds of steps)
        label = self.query_one("#run-count", Label)
        room = label.content_region.width if label.is_mounted else 0
        self._set("#run-count", count, layout=len(count) > room)
        self._set("#run-hosts", self._hosts(), layout=True)

    def set_note(self, note: str) -> None:
        """Say how far the run is with what it does now (only this label is drawn again)."""
        if note != self.note:
            self.note = note
            self.update_state()

    def _hosts(self) -> Text:
        text = Text()
        hosts = [name for name, host in self.view.checklist.hosts.items() if not host.members]
        for name in hosts:
            connected = name in self.view.state.hosts
            text.append(" ")
            text.append(
                "●" if connected else "○",
                theme_style(self, "success" if connected else "foreground-muted"),
            )
            text.append(f" {name}", Style(dim=not connected))
        return text
