"""On resume: a step was running when the run stopped. Did it complete? Or, when its process
still runs (its driver was killed): wait for it to end, or stop it; never a second copy."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Static

from iact_tui.engine.run.operator import Decision
from iact_tui.tui.dialogs.base import Dialog, button, close_button


class InterruptedDialog(Dialog[Decision | None]):
    """Dismisses with the Decision, or None when closed to decide later (the run keeps waiting)."""

    def __init__(
        self,
        step: Any,
        message: str,
        command: str,
        operator_name: str,
        title: str = "",
        running: str = "",
    ) -> None:
        super().__init__()
        self.step = step
        self.running = running  # the process that still runs, e.g. "process group 812 on web1"
        self.message = message
        self.command = command
        self.operator_name = operator_name
        self.step_title = title or getattr(step, "display_title", "")

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box wide"):
            yield Label(
                f"⚠ {self.step_title} was interrupted", classes="dialog-title warning", markup=False
            )
            if self.running:
                yield Label(
                    f"It is still running: {self.running}. It is not started again beside "
                    "itself: wait for it to end, or stop it. Then you decide whether it completed.",
                    classes="dialog-body",
                    markup=False,
                )
            else:
                yield Label(
                    "It was running when the run stopped; it may or may not have completed. "
                    "Check on the target, then re-run it or confirm that it did complete.",
                    classes="dialog-body",
                )
            if self.command:
                with VerticalScroll(classes="dialog-detail"):
                    yield Static(self.command, markup=False, classes="dialog-command")
            if self.running:
                with Horizontal(classes="dialog-buttons"):
                    yield button(
                        "Wait for it", id="wait", variant="primary", tooltip="Wait until it ends"
                    )
                    yield button(
                        "Stop it",
                        id="stop",
                        variant="error",
                        tooltip="TERM its process group, then KILL what is left",
                    )
                    yield close_button("Later", id="later")
                return
            yield Input(
                placeholder="note: what you checked (recorded when you confirm it done)",
                id="interrupted-note",
                compact=True,
            )
            with Horizontal(classes="dialog-buttons"):
                yield button(
                    "Re-run it", id="rerun", variant="primary", tooltip="Run the step again"
                )
                yield button(
                    "It completed",
                    id="done",
                    variant="success",
                    tooltip="Record it as passed, with your note",
                )
                yield close_button("Later", id="later")

    def on_mount(self) -> None:
        self.query_one("#wait" if self.running else "#rerun", Button).focus()

    @on(Button.Pressed, "#wait")
    def _wait(self) -> None:
        self.dismiss(Decision("wait", self.operator_name))

    @on(Button.Pressed, "#stop")
    def _stop(self) -> None:
        self.dismiss(Decision("stop", self.operator_name))

    @on(Button.Pressed, "#rerun")
    def _rerun(self) -> None:
        self.dismiss(Decision("rerun", self.operator_name))

    @on(Button.Pressed, "#done")
    def _done(self) -> None:
        note = self.query_one("#interrupted-note", Input).value.strip()
        self.dismiss(
            Decision("done", self.operator_name, note=note or "confirmed done after interruption")
        )
