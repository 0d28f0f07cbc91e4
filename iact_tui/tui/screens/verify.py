"""Verify a report: its signature (against an allowed_signers file, if given), the event chain,
the tables, the pinned checklist and every step log's sha256, as `iact-tui verify` does."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Label, Static

from iact_tui.tui.exporting import VerifyOutcome
from iact_tui.tui.widgets.theme import theme_style


class VerifyScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "verify", "Verify", id="verify-run", tooltip="Verify the report now"),
        Binding("escape", "back", "Back", id="verify-back", tooltip="Back to the previous screen"),
    ]

    def __init__(self, target: str = "") -> None:
        super().__init__()
        self.target = target

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="verify-form"):
            yield Label(
                "report: a report.toml, an export folder or a run folder", classes="setup-label"
            )
            yield Input(value=self.target, id="verify-target", compact=True)
            yield Label(
                "allowed_signers file (optional: whose signatures are trusted)",
                classes="setup-label",
            )
            yield Input(placeholder="~/.ssh/allowed_signers", id="verify-allowed", compact=True)
            yield Label(
                "identity (optional: the signer it must be, as named in allowed_signers)",
                classes="setup-label",
            )
            yield Input(placeholder="alice@example.org", id="verify-identity", compact=True)
            with Horizontal(id="verify-buttons"):
                yield Button("Verify", id="verify-button", variant="primary", compact=True)
        yield Label("", id="verify-verdict", markup=False)
        with VerticalScroll(id="verify-results"):
            yield Static("", id="verify-checks")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Verify a report"
        self.query_one("#verify-verdict", Label).display = False
        self.query_one("#verify-target", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#verify-button")
    def action_verify(self) -> None:
        target = self.query_one("#verify-target", Input).value.strip()
        if not target:
            self.show_error("Give a report file or folder to verify.")
            return
        self.query_one("#verify-verdict", Label).update("Verifying…")
        self.query_one("#verify-verdict", Label).display = True
        app: Any = self.app
        app.start_verify(
            self,
            target,
            self.query_one("#verify-allowed", Input).value.strip(),
            self.query_one("#verify-identity", Input).value.strip(),
        )

    def show(self, outcome: VerifyOutcome) -> None:
        verdict = self.query_one("#verify-verdict", Label)
        verdict.update(
            Text(
                outcome.verdict, theme_style(self, "success" if outcome.ok else "error", bold=True)
            )
        )
        verdict.display = True
        text = Text()
        for ok, line in outcome.lines:
            if ok is None:
                text.append("  note  ", theme_style(self, "foreground-muted"))
            elif ok:
                text.append("  ✔ ok  ", theme_style(self, "success"))
            else:
                text.append("  ✘ FAIL ", theme_style(self, "error", bold=True))
            text.append(line + "\n")
        self.query_one("#verify-checks", Static).update(text)

    def show_error(self, problem: str) -> None:
        verdict = self.query_one("#verify-verdict", Label)
        verdict.update(Text(problem, theme_style(self, "error", bold=True)))
        verdict.display = True
        self.query_one("#verify-checks", Static).update("")

    def action_back(self) -> None:
        self.dismiss()
