"""The run screen's keys: every action a person can take on a run, and when each applies.

The footer, the help screen (?) and the command palette all list ``RUN_BINDINGS``, with the
tooltip as the explanation; ``allowed`` says which apply now, from the question the run waits on
and what the run is doing.
"""

from __future__ import annotations

from textual.binding import Binding, BindingType

from iact_tui.engine.events import QuestionKind
from iact_tui.engine.status import RunStatus
from iact_tui.tui.operator import Question
from iact_tui.tui.run_model import RunView
from iact_tui.tui.screens.run_questions import DIALOG_QUESTIONS

RUN_BINDINGS: list[BindingType] = [
    Binding(
        "r",
        "run_step",
        "Run step",
        id="run-step",
        tooltip="Run the next step, then wait again (while a step runs: the one after it too)",
    ),
    Binding(
        "n",
        "run_on",
        "Run on",
        id="run-on",
        tooltip="Run on to the next step that needs a person (a manual step), then wait",
    ),
    Binding("t", "retry", "Retry", id="retry", tooltip="Run the failed step again"),
    Binding(
        "p",
        "tick('pass')",
        "Pass",
        id="tick-pass",
        tooltip="Tick the waiting manual step as passed",
    ),
    Binding(
        "f",
        "tick('fail')",
        "Fail",
        id="tick-fail",
        tooltip="Tick the waiting manual step as failed",
    ),
    Binding(
        "s",
        "skip",
        "Skip",
        id="skip",
        tooltip="Skip the waiting or failed step; asks for a reason",
    ),
    Binding(
        "c", "choose", "Choose", id="choose", tooltip="Choose the alternative the run waits for"
    ),
    Binding(
        "d", "decide", "Decide", id="decide", tooltip="Open the question the run waits on again"
    ),
    Binding("o", "note", "Note", id="note", tooltip="Add a note to the selected step (recorded)"),
    Binding(
        "x",
        "cancel_step",
        "Cancel step",
        id="cancel-step",
        tooltip="Stop the running step and its command; it fails as cancelled",
    ),
    Binding(
        "b",
        "rollback",
        "Rollback",
        id="rollback",
        tooltip="Start the rollback phase (asks first)",
    ),
    Binding("a", "abort", "Abort", id="abort", tooltip="Abort the run (asks first)"),
    Binding("slash", "search", "Search", id="search-output", tooltip="Search the output shown"),
    Binding(
        "g",
        "follow",
        "Follow",
        id="follow",
        tooltip="Follow the running step again",
        show=False,
    ),
    Binding(
        "e",
        "export",
        "Export",
        id="export",
        tooltip="Export the report (toml, md, html), signed if you like",
    ),
    Binding(
        "v",
        "verify",
        "Verify",
        id="verify",
        tooltip="Verify a report: signature, event chain, step logs",
    ),
    Binding("l", "runs", "Runs", id="runs", tooltip="All runs: open one, resume one"),
    Binding("escape", "back", "Back", id="back", tooltip="Back to the list of runs"),
    Binding("question_mark", "help", "Help", id="help", tooltip="Keys, icons and what they do"),
    Binding(
        "q", "app.quit", "Quit", id="quit-key", tooltip="Quit; an unfinished run can be resumed"
    ),
]

# the kinds of question each answering action answers
ANSWERS: dict[str, frozenset[QuestionKind]] = {
    "retry": frozenset({QuestionKind.FAILURE, QuestionKind.INTERRUPTED}),
    "tick": frozenset({QuestionKind.MANUAL}),
    "skip": frozenset({QuestionKind.MANUAL, QuestionKind.FAILURE, QuestionKind.INTERRUPTED}),
    "choose": frozenset({QuestionKind.CHOICE}),
    "decide": DIALOG_QUESTIONS,
}


def allowed(action: str, view: RunView, question: Question | None, selected_step: str) -> bool:
    """Whether ``action`` applies now (the screen's ``check_action``)."""
    if action == "back":
        return view.read_only
    if action in ("runs", "help", "search", "follow", "verify"):
        return action != "follow" or not view.read_only
    state = view.state
    live = state.status == RunStatus.RUNNING
    if action == "export":
        return not live or view.read_only
    if view.read_only:
        return False
    kind = question.kind if question is not None else None
    if action in ("run_step", "run_on"):
        # while a step runs they say what comes after it (one more step, or on to the next
        # manual step); offering them then also keeps the footer the same for a whole step
        return kind == QuestionKind.PACE or (live and question is None)
    if action in ANSWERS:
        return kind in ANSWERS[action]
    if action == "note":
        return live and bool(selected_step) and selected_step in state.steps
    if action == "cancel_step":
        # offered while the run is live (it says so when nothing runs): the footer then stays
        # the same from step to step, instead of being rebuilt when each starts and ends
        return live and kind in (None, QuestionKind.PACE)
    if action == "rollback":
        has_rollback = any(p.rollback for p in view.checklist.phases)
        return live and has_rollback and not state.rollback_started
    if action == "abort":
        return live
    return True
