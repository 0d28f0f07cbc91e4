"""The one interface every step kind implements, and what an executor gets to work with."""

from __future__ import annotations

import codecs
import hashlib
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from iact_tui.engine.checklist.values import Values
from iact_tui.engine.events import Emit, StepOutput

TAIL_LINES = 20


@dataclass
class Outcome:
    """What one attempt of a step produced."""

    ok: bool
    message: str = ""  # one sentence a person understands; required when not ok
    exit_status: int | None = None
    evidence: dict[str, Any] = field(default_factory=dict)  # HTTP status, latency, body excerpt
    artifacts: list[dict[str, Any]] = field(default_factory=list)  # {path, size, sha256}
    warning: str = ""  # passed, but worth a look (e.g. a notice that could not be posted)


class StepContext(Protocol):
    """Handed to an executor by the runner."""

    step: Any
    attempt: int
    values: Values
    log: LogWriter
    emit: Emit
    services: Any  # Services: shared connections (ssh pool, http client)

    def output(self, prefix: str = "") -> OutputCollector: ...

    def capture(self, name: str, value: str) -> None: ...


class Executor(Protocol):
    kind: ClassVar[str]

    def describe(self, step: Any, values: Values) -> str:
        """The resolved command or request for display, secrets masked."""
        ...

    def needs_person(self, step: Any, values: Values | None = None) -> bool:
        """Whether the step waits for a person's tick instead of being executed (the one place
        this is decided). Without ``values``, judged from the checklist text alone."""
        ...

    async def execute(self, ctx: StepContext) -> Outcome: ...


class Automatic:
    """For the kinds a machine does: never waits for a person."""

    def needs_person(self, step: Any, values: Values | None = None) -> bool:
        return False


HAND_OVER_EVERY = 0.1  # seconds: how stale a log a watcher of the running step may read


class LogWriter:
    """Appends to ``logs/<step>.log``; keeps its sha256 and size as it writes.

    Everything written goes through ``redact`` (the run's masker), so no caller can write a
    secret by forgetting to mask; ``write_masked`` is for text the same masker has just masked
    (the output collector's blocks), so that it is not scanned twice."""

    def __init__(self, path: Path, redact: Callable[[str], str] | None = None) -> None:
        self.path = path
        self.redact = redact
        self._hash = hashlib.sha256()
        self.size = 0
        self._line_start = True  # the log ends with a newline (or is empty)
        if path.exists():
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    self._hash.update(block)
                    self.size += len(block)
                    self._line_start = block.endswith(b"\n")
        self._file = open(path, "ab")
        self._handed_over = time.monotonic()

    def write(self, text: str) -> None:
        self.write_masked(self.redact(text) if self.redact is not None else text)

    def line(self, text: str) -> None:
        """One line of iact-tui's own (``--- ...``), on a line of its own even after output that
        did not end with a newline."""
        self.write(("" if self._line_start else "\n") + text.rstrip("\n") + "\n")

    def write_masked(self, text: str) -> None:
        if not text:
            return
        self._line_start = text.endswith("\n")
        data = text.encode("utf-8", errors="replace")
        self._file.write(data)
        self._hash.update(data)
        self.size += len(data)
        now = time.monotonic()
        if now - self._handed_over >= HAND_OVER_EVERY:
            # into the file (not to the disk: that is close's fsync), for whoever watches the run
            # (`iact-tui watch` follows the running step's log); at most every HAND_OVER_EVERY s
            self._file.flush()
            self._handed_over = now

    def flush(self) -> None:
        import os

        self._file.flush()
        os.fdatasync(self._file.fileno())  # the data and its size; no need for the mtime

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def close(self) -> None:
        self.flush()
        self._file.close()

    def hand_over(self) -> Any:
        """Written out, not yet synced: the open file, for a group commit to sync and close
        before the record that names this log's sha256 (RunStore.append_soon's sync_files)."""
        self._file.flush()
        return self._file


@dataclass
class Expectations:
    expect_output: re.Pattern[str] | None = None
    reject_output: re.Pattern[str] | None = None
    captures: dict[str, re.Pattern[str]] = field(default_factory=dict)


class MaskedOutput(StepOutput):
    """Output the collector has masked already: the runner's emit passes it on without masking
    it a second time (any other event, a plain StepOutput included, is masked there)."""


MAX_LINE = 1 << 20  # a line longer than this is passed on in pieces (never split inside a secret)


