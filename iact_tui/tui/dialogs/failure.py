"""A step failed: retry, skip with a reason, start the rollback, or abort.

Shows what failed, the tail of the failing output and the checklist's hints that match it (the
procedure's "Problemas comunes"). Rollback and abort are confirmed once more.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Markdown, Static

from iact_tui.engine.run.operator import Decision, Failure
from iact_tui.tui.dialogs.base import Dialog, button, close_button
from iact_tui.tui.dialogs.confirm import ConfirmDialog

TAIL_SHOWN = 12


class FailureDialog(Dialog[Decision | None]):
    """Dismisses with the Decision, or None when closed to decide later (the run keeps waiting)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "ctrl+r", "decide('retry')", "Retry", id="failure-retry", tooltip="Run the step again"
        ),
    ]

    def __init__(self, step: Any, failure: Failure, operator_name: str, title: str = "") -> None:
        super().__init__()
        self.step = step
        self.failure = failure
        self.operator_name = operator_name
        self.step_title = title or getattr(step, "display_title", failure.step_id)

    def compose(self) -> ComposeResult:
        f = self.failure
        with Vertical(classes="dialog-box wide", id="failure-box"):
            yield Label(f"✘ {self.step_title} failed", classes="dialog-title error", markup=False)
            yield Label(f.message, classes="dialog-body", markup=False, id="failure-message")
            with VerticalScroll(id="failure-details"):
                if f.output_tail:
                    yield Label("last lines of its output", classes="dialog-section")
                    yield Static(
                        "\n".join(f.output_tail[-TAIL_SHOWN:]),
                        markup=False,
                        id="failure-tail",
                        classes="dialog-command",
                    )
                for title, advice in f.hints:
                    yield Label(f"hint: {title}", classes="dialog-section hint", markup=False)
                    yield Markdown(advice, classes="failure-hint")
                if f.suggest_rollback:
                    yield Label(
                        "The checklist says: on this failure, roll back.",
                        classes="dialog-body warning",
                    )
            yield Input(
                placeholder="reason (needed to skip; recorded with the decision)",
                id="failure-reason",
                compact=True,
            )
            yield Label("", id="failure-error", classes="dialog-error", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield button("Retry", id="retry", variant="primary", tooltip="Run the step again")
                yield button("Skip…", id="skip", tooltip="Go on without this step; needs a reason")
                yield button(
                    "Rollback…",
                    id="rollback",
                    variant="warning" if f.suggest_rollback else "default",
                    disabled=not f.can_rollback,
                    tooltip="Start the checklist's rollback phase",
                )
                yield button(
                    "Abort…", id="abort", variant="error", tooltip="Stop the run here, as aborted"
                )
                yield close_button(
                    "Later", id="later", tooltip="Close; decide with the keys of the main screen"
                )

    def on_mount(self) -> None:
        self.query_one("#failure-error", Label).display = False
        self.query_one("#rollback" if self.failure.suggest_rollback else "#retry", Button).focus()

    @property
    def reason(self) -> str:
        return self.query_one("#failure-reason", Input).value.strip()

    @on(Button.Pressed, "#retry")
    def _retry(self) -> None:
        self.action_decide("retry")

    @on(Button.Pressed, "#skip")
    def _skip(self) -> None:
        self.action_decide("skip")

    @on(Button.Pressed, "#rollback")
    def _rollback(self) -> None:
        self.action_decide("rollback")

    @on(Button.Pressed, "#abort")
    def _abort(self) -> None:
        self.action_decide("abort")

    def action_decide(self, action: str) -> None:
        reason = self.reason
        if action == "skip" and not reason:
            error = self.query_one("#failure-error", Label)
            error.update("Skipping a step needs a reason: type it above, then press Skip again.")
            error.display = True
            self.query_one("#failure-reason", Input).focus()
            return
        if action in ("rollback", "abort"):
            what = "Start the rollback" if action == "rollback" else "Abort the run"
            body = (
                "The rollback phase will run now; the steps not done yet become not applicable."
                if action == "rollback"
                else "The run stops here and is recorded as aborted."
            )

            def confirmed(yes: bool | None) -> None:
                if yes:
                    self.dismiss(Decision(action, self.operator_name, reason))

            self.app.push_screen(ConfirmDialog(f"{what}?", body, yes=what, danger=True), confirmed)
            return
        self.dismiss(Decision(action, self.operator_name, reason))
