"""The one interface every step kind implements, and what an executor gets to work with."""

from __future__ import annotations

import codecs
import hashlib
import re
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from iact_tui.engine.events import Emit, StepOutput
from iact_tui.engine.values import Values

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

    def output(self) -> OutputCollector: ...

    def capture(self, name: str, value: str) -> None: ...

    async def wait_for_person(self, question: str) -> Any: ...


class Executor(Protocol):
    kind: ClassVar[str]

    def describe(self, step: Any, values: Values) -> str:
        """The resolved command or request for display, secrets masked."""
        ...

    async def execute(self, ctx: StepContext) -> Outcome: ...


class LogWriter:
    """Appends to ``logs/<step>.log``; keeps its sha256 and size as it writes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._hash = hashlib.sha256()
        self.size = 0
        if path.exists():
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    self._hash.update(block)
                    self.size += len(block)
        self._file = open(path, "ab")

    def write(self, text: str) -> None:
        data = text.encode("utf-8", errors="replace")
        self._file.write(data)
        self._hash.update(data)
        self.size += len(data)

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


@dataclass
class Expectations:
    expect_output: re.Pattern[str] | None = None
    reject_output: re.Pattern[str] | None = None
    captures: dict[str, re.Pattern[str]] = field(default_factory=dict)


class OutputCollector:
    """Turns a stream of bytes into masked complete lines: for the log, the screen and the checks.

    Works in chunks (splitting lines itself, never line by line through asyncio), matches the
    step's patterns line by line like grep, keeps only a tail in memory.
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

    def feed(self, data: bytes) -> None:
        self.feed_text(self._decoder.decode(data))

    def feed_text(self, text: str) -> None:
        if not text:
            return
        text = self._partial + text
        cut = text.rfind("\n")
        if cut < 0:
            self._partial = text
            if len(self._partial) > 1 << 20:  # a line over 1 MiB: pass it on in pieces
                self._take(self._partial + "\n")
                self._partial = ""
            return
        self._partial = text[cut + 1 :]
        self._take(text[: cut + 1])

    def close(self) -> None:
        rest = self._partial + self._decoder.decode(b"", final=True)
        self._partial = ""
        if rest:
            self._take(rest + "\n")

    def _take(self, block: str) -> None:
        """A block of complete lines, each ending in a newline."""
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
                self.rejected = self.values.redactor(block[start:end])
        masked = self.values.redactor(block) if self.values.redactor else block
        if self.prefix:
            masked = "".join(f"{self.prefix}{line}\n" for line in masked.split("\n")[:-1])
        self.lines += masked.count("\n")
        self.log.write(masked)
        # the tail: only the last lines of the block are split off and kept
        parts = masked.rsplit("\n", TAIL_LINES + 1)[:-1]
        self.tail.extend(parts[-TAIL_LINES:])
        self.emit(StepOutput(self.step_id, masked))

    def check(self, exit_status: int | None, expected_exits: list[int]) -> tuple[bool, str]:
        """The verdict of the expectations, with the sentence that explains a failure."""
        if exit_status is not None and exit_status not in expected_exits:
            want = " or ".join(str(c) for c in expected_exits)
            return False, f"the command exited with status {exit_status} (expected {want})"
        if self.rejected is not None:
            return False, f"the output has a line that must not be there: {self.rejected.strip()[:200]!r}"
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
        expect_output=re.compile(step.expect_output, flags) if getattr(step, "expect_output", None) else None,
        reject_output=re.compile(step.reject_output, flags) if getattr(step, "reject_output", None) else None,
        captures={n: re.compile(p, flags) for n, p in (getattr(step, "capture", {}) or {}).items()},
    )


AsyncCallable = Callable[..., Awaitable[Any]]
