"""A phase offers alternatives (e.g. deploy through CI/CD or by hand): choose one (or more)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Label, SelectionList
from textual.widgets.selection_list import Selection

from iact_tui.engine.checklist.model import Phase
from iact_tui.tui.dialogs.base import Dialog, button, close_button


class ChoiceDialog(Dialog[list[str] | None]):
    """Dismisses with the ids of the alternatives chosen, or None (choose later with c)."""

    def __init__(self, phase: Phase, defaults: list[str], title: str = "") -> None:
        super().__init__()
        self.phase = phase
        self.defaults = defaults
        self.phase_title = title or phase.title

    def compose(self) -> ComposeResult:
        many = "one or more" if self.phase.multiple else "one"
        with Vertical(classes="dialog-box"):
            yield Label(f"{self.phase_title}: choose {many}", classes="dialog-title", markup=False)
            options = [
                Selection(
                    f"{alt.title}" + (" (default)" if alt.id in self.defaults else ""),
                    alt.id,
                    alt.id in self.defaults[:1]
                    or (self.phase.multiple and alt.id in self.defaults),
                )
                for alt in self.phase.alternatives
            ]
            yield SelectionList[str](*options, id="choice-list")
            yield Label("", id="choice-error", classes="dialog-error", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield close_button("Later", id="later")
                yield button("Choose", id="choose", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#choice-error", Label).display = False
        self.query_one("#choice-list").focus()

    @on(SelectionList.SelectionToggled)
    def _one_only(self, event: SelectionList.SelectionToggled) -> None:
        if self.phase.multiple:
            return
        chosen = event.selection.value
        selection_list = self.query_one("#choice-list", SelectionList)
        if chosen in selection_list.selected:
            for value in list(selection_list.selected):
                if value != chosen:
                    selection_list.deselect(value)

    @on(Button.Pressed, "#choose")
    def _choose(self) -> None:
        chosen = list(self.query_one("#choice-list", SelectionList).selected)
        if not chosen:
            error = self.query_one("#choice-error", Label)
            error.update("Choose an alternative first (space toggles one).")
            error.display = True
            return
        self.dismiss(chosen)
