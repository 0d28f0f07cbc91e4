"""A yes/no confirmation before anything the checklist marks ``confirm``, a rollback, an abort."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Label, Static

from iact_tui.tui.dialogs.base import Dialog, button, close_button


class ConfirmDialog(Dialog[bool]):
    """Dismisses with True (yes) or False (no, escape)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes", id="confirm-yes", tooltip="Confirm"),
        Binding("n", "answer(False)", "No", id="confirm-no", tooltip="Do not do it"),
    ]
    CLOSED = False

    def __init__(
        self,
        title: str,
        body: str = "",
        *,
        yes: str = "Yes",
        no: str = "No",
        danger: bool = False,
        detail: str = "",
    ) -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.detail = detail
        self.yes_label = yes
        self.no_label = no
        self.danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(self.title_text, classes="dialog-title", markup=False)
            if self.body:
                yield Label(self.body, classes="dialog-body", markup=False)
            if self.detail:
                with VerticalScroll(classes="dialog-detail"):
                    yield Static(self.detail, markup=False, classes="dialog-command")
            with Horizontal(classes="dialog-buttons"):
                yield close_button(self.no_label, id="no")
                yield button(
                    self.yes_label, id="yes", variant="error" if self.danger else "primary"
                )

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()  # the safe answer is the default

    @on(Button.Pressed, "#yes")
    def _yes(self) -> None:
        self.dismiss(True)

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)
