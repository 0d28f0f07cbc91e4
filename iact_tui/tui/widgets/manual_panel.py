"""The answer to a manual step: approver, note, evidence link, and pass / fail / skip."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Input, Label


class ManualPanel(Vertical):
    """Shown under a manual step while the run waits for it. Posts ``ManualPanel.Answered``."""

    @dataclass
    class Answered(Message):
        action: str  # pass | fail | skip

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.step: Any = None
        self.operator_name = ""

    def compose(self) -> ComposeResult:
        yield Label("", id="manual-prompt", markup=False)
        yield Label("", id="manual-refusal", markup=False)
        # inputs that look like inputs (a border, a visible focus), each with a label saying what
        # goes in; in focus order: who signs it off, the note, the evidence, then the buttons
        with Horizontal(id="manual-approver-row", classes="manual-field"):
            yield Label("Approver", classes="manual-label", markup=False)
            yield Input(id="manual-approver")
        with Horizontal(id="manual-note-row", classes="manual-field"):
            yield Label("Note", classes="manual-label", markup=False)
            yield Input(placeholder="optional; recorded with your name", id="manual-note")
        with Horizontal(id="manual-evidence-row", classes="manual-field"):
            yield Label("Evidence", classes="manual-label", markup=False)
            yield Input(placeholder="a link, or where to find it", id="manual-evidence")
        with Horizontal(id="manual-buttons"):
            yield Button(
                "✔ Pass",
                id="manual-pass",
                variant="success",
                compact=True,
                tooltip="Tick the step as passed (p)",
            )
            yield Button(
                "✘ Fail",
                id="manual-fail",
                variant="error",
                compact=True,
                tooltip="Tick the step as failed (f)",
            )
            yield Button(
                "↷ Skip…",
                id="manual-skip",
                compact=True,
                tooltip="Skip the step, with a reason (s)",
            )

    def on_mount(self) -> None:
        self.refuse("")

    def ask(self, step: Any, operator_name: str, tick_command: str = "") -> None:
        """Show the panel for ``step``; keeps what was typed if it is the same step again (a
        refused approver is corrected, not retyped from scratch). ``tick_command``: how another
        person answers it from their own terminal."""
        same = self.step is not None and step is not None and self.step.id == step.id
        self.step = step
        self.operator_name = operator_name
        role = getattr(step, "role", None)
        four_eyes = bool(getattr(step, "four_eyes", False))
        prompt = "This step waits for a person: check it, then tick it."
        if role:
            prompt = f"A sign-off by {role}" + (
                f" (four eyes: not the operator, {operator_name})" if four_eyes else ""
            )
            prompt += ": type who signs it off."
        if tick_command:
            prompt += f"\nOr from any terminal: {tick_command}"
        self.query_one("#manual-prompt", Label).update(prompt)
        approver = self.query_one("#manual-approver", Input)
        self.query_one("#manual-approver-row").display = bool(role)
        approver.placeholder = f"who signs it off as {role}" if role else ""
        self.query_one("#manual-evidence-row").display = bool(getattr(step, "evidence", False))
        if not same:
            for field in ("#manual-note", "#manual-evidence", "#manual-approver"):
                self.query_one(field, Input).value = ""
            self.refuse("")

    def refuse(self, reason: str) -> None:
        label = self.query_one("#manual-refusal", Label)
        label.update(reason)
        label.display = bool(reason)

    @property
    def note(self) -> str:
        note = self.query_one("#manual-note", Input).value.strip()
        evidence = self.query_one("#manual-evidence", Input).value.strip()
        if evidence:
            note = f"{note}\nevidence: {evidence}" if note else f"evidence: {evidence}"
        return note

    @property
    def approver(self) -> str:
        """Who signs: the approver typed in for a role step, else the operator."""
        typed = self.query_one("#manual-approver", Input).value.strip()
        return typed or self.operator_name

    def focus_first(self) -> None:
        shown = self.query_one("#manual-approver-row").display
        self.query_one("#manual-approver" if shown else "#manual-note", Input).focus()

    @on(Button.Pressed, "#manual-pass")
    def _pass(self) -> None:
        self.post_message(ManualPanel.Answered("pass"))

    @on(Button.Pressed, "#manual-fail")
    def _fail(self) -> None:
        self.post_message(ManualPanel.Answered("fail"))

    @on(Button.Pressed, "#manual-skip")
    def _skip(self) -> None:
        self.post_message(ManualPanel.Answered("skip"))

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        # Enter never ticks by itself: it goes to the next field, from the last one to the
        # buttons; a tick is a deliberate press
        event.stop()
        order = [
            ("#manual-approver-row", "#manual-approver"),
            ("#manual-note-row", "#manual-note"),
            ("#manual-evidence-row", "#manual-evidence"),
        ]
        fields = [field for row, field in order if self.query_one(row).display]
        here = f"#{event.input.id}"
        after = fields[fields.index(here) + 1 :] if here in fields else []
        if after:
            self.query_one(after[0], Input).focus()
        else:
            self.query_one("#manual-pass", Button).focus()
