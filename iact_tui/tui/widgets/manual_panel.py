"""The answer to a manual step: note, evidence link, approver, and pass / fail / skip."""

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
        yield Input(placeholder="note (optional)", id="manual-note", compact=True)
        yield Input(
            placeholder="evidence: a link, or where to find it", id="manual-evidence", compact=True
        )
        yield Input(id="manual-approver", compact=True)
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

    def ask(self, step: Any, operator_name: str) -> None:
        """Show the panel for ``step``; keeps what was typed if it is the same step again (a
        refused approver is corrected, not retyped from scratch)."""
        same = self.step is not None and step is not None and self.step.id == step.id
        self.step = step
        self.operator_name = operator_name
        role = getattr(step, "role", None)
        four_eyes = bool(getattr(step, "four_eyes", False))
        prompt = "This step waits for a person: check it, then tick it."
        if role:
            prompt = f"This step needs a sign-off (role: {role}): type who signs it off."
            if four_eyes:
                prompt += f" Four eyes: not the operator ({operator_name})."
        self.query_one("#manual-prompt", Label).update(prompt)
        approver = self.query_one("#manual-approver", Input)
        approver.display = bool(role)
        approver.placeholder = f"approver's name ({role})" if role else ""
        self.query_one("#manual-evidence", Input).display = bool(getattr(step, "evidence", False))
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
        approver = self.query_one("#manual-approver", Input)
        (approver if approver.display else self.query_one("#manual-note", Input)).focus()

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
    def _submitted(self) -> None:
        # Enter never ticks by itself: it leads to the buttons, a tick is a deliberate press
        self.query_one("#manual-pass", Button).focus()
