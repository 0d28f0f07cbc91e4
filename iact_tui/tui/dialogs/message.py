"""Lines to read (what an export made, how to verify it), with an optional second action."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from iact_tui.tui.dialogs import button


class MessageDialog(ModalScreen[str | None]):
    """Dismisses with the id of the action pressed, or None."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="message-close", tooltip="Close"),
    ]

    def __init__(
        self, title: str, lines: list[str], actions: tuple[tuple[str, str], ...] = ()
    ) -> None:
        super().__init__(classes="dialog")
        self.title_text = title
        self.lines = lines
        self.actions = actions

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box wide"):
            yield Label(self.title_text, classes="dialog-title", markup=False)
            with VerticalScroll(id="message-body"):
                yield Static("\n".join(self.lines), markup=False, id="message-text")
            with Horizontal(classes="dialog-buttons"):
                for action_id, label in self.actions:
                    yield button(label, id=action_id)
                yield button("Close", id="close", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None if event.button.id == "close" else event.button.id)

    def action_close(self) -> None:
        self.dismiss(None)
