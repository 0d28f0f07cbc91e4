"""On resume: the checklist file changed since the run started. Run the new one or the pinned one?"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Label, Static

from iact_tui.tui.dialogs.base import Dialog, button, close_button


class ChecklistChangedDialog(Dialog[str | None]):
    """Dismisses with ``use-new``, ``keep-pinned``, or None (do not resume)."""

    def __init__(self, path: str, changes: list[str]) -> None:
        super().__init__()
        self.path = path
        self.changes = changes

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box wide"):
            yield Label(
                "The checklist changed since this run started", classes="dialog-title warning"
            )
            yield Label(self.path, classes="dialog-body", markup=False)
            with VerticalScroll(classes="dialog-detail", id="changes"):
                yield Static(
                    "\n".join(f"• {c}" for c in self.changes), markup=False, id="changes-list"
                )
            yield Label(
                "Run the new version, or finish the run with the version it started with?",
                classes="dialog-body",
            )
            with Horizontal(classes="dialog-buttons"):
                yield close_button("Cancel", id="cancel")
                yield button(
                    "Keep pinned", id="keep-pinned", tooltip="The version the run started with"
                )
                yield button(
                    "Use new", id="use-new", variant="primary", tooltip="The file as it is now"
                )

    def on_mount(self) -> None:
        self.query_one("#keep-pinned", Button).focus()

    @on(Button.Pressed, "#use-new")
    def _new(self) -> None:
        self.dismiss("use-new")

    @on(Button.Pressed, "#keep-pinned")
    def _pinned(self) -> None:
        self.dismiss("keep-pinned")
