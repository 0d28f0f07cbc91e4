"""The run screen's side of the runner's questions: how each kind reads in the status bar, the
dialog that asks it, and the answers the screen's keys give to it.

A manual step is answered on the step's own panel (``ManualPanel``), a pace question by "run
step" / "run on"; the other kinds open a dialog (``DIALOG_QUESTIONS``).
"""

from __future__ import annotations

from typing import Any

from iact_tui.engine.events import QuestionKind
from iact_tui.engine.record.ticks import Tick
from iact_tui.engine.run.operator import Decision
from iact_tui.tui.dialogs.base import Dialog
from iact_tui.tui.dialogs.choice import ChoiceDialog
from iact_tui.tui.dialogs.confirm import ConfirmDialog
from iact_tui.tui.dialogs.failure import FailureDialog
from iact_tui.tui.dialogs.interrupted import InterruptedDialog
from iact_tui.tui.operator import Question
from iact_tui.tui.run_model import RunView

DIALOG_QUESTIONS = frozenset(
    {QuestionKind.FAILURE, QuestionKind.CONFIRM, QuestionKind.CHOICE, QuestionKind.INTERRUPTED}
)

# what the run does while it waits on each kind (the status bar's words)
ACTIVITY: dict[QuestionKind, str] = {
    QuestionKind.MANUAL: "waits for a person",
    QuestionKind.FAILURE: "a step failed: decide",
    QuestionKind.CONFIRM: "asks for confirmation",
    QuestionKind.CHOICE: "choose an alternative",
    QuestionKind.INTERRUPTED: "an interrupted step: decide",
}


def dialog_for(question: Question, view: RunView, operator_name: str) -> Dialog[Any]:
    """The dialog that asks ``question`` (one of ``DIALOG_QUESTIONS``)."""
    title = view.display(question.step.display_title) if question.step is not None else ""
    if question.kind == QuestionKind.FAILURE:
        return FailureDialog(question.step, question.failure, operator_name, title)
    if question.kind == QuestionKind.CONFIRM:
        return ConfirmDialog(
            f"Run “{title}”?",
            "The checklist asks for a confirmation before this step runs. “Not now” pauses the run.",
            yes="Run it",
            no="Not now",
            danger=True,
            detail=str(question.detail),
        )
    if question.kind == QuestionKind.CHOICE:
        assert question.phase is not None
        return ChoiceDialog(
            question.phase, list(question.detail or []), view.display(question.phase.title)
        )
    rec = view.state.steps.get(question.step_id)
    return InterruptedDialog(
        question.step,
        rec.message if rec else "",
        view.describe(question.step_id),
        operator_name,
        title,
        running=str(question.detail or ""),
    )


def retry(question: Question, by: str) -> Decision | None:
    """The answer "retry" gives: run a failed step again, re-run an interrupted one."""
    if question.kind == QuestionKind.FAILURE:
        return Decision("retry", by)
    if question.kind == QuestionKind.INTERRUPTED:
        return Decision("rerun", by)
    return None


def skip(question: Question, by: str, reason: str, note: str) -> Tick | Decision:
    """The answer "skip" gives, with the reason asked for (and a manual step's note)."""
    if question.kind == QuestionKind.MANUAL:
        return Tick(question.step_id, "skip", by, reason=reason, note=note)
    return Decision("skip", by, reason)
