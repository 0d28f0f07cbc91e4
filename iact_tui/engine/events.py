"""Typed events the engine publishes to its front ends (TUI, headless printer).

Every event that reports a state change is published only after the change is durable in the
run's journal, so a front end never shows what a crash could take back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    pass


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


@dataclass(frozen=True)
class StepOutput(Event):
    """Complete lines of output (secrets masked), ending with a newline."""

    step_id: str
    text: str


@dataclass(frozen=True)
class StepFinished(Event):
    step_id: str
    status: str  # passed | failed
    attempt: int
    message: str
    duration: float
    will_retry: bool = False


@dataclass(frozen=True)
class StepChanged(Event):
    """A status change not caused by execution: ticked, skipped, not applicable, interrupted."""

    step_id: str
    status: str
    detail: str = ""
    by: str = ""


@dataclass(frozen=True)
class Waiting(Event):
    """The run waits for a person: a manual step, a failure decision, a confirmation, a choice."""

    question: str  # manual | failure | confirm | choice | interrupted | changed
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


@dataclass(frozen=True)
class RunFinished(Event):
    status: str
    summary: dict[str, Any] = field(default_factory=dict)


Emit = Callable[[Event], None]
