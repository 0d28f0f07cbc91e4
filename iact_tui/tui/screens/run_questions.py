"""The run screen's side of the runner's questions: how each kind reads in the status bar, the
dialog that asks it, and the answers the screen's keys give to it.

A manual step is answered on the step's own panel (``ManualPanel``), a pace question by "run
step" / "run on"; the other kinds open a dialog (``DIALOG_QUESTIONS``).
"""

from __future__ import annotations

from typing import Any

from iact_tui.engine.events import QuestionKind
from iact_tui.engine.record.asks import Awaited, awaited
from iact_tui.engine.record.ticks import Tick, TickRefused, check_tick
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


def activity(question: Question, view: RunView) -> str:
    """The status bar's words for a question; a step that waits for a person says who it waits
    for. The exact command that answers it from any terminal is shown whole elsewhere (a line
    cut by the clock helps no one): on the manual step's panel, or under the status bar
    (``hint``)."""
    role = getattr(question.step, "role", None)
    if question.kind == QuestionKind.MANUAL and role:
        return f"waits for {role}"
    return ACTIVITY[question.kind]


def hint(question: Question, view: RunView) -> str:
    """The line under the status bar while a step asks for a confirmation: the exact command
    that gives it from any terminal, whole ('' for other questions: a manual step's panel shows
    its command, and the other questions have none)."""
    if question.kind != QuestionKind.CONFIRM or question.step is None:
        return ""
    return (
        f"{question.step_id} asks for a confirmation — or from any terminal: "
        f"{_awaited(question, view).command}"
    )


def tick_command(question: Question, view: RunView) -> str:
    """The command that answers the question from any terminal ('' for a question none does)."""
    if question.kind not in (QuestionKind.MANUAL, QuestionKind.CONFIRM) or question.step is None:
        return ""
    return _awaited(question, view).command


def _awaited(question: Question, view: RunView) -> Awaited:
    return awaited(
        question.step,
        view.run_id,
        view.state.info.get("approver_keys"),
        confirm=question.kind == QuestionKind.CONFIRM,
        folder=view.folder,  # --runs-dir, when the command needs it to find the run
    )


def refusal(tick: Tick, view: RunView) -> str:
    """Why the run would refuse this tick (four eyes), said before it is sent: the question then
    stays open, for another person (or another terminal) to answer ('' when it would be taken)."""
    try:
        check_tick(view.state, view.checklist, tick)
    except TickRefused as exc:
        return str(exc)  # (the panel shows the command that answers it from another terminal)
    return ""


def sign_with_agent(tick: Tick, view: RunView) -> tuple[Tick | None, str]:
    """The tick signed with the key in this person's ssh-agent, or (None, why it cannot be)."""
    import dataclasses

    from iact_tui.engine.record.asks import tick_command
    from iact_tui.engine.report.approvals import ApprovalError, payload_for, sign_payload

    state = view.state
    try:
        made = sign_payload(
            "agent", payload_for(state, tick.step, tick.action, tick.note, tick.reason)
        )
    except ApprovalError as exc:
        return None, (
            f"this step takes a signed answer and ssh-agent cannot sign it ({exc}); answer from a "
            f"terminal: {tick_command(view.run_id, tick.step, view.folder)} --sign KEY"
        )
    return dataclasses.replace(tick, signature=made.signature, chain_head=state.last_hash), ""


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