class OutputCollector:
    """Turns a stream of bytes into masked complete lines: for the log, the screen and the checks.

    Works in chunks (splitting lines itself, never line by line through asyncio), matches the
    step's patterns line by line like grep, keeps only a tail in memory. A secret split across
    chunks is masked: a line is masked only once it is complete; the lines that could begin a
    multi-line secret wait for the rest of it; a line over MAX_LINE is passed on in pieces cut
    outside every form of a secret. Nothing is added to the output (no newline at the end).
    """

    def __init__(
        self,
        step_id: str,
        log: LogWriter,
        emit: Emit,
        values: Values,
        expect: Expectations,
        capture: Callable[[str, str], None],
        prefix: str = "",
    ) -> None:
        self.step_id = step_id
        self.log = log
        self.emit = emit
        self.values = values
        self.expect = expect
        self._capture = capture
        self.prefix = prefix
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.lines = 0
        self.expected_seen = expect.expect_output is None
        self.rejected: str | None = None
        self._pending_captures = dict(expect.captures)
        self._mid_line = False  # the last piece passed on ended inside a line (a long line)

    def feed(self, data: bytes) -> None:
        self.feed_text(self._decoder.decode(data))

    def feed_text(self, text: str) -> None:
        if not text:
            return
        text = self._partial + text
        cut = text.rfind("\n") + 1
        block, partial = text[:cut], text[cut:]
        redactor = self.values.redactor
        if block and redactor.multiline:
            held = redactor.held_lines(block, partial)  # the start of a key whose rest is to come
            block, partial = block[:held], block[held:] + partial
        if block:
            self._take(block)
        if len(partial) > MAX_LINE:  # a line over 1 MiB: pass it on in pieces
            end = (
                redactor.safe_cut(partial, len(partial) - redactor.span)
                if redactor
                else len(partial)
            )
            if end > 0:
                self._take(partial[:end])
                partial = partial[end:]
        self._partial = partial

    def close(self) -> None:
        rest = self._partial + self._decoder.decode(b"", final=True)
        self._partial = ""
        if rest:
            self._take(rest, last=True)

    def _take(self, block: str, last: bool = False) -> None:
        """A block of complete lines, each ending in a newline; or a piece of a long line; or
        (``last``) the end of the output, which may not end in a newline."""
        block = block.replace("\r\n", "\n")
        e = self.expect
        if self._pending_captures:
            for name, pattern in list(self._pending_captures.items()):
                m = pattern.search(block)
                if m:
                    self._capture(name, m.group(1))
                    del self._pending_captures[name]
        if not self.expected_seen and e.expect_output is not None and e.expect_output.search(block):
            self.expected_seen = True
        if self.rejected is None and e.reject_output is not None:
            m = e.reject_output.search(block)
            if m:
                start = block.rfind("\n", 0, m.start()) + 1
                end = block.find("\n", m.end())
                end = len(block) if end < 0 else end
                self.rejected = self.values.redactor(block[start:end])
        masked = self.values.redactor(block) if self.values.redactor else block
        if self.prefix:
            lines = masked.split("\n")
            unended = lines.pop()  # "" when the block ends with a newline
            first = "" if self._mid_line else self.prefix
            masked = "".join(
                f"{first if i == 0 else self.prefix}{line}\n" for i, line in enumerate(lines)
            )
            if unended:
                masked += (self.prefix if lines or not self._mid_line else "") + unended
        self._mid_line = not masked.endswith("\n")
        self.lines += masked.count("\n") + (1 if last and self._mid_line else 0)
        self.log.write_masked(masked)
        # the tail: only the last lines of the block are split off and kept
        parts = masked.rsplit("\n", TAIL_LINES + 1)
        if not (last and parts[-1]):
            parts.pop()  # a line that is not complete yet
        self.tail.extend(parts[-TAIL_LINES:])
        self.emit(MaskedOutput(self.step_id, masked))

    def check(self, exit_status: int | None, expected_exits: list[int]) -> tuple[bool, str]:
        """The verdict of the expectations, with the sentence that explains a failure."""
        if exit_status is not None and exit_status not in expected_exits:
            want = " or ".join(str(c) for c in expected_exits)
            return False, f"the command exited with status {exit_status} (expected {want})"
        if self.rejected is not None:
            return (
                False,
                f"the output has a line that must not be there: {self.rejected.strip()[:200]!r}",
            )
        if not self.expected_seen:
            return False, f"no line of the output matches {self.expect.expect_output.pattern!r}"  # type: ignore[union-attr]
        missing = [n for n in self._pending_captures]
        if missing:
            pats = ", ".join(f"{n} = {self.expect.captures[n].pattern!r}" for n in missing)
            return False, f"nothing in the output to capture for {pats}"
        return True, ""


def compile_expectations(step: Any) -> Expectations:
    flags = re.MULTILINE
    return Expectations(
        expect_output=re.compile(step.expect_output, flags)
        if getattr(step, "expect_output", None)
        else None,
        reject_output=re.compile(step.reject_output, flags)
        if getattr(step, "reject_output", None)
        else None,
        captures={n: re.compile(p, flags) for n, p in (getattr(step, "capture", {}) or {}).items()},
    )


AsyncCallable = Callable[..., Awaitable[Any]]
