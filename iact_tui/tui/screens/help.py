"""Keys, icons and what they do: built from the screen's own bindings, so it never goes stale."""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from iact_tui.engine.status import StepStatus
from iact_tui.tui import format as fmt

ICON_MEANING: dict[str, str] = {
    StepStatus.PENDING: "not run yet",
    StepStatus.RUNNING: "running now",
    StepStatus.WAITING: "waits for a person",
    StepStatus.PASSED: "passed (or ticked as passed)",
    StepStatus.FAILED: "failed",
    StepStatus.SKIPPED: "skipped, with a reason",
    StepStatus.NOT_APPLICABLE: "not applicable (another alternative, a condition, or the rollback)",
    StepStatus.INTERRUPTED: "was running when the run stopped",
}


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape,question_mark,q", "close", "Close", id="help-close", tooltip="Close the help"
        )
    ]

    def __init__(self, bindings: list[Binding]) -> None:
        super().__init__(classes="dialog")
        self.bindings_shown = bindings

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box wide", id="help-box"):
            yield Label("Keys", classes="dialog-title")
            with VerticalScroll(id="help-body"):
                yield Static(self._keys(), id="help-keys")
                yield Label("Step icons", classes="dialog-section")
                yield Static(self._icons(), id="help-icons")
                yield Static(
                    Text(
                        "The mouse works too: click a step, a button, or a key in the footer. "
                        "Ctrl+P opens the command palette with the same actions. "
                        "Keys that do not apply now are hidden from the footer.",
                        Style(dim=True),
                    )
                )

    def key_rows(self) -> list[tuple[str, str, str]]:
        """(keys, what, explanation) for every binding of the screen below."""
        rows = []
        for binding in self.bindings_shown:
            keys = ", ".join(
                self.app.get_key_display(Binding(k.strip(), "")) for k in binding.key.split(",")
            )
            rows.append((keys, binding.description, binding.tooltip))
        rows.append(("ctrl+p", "Commands", "The command palette: the same actions, by name"))
        rows.append(("ctrl+q", "Quit", "Quit; an unfinished run can be resumed"))
        return rows

    def _keys(self) -> Table:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column(no_wrap=True)
        table.add_column(style="dim")
        for keys, what, why in self.key_rows():
            table.add_row(Text(keys), Text(what), Text(why))
        return table

    def _icons(self) -> Table:
        table = Table.grid(padding=(0, 2))
        for state, meaning in ICON_MEANING.items():
            table.add_row(
                Text(fmt.STEP_ICONS[state]), Text(fmt.words(state)), Text(meaning, Style(dim=True))
            )
        return table

    def action_close(self) -> None:
        self.dismiss()
