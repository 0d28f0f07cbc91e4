"""Starting and resuming runs for the TUI, on top of the engine's ``session`` module.

No widgets here: these functions turn a ``Launch`` (what the command line asked for) and a
form's answers into a ``RunView`` with a ready runner. The engine decides which values to ask
for and how a run starts; the TUI supplies the answers and the operator.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from iact_tui.engine.checklist.load import LoadedChecklist, load_checklist
from iact_tui.engine.checklist.problems import ChecklistError
from iact_tui.engine.record.store import ReportError
from iact_tui.engine.run.launch import (
    BadInput,
    Launch,
    SessionSpec,
    ValueQuestion,
    new_session,
    pending_checklist_changes,
    resume_session,
    resume_value_questions,
    spec_for,
    value_questions,
)
from iact_tui.tui.bridge import RunBridge
from iact_tui.tui.operator import Pacing, TuiOperator
from iact_tui.tui.run_model import RunView


def default_pacing(launch: Launch) -> Pacing:
    """A real run waits for "run step" / "run on" before each step; the demo runs on by itself
    (a person only ticks its manual steps, unless --auto-tick does that too)."""
    return Pacing.CONTINUOUS if launch.mode == "demo" or launch.auto_tick else Pacing.HOLD


def make_operator(launch: Launch, name: str) -> TuiOperator:
    return TuiOperator(
        name,
        pacing=default_pacing(launch),
        auto_tick=launch.auto_tick,
        auto_tick_note=launch.auto_tick_note,
    )


def load_for_new(
    checklist: str | Path, spec: SessionSpec
) -> tuple[LoadedChecklist, list[ValueQuestion]]:
    """The checklist and the values to ask at the start. Raises BadInput."""
    try:
        loaded = load_checklist(checklist)
    except ChecklistError as exc:
        raise BadInput(str(exc)) from None
    return loaded, value_questions(loaded, spec, prompt_all=True)


def start_new(
    launch: Launch,
    checklist: str | Path,
    spec: SessionSpec,
    operator_name: str,
    answers: dict[str, str],
) -> RunView:
    """A new run, ready to drive. Raises BadInput or ReportError with the reason it cannot start."""
    spec = replace(spec, operator=operator_name)
    bridge = RunBridge()
    operator = make_operator(launch, operator_name)
    runner = new_session(
        checklist, spec, operator, bridge.emit, _ask_from(answers), prompt_all=True
    )
    return RunView.live(runner, operator, bridge, launch.banner)


def resume_questions(folder: Path, spec: SessionSpec) -> list[ValueQuestion]:
    return resume_value_questions(folder, spec)


def changes_for_resume(folder: Path, spec: SessionSpec) -> list[str] | None:
    """What changed in the run's checklist (None: nothing, or already decided on the command line)."""
    if spec.checklist_changed is not None:
        return None
    return pending_checklist_changes(folder)


def start_resume(
    launch: Launch, folder: Path, spec: SessionSpec, operator_name: str, answers: dict[str, str]
) -> RunView:
    """Resume a run (takes its lock). Raises BadInput, NeedsPerson or ReportError."""
    spec = replace(spec, operator=operator_name)
    bridge = RunBridge()
    operator = make_operator(launch, operator_name)
    runner = resume_session(folder, spec, operator, bridge.emit, _ask_from(answers), None)
    return RunView.live(runner, operator, bridge, launch.banner)


def spec_of(launch: Launch) -> SessionSpec:
    return spec_for(launch)


def _ask_from(answers: dict[str, str]) -> Any:
    def ask(name: str, prompt: str, secret: bool, default: str | None) -> str | None:
        return answers.get(name)

    return ask


__all__ = [
    "BadInput",
    "ReportError",
    "changes_for_resume",
    "load_for_new",
    "resume_questions",
    "spec_of",
    "start_new",
    "start_resume",
]
