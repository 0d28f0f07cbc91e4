"""Typed events the engine publishes to its front ends (TUI, headless printer).

Every event that reports a state change is published only after the change is durable in the
run's journal, so a front end never shows what a crash could take back. A step's event carries a
frozen ``StepView`` of the step after the change, and a run's event a ``RunProgress``: a front end
shows what the event says, and never reads the runner's live state (another thread changes it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from iact_tui.engine.record.state import RunState, StepRecord


@dataclass(frozen=True)
class Event:
    pass


@dataclass(frozen=True)
class StepView:
    """A step as the run's records left it, at the moment of the event (secrets masked)."""

    id: str
    phase: str
    kind: str
    title: str
    status: str  # a StepStatus
    attempts: int = 0
    alternative: str = ""
    rollback: bool = False
    started_at: str = ""
    finished_at: str = ""
    duration: float | None = None
    exit_status: int | None = None
    command: str = ""
    message: str = ""
    output_tail: tuple[str, ...] = ()
    lines: int | None = None
    note: str = ""
    ticked_by: str = ""
    ticked_at: str = ""
    skip_reason: str = ""
    skipped_by: str = ""
    decision: str = ""
    decision_reason: str = ""
    ahead: str = ""
    approval_skipped: bool = False
    hints: tuple[str, ...] = ()
    captures: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, rec: StepRecord) -> StepView:
        return cls(
            id=rec.id,
            phase=rec.phase,
            kind=rec.kind,
            title=rec.title,
            status=rec.status,
            attempts=rec.attempts,
            alternative=rec.alternative,
            rollback=rec.rollback,
            started_at=rec.started_at,
            finished_at=rec.finished_at,
            duration=rec.duration,
            exit_status=rec.exit_status,
            command=rec.command,
            message=rec.message,
            output_tail=tuple(rec.output_tail),
            lines=rec.lines,
            note=rec.note,
            ticked_by=rec.ticked_by,
            ticked_at=rec.ticked_at,
            skip_reason=rec.skip_reason,
            skipped_by=rec.skipped_by,
            decision=rec.decision,
            decision_reason=rec.decision_reason,
            ahead=rec.ahead,
            approval_skipped=rec.approval_skipped,
            hints=tuple(rec.hints),
            captures=dict(rec.captures),
        )


@dataclass(frozen=True)
class RunProgress:
    """The run as a status bar shows it, at the moment of the event."""

    status: str  # a RunStatus
    done: int  # steps done of ``total`` (the steps that can still matter)
    total: int
    counts: dict[str, int] = field(default_factory=dict)  # steps per status
    rollback_started: bool = False
    skipped_approvals: tuple[
        StepView, ...
    ] = ()  # four-eyes approvals skipped (the last line says so)

    @classmethod
    def of(cls, state: RunState) -> RunProgress:
        done, total = state.progress()
        return cls(
            status=state.status,
            done=done,
            total=total,
            counts=state.counts(),
            rollback_started=state.rollback_started,
            skipped_approvals=tuple(StepView.of(s) for s in state.skipped_approvals),
        )


@dataclass(frozen=True)
class RunOpened(Event):
    run_id: str
    folder: str
    resumed: bool


@dataclass(frozen=True)
class PhaseStarted(Event):
    phase_id: str
    title: str


@dataclass(frozen=True)
class HostConnected(Event):
    host: str
    address: str
    fingerprint: str


@dataclass(frozen=True)
class StepStarted(Event):
    step_id: str
    attempt: int
    command: str  # resolved command or request, secrets masked
    step: StepView | None = None
    run: RunProgress | None = None


@dataclass(frozen=True)
class StepOutput(Event):
    """Complete lines of output (secrets masked), ending with a newline."""

    step_id: str
    text: str


@dataclass(frozen=True)
class StepFinished(Event):
    step_id: str
    status: str  # StepStatus.PASSED | StepStatus.FAILED
    attempt: int
    message: str
    duration: float
    will_retry: bool = False
    step: StepView | None = None
    run: RunProgress | None = None


@dataclass(frozen=True)
class StepChanged(Event):
    """A status change not caused by execution: ticked, skipped, not applicable, interrupted."""

    step_id: str
    status: str  # a StepStatus
    detail: str = ""
    by: str = ""
    step: StepView | None = None
    run: RunProgress | None = None


class QuestionKind(StrEnum):
    """What a run can wait on a person for: the one vocabulary of the ``Waiting`` event and of the
    questions a front end answers through the ``Operator`` protocol (one member per method)."""

    PACE = "pace"  # before a step, while the operator paces the run (TUI: run step / run on)
    MANUAL = "manual"  # a step a person does and ticks
    FAILURE = "failure"  # a failed step: retry, skip, roll back or abort
    CONFIRM = "confirm"  # a step that asks before it runs
    CHOICE = "choice"  # a phase's alternatives
    INTERRUPTED = "interrupted"  # a step in flight when the run stopped: did it complete?


@dataclass(frozen=True)
class Waiting(Event):
    """The run waits for a person: a manual step, a failure decision, a confirmation, a choice."""

    question: QuestionKind
    step_id: str = ""
    phase_id: str = ""
    detail: str = ""


@dataclass(frozen=True)
class HintShown(Event):
    step_id: str
    title: str
    advice: str


@dataclass(frozen=True)
class Notice(Event):
    text: str
    level: str = "info"  # info | warning | error


@dataclass(frozen=True)
class RunPaused(Event):
    reason: str
    run: RunProgress | None = None


@dataclass(frozen=True)
class RunFinished(Event):
    status: str  # a RunStatus
    summary: dict[str, Any] = field(default_factory=dict)  # steps per status
    run: RunProgress | None = None


Emit = Callable[[Event], None]


@dataclass(frozen=True)
class HostStepChanged(Event):
    """One host's part of a group step changed state (front ends: counts, host table, a line)."""

    step_id: str
    host: str
    status: str  # running | passed | failed | interrupted
    batch: int | None = None
    detail: str = ""  # the failure's sentence, or "exit 0 in 0.21 s"
    result: str = ""  # ok | changed | failed | unreachable (ansible)
