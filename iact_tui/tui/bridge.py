"""From the engine's events to Textual messages.

The runner calls ``RunBridge.emit`` for every event, already durable, on the thread that drives
the run (``post_message`` is safe from any thread).
Most events become one ``EngineEvent`` message. Output is different: a command may print
hundreds of thousands of lines, so output is only appended to a per-step buffer here, and one
``OutputReady`` message (at most one queued at a time, and replaceable) tells the screen to
take everything buffered in one batch.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

from textual.message import Message
from textual.message_pump import MessagePump

from iact_tui.engine import events as ev
from iact_tui.tui.operator import Question

KEEP_LINES = 2_000  # per step, in memory; the full output is in logs/<step>.log
BATCH_LINES = 2_000  # at most this many new lines per screen update (the newest)


@dataclass
class _Pending:
    """A step's output not yet taken by the screen: the newest chunks, enough for a batch."""

    chunks: deque[tuple[str, int]] = field(default_factory=deque)  # (text, its lines)
    lines: int = 0  # lines in ``chunks``
    dropped: int = 0  # older lines no screen update will show (they are in the log)


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

    def __init__(self, keep_lines: int = KEEP_LINES, batch_lines: int = BATCH_LINES) -> None:
        self.target: MessagePump | None = None
        self.keep_lines = keep_lines
        self.batch_lines = batch_lines
        self._lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}  # per step, not yet taken by the screen
        self._posted = False
        self.outputs: dict[str, deque[str]] = {}
        self.printed: dict[str, int] = {}  # lines each step has printed (this attempt)

    def emit(self, event: ev.Event) -> None:
        if isinstance(event, ev.StepOutput):
            self._buffer(event.step_id, event.text)
            return
        if isinstance(event, ev.StepStarted):
            # a new attempt starts with a marker line, like the log file
            first = event.command.splitlines()[0] if event.command else ""
            with self._lock:
                self.printed[event.step_id] = 0
            self._buffer(event.step_id, f"--- attempt {event.attempt}: {first}\n", printed=False)
        self._post(RunBridge.EngineEvent(event))

    def _buffer(self, step_id: str, text: str, *, printed: bool = True) -> None:
        # called on the runner's thread, for every chunk a command prints: only what a screen
        # update can show is kept (a chunk is dropped once newer ones hold a batch), so memory
        # and the screen's work stay bounded however fast a command prints
        count = text.count("\n")
        with self._lock:
            if printed:
                self.printed[step_id] = self.printed.get(step_id, 0) + count
            pending = self._pending.get(step_id)
            if pending is None:
                pending = self._pending[step_id] = _Pending()
            pending.chunks.append((text, count))
            pending.lines += count
            chunks = pending.chunks
            while len(chunks) > 1 and pending.lines - chunks[0][1] >= self.batch_lines:
                _text, older = chunks.popleft()
                pending.lines -= older
                pending.dropped += older
            if self._posted:
                return
            self._posted = True
        if not self._post(RunBridge.OutputReady()):
            with self._lock:
                self._posted = False

    def question_changed(self, question: Question | None) -> None:
        self._post(RunBridge.QuestionChanged(question))

    def take_output(self, limit: int | None = None) -> dict[str, list[str]]:
        """The lines buffered since the last call, per step: at most ``limit`` (default
        ``batch_lines``) of each, the newest, after a line that says how many were left out. A
        command can print far more than a person can read between two screen updates; the full
        output is in the step's log file. Also kept per step (bounded), for showing it again."""
        limit = self.batch_lines if limit is None else limit
        with self._lock:
            self._posted = False
            pending, self._pending = self._pending, {}
        batches: dict[str, list[str]] = {}
        for step_id, taken in pending.items():
            lines, left_out = tail_lines([text for text, _ in taken.chunks], limit)
            left_out += taken.dropped
            if left_out:
                lines.insert(
                    0, f"… {left_out:,} lines not shown here (all are in logs/{step_id}.log) …"
                )
            batches[step_id] = lines
            self.outputs.setdefault(step_id, deque(maxlen=self.keep_lines)).extend(lines)
        return batches

    def lines_printed(self, step_id: str) -> int:
        """How many lines the step's command has printed so far (this attempt)."""
        return self.printed.get(step_id, 0)

    @property
    def has_output(self) -> bool:
        return bool(self._pending)

    @property
    def buffered_lines(self) -> int:
        """How many lines wait to be taken (those already dropped from the buffer included)."""
        with self._lock:
            return sum(p.lines + p.dropped for p in self._pending.values())

    @property
    def buffered_steps(self) -> list[str]:
        with self._lock:
            return list(self._pending)

    def lines_of(self, step_id: str) -> list[str]:
        return list(self.outputs.get(step_id, ()))

    def _post(self, message: Message) -> bool:
        if self.target is None:
            return False
        return self.target.post_message(message)


def tail_lines(chunks: list[str], count: int) -> tuple[list[str], int]:
    """The last ``count`` lines of text chunks that each end with a newline, and how many lines
    came before them; only the tail is split into lines."""
    newlines = 0
    start = len(chunks)
    while start > 0 and newlines <= count:
        start -= 1
        newlines += chunks[start].count("\n")
    lines = "".join(chunks[start:]).splitlines()
    before = sum(chunk.count("\n") for chunk in chunks[:start])
    if len(lines) > count:
        before += len(lines) - count
        lines = lines[-count:]
    return lines, before
