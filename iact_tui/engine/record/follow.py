"""Following a run that another process drives: read-only, no lock, any number of followers.

The driving process (``RunStore``) appends each record to ``journal.jsonl`` before anything shows
it, and now and then rewrites ``report.toml`` (atomically) and empties the journal. A follower
keeps the byte offset it has read the journal to and, at each look:

- reads the bytes appended since (complete lines only; a line still being written waits for the
  next look), and takes each record that continues the chain (``seq`` one more, ``prev`` the hash
  of the last record it holds);
- when the journal shrank or was replaced (a compaction emptied it), or a record does not continue
  the chain, it reads ``report.toml`` and the journal again and takes what is new (*resync*);
- reads the new bytes of the logs it is asked to follow (``logs/<step>.log``), complete lines only.

A look costs two ``stat`` calls and the new bytes; nothing is written, no lock is taken, so a
follower never slows the run down beyond the page cache it shares. Polling is bounded and its
period is the follower's choice (``POLL``: 50 ms keeps "written → seen" well under 250 ms).

A follower needs only read access: the run folder and its files readable (and the folders
searchable) by the follower's user, e.g. through a group-shared runs folder (docs/team.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iact_tui.engine.record.state import RunState, reduce
from iact_tui.engine.record.store import (
    JOURNAL,
    READ_ERRORS,
    REPORT,
    ReportError,
    _record_problem,
    _report_events,
)
from iact_tui.engine.status import StepStatus

POLL = 0.05  # seconds between two looks at the run's files
MAX_RESYNCS = 8  # attempts at reading report + journal consistently before giving up on a look
MAX_LINE_BYTES = 4 * 1024 * 1024  # a log "line" longer than this is cut (nothing waits forever)
LOG_START_BYTES = 64 * 1024  # how much of a log already written a new log follower reads first
TAIL_BYTES = 64 * 1024  # how much of report.toml's end holds its last record


@dataclass
class Update:
    """What changed since the previous look."""

    records: list[dict[str, Any]] = field(default_factory=list)  # new records, oldest first
    output: dict[str, list[str]] = field(default_factory=dict)  # step id -> new complete lines
    skipped: dict[str, int] = field(
        default_factory=dict
    )  # step id -> new lines only counted (a flood)
    reloaded: bool = False  # the records were read again from the start (state rebuilt)
    problem: str = (
        ""  # the folder could not be read this time (the reason); the next look tries again
    )

    def __bool__(self) -> bool:
        return bool(self.records or self.output or self.skipped or self.reloaded or self.problem)


class LogFollower:
    """The new complete lines of one step's log, as the driver writes them.

    ``keep_bytes``: during a flood, only the newest lines (in the last ``keep_bytes`` of what is
    new) are decoded and returned; the others are only counted (``skipped``), which costs a
    ``count`` over bytes, not a string per line. A screen shows the newest lines anyway, and
    every line stays in the log. A log already longer than ``start_bytes`` when first read
    (a watcher that attaches while the step runs) is read from its last ``start_bytes``; the
    lines before are counted in ``skipped`` too, so that a count of the step's lines is whole."""

    def __init__(
        self,
        path: Path,
        *,
        from_start: bool = False,
        start_bytes: int = LOG_START_BYTES,
        keep_bytes: int | None = None,
    ) -> None:
        self.path = path
        self._offset = 0
        self._ino: int | None = None
        self._partial = b""
        self._first = True
        self._from_start = from_start
        self._start_bytes = start_bytes
        self._keep_bytes = keep_bytes
        self.skipped = 0  # lines counted but not returned, at the last read

    def read_new(self) -> list[str]:
        self.skipped = 0
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return []
        if self._ino is not None and (info.st_ino != self._ino or info.st_size < self._offset):
            self._offset, self._partial = 0, b""  # a new log (a new run of the step, a restore)
        self._ino = info.st_ino
        skip_first_line = flood = False
        counted_before = 0  # a log already long when followed: its earlier lines, counted
        if self._first:
            self._first = False
            if not self._from_start and info.st_size > self._start_bytes:
                self._offset = info.st_size - self._start_bytes
                skip_first_line = flood = True  # it starts somewhere inside a line
                with open(self.path, "rb") as f:
                    counted_before = _count_lines(f, self._offset)
        if info.st_size == self._offset:
            return []
        with open(self.path, "rb") as f:
            f.seek(self._offset)
            if self._keep_bytes is not None and info.st_size - self._offset > self._keep_bytes:
                # a flood: count the lines that end before the newest keep_bytes, keep the rest
                cut = info.st_size - self._keep_bytes
                self.skipped = _count_lines(f, cut - self._offset)
                self._partial = b""
                skip_first_line = flood = True  # the kept part starts inside a line
                self._offset = cut
            data = f.read(info.st_size - self._offset)
        self._offset += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()  # b"" after a final newline, else a line still being written
        if len(self._partial) > MAX_LINE_BYTES:
            lines.append(self._partial)
            self._partial = b""
        if skip_first_line and lines:
            lines = lines[1:]
            self.skipped += 1 if flood else 0  # the line cut in two at the boundary
        self.skipped += counted_before
        return [line.decode("utf-8", errors="replace") for line in lines]


