"""What a front end answers: the ``Operator`` protocol, its answers, and the run's options.

The runner asks; an operator (the TUI, the headless terminal, a test) answers. An answer of
``None`` means "nobody can answer now": the run pauses, so that `iact-tui tick` and `resume`
continue it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from iact_tui.engine.checklist.model import Phase
from iact_tui.engine.errors import IactError
from iact_tui.engine.record.ticks import Tick

AUTO_TICK_NOTE = "ticked automatically (--auto-tick)"


@dataclass(frozen=True)
class Failure:
    step_id: str
    message: str
    output_tail: list[str]
    hints: list[tuple[str, str]]  # (title, advice)
    can_rollback: bool
    suggest_rollback: bool


@dataclass(frozen=True)
class Decision:
    action: str  # retry | skip | rollback | abort | stop | rerun | done | wait
    by: str = ""
    reason: str = ""
    note: str = ""


class Operator(Protocol):
    """A front end's answers to the runner's questions. ``None`` means "nobody can answer now":
    the run pauses so that `iact-tui tick` + `resume` can continue it."""

    name: str

    async def choose(self, phase: Phase, defaults: list[str]) -> list[str] | None: ...

    async def confirm(self, step: Any, command: str) -> bool | None: ...

    async def manual(self, step: Any, instructions: str) -> Tick | None: ...

    async def failure(self, step: Any, failure: Failure) -> Decision | None: ...

    async def interrupted(self, step: Any, running: str = "") -> Decision | None:
        """A step was running when the run stopped. ``running`` names its process when that still
        runs: then the answer is ``wait`` or ``stop`` (None: later)."""
        ...

    async def pace(self, step: Any) -> None: ...


class Pause(IactError):
    """The run waits for a person who is not here (the message says who and for what)."""


def auto_tick(step: Any, by: str, note: str = "") -> Tick:
    """The tick `--auto-tick NAME` gives a manual step (the demo, unattended tests): passed by
    ``by``, with ``note`` or the standard note. Four eyes are still checked when it is recorded."""
    return Tick(step.id, "pass", by, note=note or AUTO_TICK_NOTE)


@dataclass
class RunOptions:
    mode: str = "headless"  # headless | tui | demo
    choices: dict[str, list[str]] = field(default_factory=dict)  # --choose PHASE=ALT[,ALT]
    rerun: set[str] = field(default_factory=set)  # resume --rerun STEP
    rollback: bool = False  # resume --rollback
    rollback_reason: str = ""  # resume --rollback --reason TEXT
    on_failure: str | None = None  # --on-failure given now (recorded; remembered for later resumes)
    ssh_config: list[str] | None = None  # None: ~/.ssh/config
    known_hosts: str | None = None
    client_keys: list[str] | None = None
    wait_running: set[str] = field(default_factory=set)  # resume --wait-running STEP
    stop_running: set[str] = field(default_factory=set)  # resume --stop-running STEP
