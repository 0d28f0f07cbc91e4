"""From the engine's events to Textual messages.

The runner calls ``RunBridge.emit`` on the app's event loop for every event, already durable.
Most events become one ``EngineEvent`` message. Output is different: a command may print
hundreds of thousands of lines, so output is only appended to a per-step buffer here, and one
``OutputReady`` message (at most one queued at a time, and replaceable) tells the screen to
take everything buffered in one batch.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from textual.message import Message
from textual.message_pump import MessagePump

from iact_tui.engine import events as ev
from iact_tui.tui.operator import Question

KEEP_LINES = 5_000  # per step, in memory; the full output is in logs/<step>.log


class RunBridge:
    """Posts the runner's events and the operator's questions to a screen as messages."""

    @dataclass
    class EngineEvent(Message, bubble=False):
        """An engine event (durable before it arrives)."""

        event: ev.Event

    @dataclass
    class OutputReady(Message, bubble=False):
        """New output lines are buffered; take them with ``RunBridge.take_output``."""

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, RunBridge.OutputReady)

    @dataclass
    class QuestionChanged(Message, bubble=False):
        """The runner asks something (or no longer does: ``question`` is None)."""

        question: Question | None

    def __init__(self, keep_lines: int = KEEP_LINES) -> None:
        self.target: MessagePump | None = None
        self.keep_lines = keep_lines
        self._pending: list[tuple[str, str]] = []  # (step id, text) not yet taken by the screen
        self._posted = False
        self.outputs: dict[str, deque[str]] = {}

    def emit(self, event: ev.Event) -> None:
        if isinstance(event, ev.StepOutput):
            self._pending.append((event.step_id, event.text))
            if not self._posted:
                self._posted = self._post(RunBridge.OutputReady())
            return
        if isinstance(event, ev.StepStarted):
            # a new attempt starts with a marker line, like the log file
            self._pending.append((event.step_id, f"--- attempt {event.attempt}: {event.command}\n"))
            if not self._posted:
                self._posted = self._post(RunBridge.OutputReady())
        self._post(RunBridge.EngineEvent(event))

    def question_changed(self, question: Question | None) -> None:
        # flush output first: a failure question must find the failing output on screen
        if self._pending and not self._posted:
            self._posted = self._post(RunBridge.OutputReady())
        self._post(RunBridge.QuestionChanged(question))

    def take_output(self) -> dict[str, list[str]]:
        """Everything buffered since the last call, as lines per step (also kept per step)."""
        self._posted = False
        return self._take_pending()

    def lines_of(self, step_id: str) -> list[str]:
        return list(self.outputs.get(step_id, ()))

    def _take_pending(self) -> dict[str, list[str]]:
        pending, self._pending = self._pending, []
        batches: dict[str, list[str]] = {}
        for step_id, text in pending:
            batches.setdefault(step_id, []).extend(text.splitlines())
        for step_id, lines in batches.items():
            kept = self.outputs.setdefault(step_id, deque(maxlen=self.keep_lines))
            kept.extend(lines[-self.keep_lines :])
        return batches

    def _post(self, message: Message) -> bool:
        if self.target is None:
            return False
        return self.target.post_message(message)