def _count_lines(f: Any, size: int) -> int:
    """The newlines in the next ``size`` bytes of ``f`` (read in blocks: bounded memory)."""
    count = 0
    while size > 0:
        block = f.read(min(size, 1 << 20))
        if not block:
            break
        count += block.count(b"\n")
        size -= len(block)
    return count


class RunFollower:
    """A run's records and state as they are written, for a screen or a script that watches."""

    def __init__(
        self,
        folder: Path,
        *,
        poll: float = POLL,
        clock: Callable[[], float] = time.monotonic,
        keep_bytes: int | None = None,
        logs: bool = True,
    ) -> None:
        self.folder = Path(folder)
        self.logs = logs  # False: the records only (a screen that has the output another way)
        self.poll_interval = poll
        self.clock = clock
        self.records: list[dict[str, Any]] = []
        self.state = RunState()
        self._offset = 0  # bytes of the journal read (up to the end of a complete line)
        self._ino: int | None = None
        self._report_id: tuple[int, int, int] | None = None
        self._logs: dict[str, LogFollower] = {}
        self._wanted_logs: set[str] = set()
        self.keep_bytes = keep_bytes  # a flood of a log: only its newest bytes are read as lines
        self.looks = 0
        self.resyncs = 0
        self.opened = Update()  # open()'s look

    # -- records ------------------------------------------------------------------------------

    @property
    def last_seq(self) -> int:
        return int(self.records[-1]["seq"]) if self.records else 0

    @property
    def last_hash(self) -> str:
        return str(self.records[-1]["hash"]) if self.records else ""

    def open(self) -> RunState:
        """Read the run as it is now; raises ReportError (with the reason) when it cannot be."""
        update = self.look()
        if update.problem:
            raise ReportError(update.problem)
        if not self.records:
            raise ReportError(f"{self.folder} holds no run report")
        self.opened = update  # what the first look read besides the records (the output so far)
        return self.state

    def look(self) -> Update:
        """One look at the run's files: the records and log lines written since the last."""
        self.looks += 1
        update = Update()
        try:
            self._look_records(update)
        except ReportError as exc:
            update.problem = str(exc)
        except PermissionError as exc:
            update.problem = _permission_problem(self.folder, exc)
        except OSError as exc:
            update.problem = f"{self.folder} cannot be read: {exc.strerror or exc}"
        if self.logs:
            self._look_logs(update)
        return update

    def _look_records(self, update: Update) -> None:
        journal = self.folder / JOURNAL
        try:
            info = os.stat(journal)
            size, ino = info.st_size, info.st_ino
        except FileNotFoundError:
            size, ino = 0, None
        report = self._report_identity()
        report_changed, self._report_id = report != self._report_id, report
        if not self.records or ino != self._ino or size < self._offset:
            self._resync(update)
            return
        if size == self._offset:
            # a compaction emptied the journal and it holds as much as when we last read it
            # (nothing, say): only the rewritten report has the records we have not seen
            if report_changed and self._report_last_seq() > self.last_seq:
                self._resync(update)
            return
        with open(journal, "rb") as f:
            f.seek(self._offset)
            data = f.read(size - self._offset)
        new, used, broken = self._parse_journal(data, self.last_seq, self.last_hash)
        if broken:
            self._resync(update)
            return
        self._offset += used
        self._take(new, update)

    def _report_identity(self) -> tuple[int, int, int] | None:
        try:
            info = os.stat(self.folder / REPORT)
        except FileNotFoundError:
            return None
        return (info.st_ino, info.st_size, info.st_mtime_ns)  # a rewrite is a new file (a rename)

    def _report_last_seq(self) -> int:
        """The seq of report.toml's last record, read from its end (not the whole file)."""
        try:
            with open(self.folder / REPORT, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - TAIL_BYTES))
                tail = f.read()
        except FileNotFoundError:
            return 0
        cut = tail.rfind(b"\n[[events]]\n")
        if cut < 0:
            return self.last_seq + 1  # cannot tell from the end: read it all
        match = re.search(rb"^seq = (\d+)$", tail[cut:], re.MULTILINE)
        return int(match.group(1)) if match else self.last_seq + 1

    @staticmethod
    def _parse_journal(
        data: bytes, last_seq: int, last_hash: str
    ) -> tuple[list[dict[str, Any]], int, bool]:
        """The records in ``data`` that continue the chain after (last_seq, last_hash), the bytes
        used (up to the end of the last complete line), and whether the chain broke."""
        out: list[dict[str, Any]] = []
        used = 0
        pos = 0
        while True:
            end = data.find(b"\n", pos)
            if end < 0:
                break  # a line still being written: the next look takes it
            line = data[pos:end]
            pos = end + 1
            used = pos
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except (ValueError, RecursionError):
                return out, used, True
            if _record_problem(rec):
                return out, used, True
            seq = rec["seq"]
            if seq <= last_seq:
                continue  # the report holds it already
            if seq != last_seq + 1 or (last_hash and rec["prev"] != last_hash):
                return out, used, True
            out.append(rec)
            last_seq, last_hash = seq, rec["hash"]
        return out, used, False

    def _resync(self, update: Update) -> None:
        """Read report.toml and the journal again: a compaction emptied the journal, or this is
        the first look. Bounded: a driver that compacts between our two reads is read again."""
        journal = self.folder / JOURNAL
        report = self.folder / REPORT
        self.resyncs += 1
        problem = ""
        for _ in range(MAX_RESYNCS):
            try:
                before = os.stat(journal)
                ino_before: int | None = before.st_ino
            except FileNotFoundError:
                ino_before = None
            events = _report_events(report) if report.exists() else []
            try:
                with open(journal, "rb") as f:
                    info = os.fstat(f.fileno())
                    data = f.read()
                ino: int | None = info.st_ino
            except FileNotFoundError:
                data, ino = b"", None
            if ino != ino_before:
                continue  # replaced between the two reads
            merged = list(events)
            last_seq = merged[-1]["seq"] if merged else 0
            last_hash = merged[-1]["hash"] if merged else ""
            new, used, broken = self._parse_journal(data, last_seq, last_hash)
            if broken:
                problem = f"{journal} does not continue {report}: read again"
                continue
            merged.extend(new)
            if not merged:
                raise ReportError(f"{self.folder} holds no run report")
            self._install(merged, update)
            self._offset, self._ino = used, ino
            return
        raise ReportError(problem or f"{self.folder} changed under every read")

    def _install(self, merged: list[dict[str, Any]], update: Update) -> None:
        """Take a complete list of records: only the new ones when it extends what we hold."""
        held = len(self.records)
        if held and len(merged) >= held and merged[held - 1].get("hash") == self.last_hash:
            self._take(merged[held:], update)
            return
        try:
            state = reduce(merged)
        except READ_ERRORS as exc:
            raise ReportError(
                f"{self.folder}: the report is damaged: its records cannot be interpreted ({exc})"
            ) from None
        self.records = merged
        self.state = state
        update.records = list(merged)
        update.reloaded = True

    def _take(self, new: list[dict[str, Any]], update: Update) -> None:
        for rec in new:
            try:
                self.state.apply(rec)
            except READ_ERRORS as exc:
                raise ReportError(
                    f"{self.folder}: record {rec.get('seq')} cannot be interpreted ({exc})"
                ) from None
            self.records.append(rec)
            update.records.append(rec)

    # -- logs ---------------------------------------------------------------------------------

    def follow_log(self, step_id: str, *, from_start: bool = False) -> None:
        """Read the new lines of this step's log at every look (besides the running steps')."""
        self._wanted_logs.add(step_id)
        if step_id not in self._logs:
            self._logs[step_id] = LogFollower(
                self.log_path(step_id), from_start=from_start, keep_bytes=self.keep_bytes
            )

    def unfollow_log(self, step_id: str) -> None:
        self._wanted_logs.discard(step_id)
        self._logs.pop(step_id, None)

    def log_path(self, step_id: str) -> Path:
        return self.folder / "logs" / f"{step_id}.log"

    def _look_logs(self, update: Update) -> None:
        running = {s.id for s in self.state.steps.values() if s.status == StepStatus.RUNNING}
        for step_id in running | self._wanted_logs:
            follower = self._logs.get(step_id)
            if follower is None:
                # a step that starts while we watch: its log from the start of this attempt
                follower = self._logs[step_id] = LogFollower(
                    self.log_path(step_id), keep_bytes=self.keep_bytes
                )
            try:
                lines = follower.read_new()
            except OSError:
                continue
            if lines:
                update.output[step_id] = lines
            if follower.skipped:
                update.skipped[step_id] = follower.skipped
        for step_id in list(self._logs):
            if step_id not in running and step_id not in self._wanted_logs:
                # finished: one last read so that its last lines are not lost, then let it go
                follower = self._logs.pop(step_id)
                try:
                    lines = follower.read_new()
                except OSError:
                    lines = []
                if lines:
                    update.output.setdefault(step_id, []).extend(lines)
                if follower.skipped:
                    update.skipped[step_id] = update.skipped.get(step_id, 0) + follower.skipped

    # -- waiting ------------------------------------------------------------------------------

    async def updates(self, stop: asyncio.Event | None = None) -> AsyncIterator[Update]:
        """Each non-empty update, looking every ``poll_interval`` seconds until ``stop`` is set."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            update = self.look()
            if update:
                yield update
            try:
                await asyncio.wait_for(stop.wait(), self.poll_interval)
            except TimeoutError:
                pass

    def wait_for(self, condition: Callable[[RunState], bool], timeout: float) -> bool:
        """Look until ``condition(state)`` holds or ``timeout`` seconds pass (bounded)."""
        deadline = self.clock() + timeout
        while True:
            self.look()
            if self.records and condition(self.state):
                return True
            if self.clock() >= deadline:
                return False
            time.sleep(self.poll_interval)


def _permission_problem(folder: Path, exc: PermissionError) -> str:
    from iact_tui.engine.record.store import unreadable

    return unreadable(exc.filename or folder)


def is_driven(folder: Path) -> bool:
    """True when a process holds the run's lock (it is live)."""
    from iact_tui.engine.record.store import RunLock

    return RunLock.is_held(folder)
