"""The TUI's answers to the runner's questions (the engine's ``Operator`` protocol).

The runner awaits a question; the operator turns it into a pending ``Question`` that the screen
shows (a dialog, the manual-step panel, the "ready" line) and resolves when a person answers. It
decides nothing about the flow: it only carries answers. ``None`` as an answer means "nobody
answers now" and lets the runner pause the run (that is what quitting does).

Pacing (the ``pace`` hook the runner awaits before each step) is the operator's own business:
``hold`` waits for "run step" or "run on", ``run_on`` goes on until a step that waits for a
person, ``continuous`` never holds (the demo).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from iact_tui.engine.checklist.model import Phase
from iact_tui.engine.events import QuestionKind
from iact_tui.engine.executors import needs_person
from iact_tui.engine.record.ticks import Tick
from iact_tui.engine.run.operator import Decision, Failure, Pause, auto_tick


class Pacing(StrEnum):
    """How the TUI lets the run go on before each step."""

    HOLD = "hold"  # wait for "run step" or "run on"
    STEP = "step"  # run the next step, then hold
    RUN_ON = "run_on"  # run until a step that waits for a person (it runs too), then hold
    CONTINUOUS = "continuous"  # never hold (the demo)


_ids = itertools.count(1)
_WAKE = "wake"  # the answer to a pace question that starts no step (see ``wake``)


@dataclass(eq=False)
class Question:
    """One question of the runner, waiting for a person."""

    kind: QuestionKind
    step: Any = None  # the checklist step (None for a choice)
    phase: Phase | None = None  # for a choice
    detail: Any = None  # instructions | Failure | command | defaults | a still-running process
    future: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    id: int = field(default_factory=lambda: next(_ids))

    @property
    def step_id(self) -> str:
        return str(self.step.id) if self.step is not None else ""

    @property
    def failure(self) -> Failure:
        assert isinstance(self.detail, Failure)
        return self.detail


class TuiOperator:
    """Implements the engine's Operator protocol with questions a screen answers."""

    def __init__(
        self,
        name: str,
        *,
        pacing: str = Pacing.HOLD,
        auto_tick: str | None = None,
        auto_tick_note: str = "",
    ) -> None:
        if pacing not in tuple(Pacing):
            raise ValueError(f"pacing must be one of {', '.join(Pacing)}")
        self.name = name
        self.pacing = Pacing(pacing)
        self.auto_tick = auto_tick
        self.auto_tick_note = auto_tick_note  # empty: the engine's standard note
        self.question: Question | None = None
        self.on_change: Callable[[Question | None], None] = lambda _question: None
        self._stop_reason = ""
        self._auto_ticked: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None  # the runner's, once it asks

    # -- for the screen ---------------------------------------------------------------------------

    def answer(self, question: Question, value: Any) -> bool:
        """Answer ``question`` if it is still the one the runner waits on. Safe to call from the
        screen's thread: the answer is handed to the runner's event loop."""
        if question is not self.question or question.future.done():
            return False
        self._on_runner_loop(self._resolve, question, value)
        return True

    def go(self, pacing: Pacing) -> bool:
        """Let the run go on: one step (``step``), to the next manual step (``run_on``), or on."""
        if pacing not in tuple(Pacing) or pacing == Pacing.HOLD:
            raise ValueError(f"cannot go with pacing {pacing!r}")
        self.pacing = Pacing(pacing)
        question = self.question
        if question is not None and question.kind == QuestionKind.PACE:
            return self.answer(question, self.pacing)
        return False

    def wake(self) -> bool:
        """Let a held run reach its next safe point (a rollback or abort request is checked
        there) without starting the next step on the operator's behalf."""
        question = self.question
        if question is not None and question.kind == QuestionKind.PACE:
            return self.answer(question, _WAKE)
        return False

    def stop(self, reason: str) -> None:
        """Nobody will answer any more (the person quits): pending and later questions get
        ``None``, so the runner pauses the run (or stops it at a failure)."""
        self._stop_reason = reason
        question = self.question
        if question is not None:
            self._on_runner_loop(self._resolve, question, None)

    def _resolve(self, question: Question, value: Any) -> None:
        if not question.future.done():
            question.future.set_result(value)

    def _on_runner_loop(self, function: Callable[..., None], *args: Any) -> None:
        """The runner may drive the run on its own thread and event loop: its futures are set
        there, never from another thread."""
        loop = self._loop
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        if loop is None or loop is current:
            function(*args)
        else:
            loop.call_soon_threadsafe(function, *args)

    # -- the Operator protocol --------------------------------------------------------------------

    async def choose(self, phase: Phase, defaults: list[str]) -> list[str] | None:
        result: list[str] | None = await self._ask(
            Question(QuestionKind.CHOICE, phase=phase, detail=list(defaults))
        )
        return result

    async def confirm(self, step: Any, command: str) -> bool | None:
        result: bool | None = await self._ask(
            Question(QuestionKind.CONFIRM, step=step, detail=command)
        )
        return result

    async def manual(self, step: Any, instructions: str) -> Tick | None:
        if self.auto_tick and step.id not in self._auto_ticked:
            # once per step: a refused auto-tick (four eyes) falls back to asking a person
            self._auto_ticked.add(step.id)
            return auto_tick(step, self.auto_tick, self.auto_tick_note)
        result: Tick | None = await self._ask(
            Question(QuestionKind.MANUAL, step=step, detail=instructions)
        )
        return result

    async def failure(self, step: Any, failure: Failure) -> Decision | None:
        result: Decision | None = await self._ask(
            Question(QuestionKind.FAILURE, step=step, detail=failure)
        )
        return result

    async def interrupted(self, step: Any, running: str = "") -> Decision | None:
        # detail: the process that still runs (the dialog then offers wait or stop), or None
        result: Decision | None = await self._ask(
            Question(QuestionKind.INTERRUPTED, step=step, detail=running or None)
        )
        return result

    async def pace(self, step: Any) -> None:
        while True:
            if self._stop_reason:
                raise Pause(self._stop_reason)
            if self.pacing == Pacing.CONTINUOUS:
                return
            if self.pacing == Pacing.STEP:
                self.pacing = Pacing.HOLD
                return
            if self.pacing == Pacing.RUN_ON:
                if needs_person(step):
                    self.pacing = Pacing.HOLD  # this one runs; the one after it waits again
                return
            answer = await self._ask(Question(QuestionKind.PACE, step=step))
            if answer is None:
                raise Pause(self._stop_reason or f"the run was stopped before step '{step.id}'")
            if answer == _WAKE:
                return

    # -- plumbing ---------------------------------------------------------------------------------

    async def _ask(self, question: Question) -> Any:
        self._loop = asyncio.get_running_loop()
        if self._stop_reason:
            return None
        self.question = question
        self.on_change(question)
        try:
            return await question.future
        finally:
            # answered, or cancelled because the runner got its answer elsewhere (a tick from
            # another terminal, a rollback request): either way the question is gone
            if self.question is question:
                self.question = None
                self.on_change(None)
