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
                    self._prompt(alt.id, chosen),
                    alt.id,
                    chosen,
                )
                for alt in self.phase.alternatives
                for chosen in [
                    alt.id in self.defaults[:1] or (self.phase.multiple and alt.id in self.defaults)
                ]
            ]
            yield SelectionList[str](*options, id="choice-list")
            yield Label("", id="choice-error", classes="dialog-error", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield close_button("Later", id="later")
                yield button("Choose", id="choose", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#choice-error", Label).display = False
        self.query_one("#choice-list").focus()

    def _prompt(self, alt_id: str, chosen: bool) -> str:
        """An alternative's line: a symbol says whether it is chosen (not the colour alone)."""
        alt = next(a for a in self.phase.alternatives if a.id == alt_id)
        mark = ("☑ " if chosen else "☐ ") if self.phase.multiple else ("◉ " if chosen else "○ ")
        return mark + alt.title + (" (default)" if alt_id in self.defaults else "")

    @on(SelectionList.SelectedChanged)
    def _mark(self) -> None:
        selection_list = self.query_one("#choice-list", SelectionList)
        chosen = set(selection_list.selected)
        for index, alt in enumerate(self.phase.alternatives):
            selection_list.replace_option_prompt_at_index(
                index, self._prompt(alt.id, alt.id in chosen)
            )

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
