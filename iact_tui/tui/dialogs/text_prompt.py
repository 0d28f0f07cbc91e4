"""One line of text: a skip reason, a note, a search, an approver's name."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label

from iact_tui.tui.dialogs.base import Dialog, button, close_button


class TextPrompt(Dialog[str | None]):
    """Dismisses with the text (stripped), or None when cancelled. ``required`` refuses empty text.
    Enter in the text goes to the OK button; Enter there (or a click) answers."""

    def __init__(
        self,
        title: str,
        *,
        placeholder: str = "",
        value: str = "",
        ok: str = "OK",
        required: bool = True,
        body: str = "",
        password: bool = False,
    ) -> None:
        super().__init__()
        self.title_text = title
        self.placeholder = placeholder
        self.value = value
        self.ok_label = ok
        self.required = required
        self.body = body
        self.password = password

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(self.title_text, classes="dialog-title", markup=False)
            if self.body:
                yield Label(self.body, classes="dialog-body", markup=False)
            yield Input(
                value=self.value,
                placeholder=self.placeholder,
                id="prompt-input",
                password=self.password,
            )
            yield Label("", id="prompt-error", classes="dialog-error", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield close_button("Cancel", id="cancel")
                yield button(self.ok_label, id="ok", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#prompt-error", Label).display = False
        self.query_one("#prompt-input", Input).focus()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        """Enter in the text moves on to the OK button, never answers by itself (the manual
        panel's Enter does the same): a second Enter presses it. Empty and required: say so."""
        if self._refused():
            return
        self.query_one("#ok", Button).focus()

    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        if self._refused():
            self.query_one("#prompt-input", Input).focus()
            return
        self.dismiss(self.query_one("#prompt-input", Input).value.strip())

    def _refused(self) -> bool:
        text = self.query_one("#prompt-input", Input).value.strip()
        error = self.query_one("#prompt-error", Label)
        error.display = self.required and not text
        if error.display:
            error.update("This cannot be empty.")
        return bool(error.display)
