"""Export a run: formats, the signing key (a key file, or ssh-agent), the folder."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, SelectionList
from textual.widgets.selection_list import Selection

from iact_tui.tui.dialogs.base import Dialog, button, close_button
from iact_tui.tui.exporting import FORMAT_CHOICES, ExportRequest


class ExportDialog(Dialog[ExportRequest | None]):
    """Dismisses with what to export, or None."""

    def __init__(
        self, run_folder: Path, previous: ExportRequest | None = None, problem: str = ""
    ) -> None:
        super().__init__()
        self.run_folder = run_folder
        self.previous = previous or ExportRequest(run_folder)
        self.problem = problem

    def compose(self) -> ComposeResult:
        p = self.previous
        with Vertical(classes="dialog-box wide"):
            yield Label(f"Export run {self.run_folder.name}", classes="dialog-title", markup=False)
            yield Label("formats (space toggles)", classes="dialog-section")
            yield SelectionList[str](
                *[Selection(text, fmt, fmt in p.formats) for fmt, text in FORMAT_CHOICES],
                id="export-formats",
            )
            yield Label(
                "sign with: a private key file, or agent (agent:FINGERPRINT); empty: not signed",
                classes="dialog-section",
            )
            yield Input(
                value=p.key,
                placeholder="~/.ssh/id_ed25519  or  agent",
                id="export-key",
                compact=True,
            )
            yield Input(
                value="",
                placeholder="passphrase, if the key file has one (never stored)",
                password=True,
                id="export-passphrase",
                compact=True,
            )
            yield Label("folder", classes="dialog-section")
            yield Input(
                value=p.out_dir,
                placeholder=str(self.run_folder / "export"),
                id="export-folder",
                compact=True,
            )
            yield Label(self.problem, id="export-error", classes="dialog-error", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield close_button("Cancel", id="cancel")
                yield button("Export", id="export", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#export-error", Label).display = bool(self.problem)
        self.query_one("#export-formats").focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#export")
    def _export(self) -> None:
        formats = list(self.query_one("#export-formats", SelectionList).selected)
        if not formats:
            error = self.query_one("#export-error", Label)
            error.update("Choose at least one format.")
            error.display = True
            return
        self.dismiss(
            ExportRequest(
                self.run_folder,
                formats=formats,
                key=self.query_one("#export-key", Input).value.strip(),
                passphrase=self.query_one("#export-passphrase", Input).value,
                out_dir=self.query_one("#export-folder", Input).value.strip(),
            )
        )
