"""Lines to read (what an export made, how to verify it), with an optional second action."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Label, Static

from iact_tui.tui.dialogs.base import CLOSES, Dialog, button, close_button


class MessageDialog(Dialog[str | None]):
    """Dismisses with the id of the action pressed, or None."""

    def __init__(
        self, title: str, lines: list[str], actions: tuple[tuple[str, str], ...] = ()
    ) -> None:
        super().__init__()
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
                yield close_button("Close", id="close", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if not event.button.has_class(CLOSES):  # Close: the base class closes it
            self.dismiss(event.button.id)
