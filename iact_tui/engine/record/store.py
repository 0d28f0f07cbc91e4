"""The run report on disk: ``RUNS_DIR/<run-id>/``.

- ``journal.jsonl``: the write-ahead journal. Each record is one JSON line, appended and
  fsync'ed before anything reports it; a save costs one append whatever the run's length.
- ``report.toml``: the report (README "Run report"). Rewritten atomically (temp file, fsync,
  rename, fsync of the folder) when the run starts, pauses and finishes (the journal is emptied
  after these), and in between at the end of every phase and at least every ``COMPACT_EVERY``
  seconds while records are made (the journal is kept then, so a reader that read the previous
  report.toml still finds every record). Its first lines say when it was written. Readers merge
  the two, skipping journal records the report already holds, so a ``kill -9`` at any instant
  leaves a readable run: a torn last journal line was never acknowledged and is dropped.
- ``checklist.toml``: the checklist as it was when the run started (pinned; sha256 in the report).
- ``logs/<step-id>.log``: each step's full output, secrets masked.
- ``.lock``: held (flock) by the process driving the run; a second driver is refused.
- ``inbox/``: requests from ``iact-tui tick`` while another process drives the run.

Records form a hash chain: each carries ``prev`` (the previous record's hash) and ``hash``
(sha256 over its canonical JSON), so a removed, reordered or edited record is detected.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import hashlib
import json
import os
import re
import socket
import time
import tomllib
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import tomli_w

from iact_tui import __version__
from iact_tui.engine.errors import IactError
from iact_tui.engine.record.state import RunState, reduce
from iact_tui.engine.status import RunStatus

SCHEMA_VERSION = 1
REPORT = "report.toml"
JOURNAL = "journal.jsonl"
PINNED = "checklist.toml"
LOCK = ".lock"
INBOX = "inbox"
GENESIS = "0" * 64
COMPACT_EVERY = (
    10.0  # seconds: how far report.toml may lag behind the journal while records are made
)


class ReportError(IactError):
    """A run folder or report that cannot be used; the message says why."""


class RunLocked(ReportError):
    pass


def now() -> str:
    """UTC timestamp with millisecond precision, ISO 8601."""
    t = datetime.now(UTC)
    return t.replace(microsecond=(t.microsecond // 1000) * 1000).isoformat()


def canonical(record: dict[str, Any]) -> bytes:
    body = {k: v for k, v in record.items() if k != "hash"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_hash(record: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(record)).hexdigest()


def check_chain(records: list[dict[str, Any]]) -> list[str]:
    """Problems with the records' hash chain, in words; empty when it is intact."""
    problems: list[str] = []
    prev = GENESIS
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            problems.append(f"event {i + 1} is not a record (a table / JSON object)")
            break
        seq = rec.get("seq")
        if seq != i + 1 or isinstance(seq, bool):
            problems.append(
                f"event {i + 1} has sequence number {seq!r}: an event was removed, added or reordered"
            )
            break
        if rec.get("prev") != prev:
            problems.append(
                f"event {seq} ({rec.get('type')}) does not follow event {i}: an event was removed, added or reordered"
            )
            break
        try:
            digest = record_hash(rec)
        except (TypeError, ValueError, RecursionError):
            problems.append(
                f"event {seq} ({rec.get('type')}) holds a value JSON cannot hold (a date?): it was changed after it was recorded"
            )
            break
        if digest != rec.get("hash"):
            problems.append(
                f"event {seq} ({rec.get('type')}) was changed after it was recorded (its hash does not match)"
            )
            break
        prev = rec["hash"]
    return problems


def default_runs_dir() -> Path:
    env = os.environ.get("IACT_RUNS_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_state_dir("iact-tui")) / "runs"


def new_run_id(checklist_id: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    slug = re.sub(r"[^a-z0-9]+", "-", checklist_id.lower()).strip("-")[:32] or "run"
    return f"{stamp}-{slug}-{os.urandom(2).hex()}"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` (a new file renamed over it), keeping the permissions the
    file had: in a group-shared runs folder, a rewrite by another member of the group (a tick
    recorded on a paused run) leaves report.toml as the group could write it, whatever their
    umask."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        mode = os.stat(path).st_mode & 0o7777
    except OSError:
        mode = None
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            if mode is not None:
                with contextlib.suppress(OSError):
                    os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


class RunLock:
    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK
        self.fd: int | None = None

    def acquire(self, run_id: str) -> None:
        if self.path.is_dir():
            raise ReportError(
                f"{self.path} is a folder, not a lock file: the run folder is damaged"
            )
        try:
            # group-writable as the umask allows: a shared runs folder (docs/team.md)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NONBLOCK, 0o664)
        except FileNotFoundError:
            raise ReportError(
                f"{self.path.parent} is not a run folder (it does not exist)"
            ) from None
        except OSError as exc:
            raise ReportError(
                f"{self.path} cannot be used as the run's lock: {exc.strerror or exc}"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 300).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise RunLocked(
                f"run {run_id} is in use by {holder}; it can be driven by one process at a time"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since {now()}".encode())
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    @staticmethod
    def is_held(folder: Path) -> bool:
        path = folder / LOCK
        if not path.is_file():
            return False
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value if v is not None]
    return value


def read_records(folder: Path, *, repair: bool = False) -> list[dict[str, Any]]:
    """All records of a run (report + journal), oldest first. Raises ReportError if damaged:
    every way a folder can be damaged (a file that is a folder, a record of the wrong shape, bytes
    that are not text) is a ReportError with the reason, never another exception."""
    report = folder / REPORT
    records: list[dict[str, Any]] = []
    if _exists(report):
        records = _report_events(report)
    journal = folder / JOURNAL
    if _exists(journal):
        last = records[-1]["seq"] if records else 0
        raw = _read_file(journal)
        good_end = 0
        pos = 0
        lines = raw.split(b"\n")
        for i, line in enumerate(lines):
            end = pos + len(line) + 1
            is_last = i == len(lines) - 1
            if not line:
                pos = end
                continue
            try:
                rec = json.loads(line)
            except (ValueError, RecursionError):
                if is_last or all(not rest for rest in lines[i + 1 :]):
                    break  # torn tail: never acknowledged
                raise ReportError(
                    f"{journal} is damaged at byte {pos}: a record in the middle cannot be read"
                ) from None
            if is_last:
                break  # no newline yet: the write was not finished
            problem = _record_problem(rec)
            if problem:
                raise ReportError(f"{journal} is damaged at byte {pos} (line {i + 1}): {problem}")
            if rec["seq"] > last:
                records.append(rec)
                last = rec["seq"]
            good_end = end
            pos = end
        if repair and good_end < len(raw):
            try:
                with open(journal, "r+b") as f:
                    f.truncate(good_end)
                    os.fsync(f.fileno())
            except OSError as exc:
                raise ReportError(f"{journal} cannot be repaired: {exc.strerror or exc}") from None
    if not records:
        raise ReportError(f"{folder} holds no run report")
    try:
        problems = check_chain(records)
    except (TypeError, ValueError, RecursionError):
        problems = ["a record holds values that are not JSON (dates, or nested too deep)"]
    if problems:
        raise ReportError(f"{folder}: the report is damaged: {problems[0]}")
    return records


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError) as exc:
        raise ReportError(f"{path} cannot be looked at: {exc}") from None


def _read_file(path: Path) -> bytes:
    """The bytes of a run's file, or a ReportError naming what is wrong with it."""
    if path.is_dir():
        raise ReportError(f"{path} is a folder, not a file: the run folder is damaged")
    try:
        return path.read_bytes()
    except PermissionError:
        raise ReportError(unreadable(path)) from None
    except OSError as exc:
        raise ReportError(f"{path} cannot be read: {exc.strerror or exc}") from None


def _report_events(report: Path) -> list[dict[str, Any]]:
    """The ``[[events]]`` of report.toml, each checked to be a record."""
    raw = _read_file(report)
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ReportError(f"{report} cannot be read: not UTF-8 text (byte {exc.start})") from None
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        raise ReportError(f"{report} cannot be read: {exc}") from None
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ReportError(
            f"{report} has schema_version {data.get('schema_version')!r}; this iact-tui reads {SCHEMA_VERSION}"
        )
    events = data.get("events", [])
    if not isinstance(events, list):
        raise ReportError(f"{report} is damaged: 'events' is not a list of tables ([[events]])")
    for n, rec in enumerate(events, 1):
        problem = _record_problem(rec)
        if problem:
            raise ReportError(f"{report} is damaged: event {n}: {problem}")
    return list(events)


def _record_problem(rec: Any) -> str:
    """Why a journal line or ``[[events]]`` entry is not a record ('' when it is one)."""
    if not isinstance(rec, dict):
        what = "a list" if isinstance(rec, list) else f"a {type(rec).__name__}"
        return f"it is {what}, not a record (a table / JSON object)"
    seq = rec.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        return f"its 'seq' is {seq!r}, not a positive whole number"
    for key in ("type", "hash", "prev", "at"):
        if not isinstance(rec.get(key), str):
            return f"event {seq} has no text '{key}'"
    return ""


WILDCARDS = "*?[]"


def resolve_run(ref: str | None, runs_dir: Path) -> Path:
    """A run folder from an id (or a unique part of one), a folder or a report path. Raises
    ReportError, with the reason, for anything else (wildcards, an empty reference, a name the
    system refuses)."""
    if ref is None:
        raise ReportError("no run given")
    if not ref.strip():
        raise ReportError(
            "the run reference is empty: give a run id, its folder or its report.toml"
        )
    try:
        return _resolve_run(ref, runs_dir)
    except PermissionError as exc:
        raise ReportError(f"run '{ref}': {unreadable(exc.filename or runs_dir)}") from None
    except (OSError, ValueError, RuntimeError) as exc:
        raise ReportError(f"run '{ref}' cannot be looked up: {exc}") from None


def unreadable(path: str | Path) -> str:
    """What to say of a run's file or folder this user may not read (another person's run)."""
    import getpass

    return (
        f"{path} cannot be read by this user ({getpass.getuser()}): to watch another person's "
        'run, share the runs folder through a group (docs/team.md, "A shared runs folder")'
    )


def _resolve_run(ref: str, runs_dir: Path) -> Path:
    p = Path(ref).expanduser()
    if p.name in (REPORT, JOURNAL) and p.parent.is_dir():
        return p.parent
    if p.is_dir() and ((p / REPORT).exists() or (p / JOURNAL).exists()):
        return p
    if any(c in ref for c in WILDCARDS):
        raise ReportError(
            f"'{ref}' is not a run reference: wildcards ({' '.join(WILDCARDS)}) are not accepted; "
            "give a run id or a unique part of one, its folder or its report.toml (iact-tui list shows them)"
        )
    candidate = runs_dir / ref
    if candidate.is_dir():
        return candidate
    matches = (
        sorted(d for d in runs_dir.iterdir() if ref in d.name and d.is_dir())
        if runs_dir.is_dir()
        else []
    )
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise ReportError(f"'{ref}' matches {len(matches)} runs in {runs_dir}; give more of the id")
    raise ReportError(
        f"no run '{ref}' (looked for a folder, a report file, and an id in {runs_dir})"
    )


def read_state(folder: Path) -> RunState:
    """A run's state from its folder; ReportError (with the reason) when it cannot be read, its
    records cannot be interpreted, or the folder could not be driven (see ``folder_problem``)."""
    state = _state_of(folder, read_records(folder))
    problem = folder_problem(folder)
    if problem:
        raise ReportError(problem)
    return state


def folder_problem(folder: Path) -> str:
    """What in a run folder's layout stops it from being driven ('' when nothing does)."""
    lock, logs = folder / LOCK, folder / "logs"
    if lock.is_dir():
        return f"{lock} is a folder, not a lock file: the run folder is damaged"
    if logs.exists() and not logs.is_dir():
        return f"{logs} is a file, not the folder of the step logs: the run folder is damaged"
    return ""


# what folding well-chained records of the wrong shape into a state raises
READ_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError, RecursionError)


def _uninterpretable(folder: Path, exc: BaseException) -> str:
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return f"{folder}: the report is damaged: its records cannot be interpreted ({detail})"


def _state_of(folder: Path, records: list[dict[str, Any]]) -> RunState:
    try:
        return reduce(records)
    except READ_ERRORS as exc:
        raise ReportError(_uninterpretable(folder, exc)) from None


def list_runs(runs_dir: Path) -> list[tuple[Path, RunState | None, str]]:
    """Every run folder, newest first, with its state or the reason it cannot be read. One
    damaged folder never stops the listing of the others."""
    out: list[tuple[Path, RunState | None, str]] = []
    try:
        folders = (
            sorted((d for d in runs_dir.iterdir() if d.is_dir()), reverse=True)
            if runs_dir.is_dir()
            else []
        )
    except PermissionError:
        raise ReportError(f"the runs folder: {unreadable(runs_dir)}") from None
    except OSError as exc:
        raise ReportError(
            f"the runs folder {runs_dir} cannot be read: {exc.strerror or exc}"
        ) from None
    for folder in folders:
        try:
            out.append((folder, read_state(folder), ""))
        except ReportError as exc:
            out.append((folder, None, str(exc)))
        except Exception as exc:  # one unreadable folder must not hide the others
            out.append((folder, None, f"{folder} cannot be read: {type(exc).__name__}: {exc}"))
    return out


class RunStore:
    """The live record of one run, held by the one process that drives it."""

    def __init__(self, folder: Path, records: list[dict[str, Any]]) -> None:
        self.folder = folder
        self.records = records
        self.state = reduce(records)
        self.lock = RunLock(folder)
        self._journal: Any = None
        self.redact: Any = None  # the runner's masker of a record's fields (secrets by value)
        self.compact_every = COMPACT_EVERY
        self.clock = time.monotonic  # tests give a fake one
        self._compacted = self.clock()
        self._behind = False  # report.toml lacks records that are in the journal
        self._events_toml: list[str] = []  # records[i] as its [[events]] table, made once
        # group commit (append_soon): (line, record, on_durable, future, files) made, not yet
        # written; the group being written and synced on the journal's thread
        self._pending: list[tuple[bytes, dict[str, Any], Any, Any, tuple[Any, ...]]] = []
        self._inflight: tuple[list[Any], concurrent.futures.Future[Any]] | None = None
        self._group_thread: concurrent.futures.ThreadPoolExecutor | None = None
        self._tail: tuple[int, str] | None = None  # (seq, hash) of the last record made
        self._scheduled = False
        self._failed: OSError | None = None

    # -- opening ------------------------------------------------------------------------------

    @classmethod
    def create(
        cls, runs_dir: Path, run_id: str, checklist_text: str, created: dict[str, Any]
    ) -> RunStore:
        folder = runs_dir / run_id
        try:
            folder.mkdir(parents=True)
        except FileExistsError:
            raise ReportError(f"{folder} exists already") from None
        except OSError as exc:
            raise ReportError(f"cannot create the run folder {folder}: {exc.strerror}") from None
        (folder / "logs").mkdir()
        # made now, by the operator (with their umask, as the folder): made later by whoever
        # ticks first, it would be theirs and their umask's, and a shared runs folder's other
        # members (the driver among them) could not leave or answer requests in it
        (folder / INBOX).mkdir()
        atomic_write(folder / PINNED, checklist_text.encode())
        store = cls(folder, [])
        store.lock.acquire(run_id)
        store.append("run_created", run_id=run_id, **created)
        store.compact()
        return store

    @classmethod
    def open(cls, folder: Path) -> RunStore:
        """Open an existing run to drive it: takes the lock, repairs a torn journal tail."""
        run_id = folder.name
        lock = RunLock(folder)
        lock.acquire(run_id)
        try:
            records = read_records(folder, repair=True)
            try:
                store = cls(folder, records)
            except READ_ERRORS as exc:
                raise ReportError(_uninterpretable(folder, exc)) from None
            logs = folder / "logs"
            if logs.exists() and not logs.is_dir():
                raise ReportError(
                    f"{logs} is a file, not the folder of the step logs: the run folder is damaged"
                )
            logs.mkdir(exist_ok=True)
        except OSError as exc:
            lock.release()
            raise ReportError(f"{folder} cannot be used: {exc.strerror or exc}") from None
        except BaseException:
            lock.release()
            raise
        store.lock = lock
        return store

    # -- writing ------------------------------------------------------------------------------

    def append(self, type_: str, **fields: Any) -> dict[str, Any]:
        """Make one record durable, then fold it into the state. Returns the record. Records
        waiting for a group commit (``append_soon``) are written first, in one write with it."""
        rec = self._make(type_, fields, None, None, ())
        self._commit()
        return rec

    def append_soon(
        self,
        type_: str,
        on_durable: Callable[[dict[str, Any]], None] | None = None,
        *,
        sync_files: Sequence[Any] = (),
        **fields: Any,
    ) -> asyncio.Future[dict[str, Any]] | None:
        """Group commit, for records that arrive together (the hosts of a batch starting or
        finishing): the record is written with the others made in this turn of the event loop,
        and while one group is written and synced (in a thread) the next one gathers. Each
        record is folded into the state, in order, and its ``on_durable`` called only once it is
        durable (durable before shown). ``sync_files`` (open files, e.g. the host's log that the
        record gives the sha256 of) are synced and closed before the record is written. Returns
        a future done when the record is durable (None without a running loop: the record is
        written before this returns). An ``append`` writes what waits first: the records are in
        the order they were made. A failed group is raised by the next ``append``; none of its
        records is folded or announced."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        future: asyncio.Future[dict[str, Any]] | None = (
            loop.create_future() if loop is not None else None
        )
        self._make(type_, fields, on_durable, future, tuple(sync_files))
        if loop is None:
            self._commit()
        elif not self._scheduled and self._inflight is None:
            self._scheduled = True
            loop.call_soon(self._commit_soon)
        return future

    def commit(self) -> None:
        """Write every record waiting for a group commit now (raises a failed group's error)."""
        self._commit()

    def _make(
        self,
        type_: str,
        fields: dict[str, Any],
        on_durable: Any,
        future: Any,
        files: tuple[Any, ...],
    ) -> dict[str, Any]:
        """A record chained after the last one made (written or waiting), queued to be written;
        nothing is written or folded yet."""
        if self._failed is not None:  # a group commit failed: its records were not written
            failed, self._failed = self._failed, None
            raise failed
        if self.redact is not None:
            fields = self.redact(fields)
        last_seq, last_hash = self._tail or (self.state.last_seq, self.state.last_hash)
        rec: dict[str, Any] = {
            "seq": last_seq + 1,
            "at": now(),
            "type": type_,
            **_without_none(fields),
            "prev": last_hash or GENESIS,
        }
        rec["hash"] = record_hash(rec)
        self._tail = (rec["seq"], rec["hash"])
        line = json.dumps(rec, sort_keys=True, ensure_ascii=False).encode() + b"\n"
        self._pending.append((line, rec, on_durable, future, files))
        return rec

    def _persist(self, items: list[Any]) -> None:
        """Sync the files the records vouch for, then write the records and sync the journal.
        One group at a time (on the group thread, or here when nothing is in flight). A failure
        cuts the journal back to what was durable before and raises."""
        for *_, files in items:
            for f in files:
                f.flush()
                os.fdatasync(f.fileno())
                f.close()
        if self._journal is None:
            self._journal = open(self.folder / JOURNAL, "ab")
        size = os.fstat(self._journal.fileno()).st_size
        try:
            self._journal.write(b"".join(item[0] for item in items))
            self._journal.flush()
            os.fdatasync(self._journal.fileno())
        except OSError:
            self._drop_unwritten(size)
            raise

    def _commit(self) -> None:
        """Write and sync what waits, here and now, after the group in flight (if any) ends."""
        self._settle()
        if self._failed is not None:
            failed, self._failed = self._failed, None
            self._fail(self._pending, failed)
            self._pending, self._tail = [], None
            raise failed
        if not self._pending:
            return
        items, self._pending = self._pending, []
        try:
            self._persist(items)
        except OSError as exc:
            self._fail(items, exc)
            self._tail = None
            raise
        self._fold(items)

    def _settle(self) -> None:
        """Wait for the group in flight (a millisecond or so) and fold it: an ``append`` comes
        after it, and the journal has one writer at a time."""
        inflight = self._inflight
        if inflight is None:
            return
        items, done = inflight
        with contextlib.suppress(BaseException):  # its error is _synced's to handle
            done.result()
        self._synced(items, done, go_on=False)  # what waits is written by the caller, here

    def _commit_soon(self) -> None:
        """The end of the loop's turn: the group goes to the thread; the next gathers meanwhile."""
        self._scheduled = False
        if self._inflight is not None or not self._pending:
            return
        items, self._pending = self._pending, []
        if self._group_thread is None:
            self._group_thread = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix="iact-journal"
            )
        done = self._group_thread.submit(self._persist, items)
        self._inflight = (items, done)
        loop = asyncio.get_running_loop()

        def back_on_the_loop(_f: Any) -> None:
            with contextlib.suppress(RuntimeError):  # the loop has ended: close() settles it
                loop.call_soon_threadsafe(self._synced, items, done)

        done.add_done_callback(back_on_the_loop)

    def _synced(
        self, items: list[Any], done: concurrent.futures.Future[Any], go_on: bool = True
    ) -> None:
        if self._inflight is None or self._inflight[0] is not items:
            return  # settled already (an append waited for it)
        self._inflight = None
        error = done.exception()
        if error is not None:
            failed = error if isinstance(error, OSError) else OSError(str(error))
            self._fail(items + self._pending, failed)
            self._pending, self._failed, self._tail = [], failed, None
            return
        self._fold(items)
        if go_on and self._pending and not self._scheduled:
            self._commit_soon()

    def _fold(self, items: list[Any]) -> None:
        """Durable: into the records and the state in order, then tell whoever waits."""
        for item in items:
            self.records.append(item[1])
            self.state.apply(item[1])
        if not self._pending and self._inflight is None:
            self._tail = None
        self._behind = True
        for _, rec, on_durable, future, _ in items:
            if future is not None and not future.done():
                future.set_result(rec)
            if on_durable is not None:
                on_durable(rec)
        self.compact_if_due()

    @staticmethod
    def _fail(items: list[Any], exc: BaseException) -> None:
        for item in items:
            future = item[3]
            if future is not None and not future.done():
                future.set_exception(exc)

    def _drop_unwritten(self, size: int | None) -> None:
        """After a failed write or sync, cut the journal back to what was durable before it:
        records that were not folded must not stay in the file (a later record takes their seq)."""
        journal, self._journal = self._journal, None
        with contextlib.suppress(OSError, ValueError):
            if journal is not None:
                journal.close()
        if size is not None:
            with contextlib.suppress(OSError):
                os.truncate(self.folder / JOURNAL, size)

    def report_data(self) -> dict[str, Any]:
        return build_report(self.records, self.state)

    def report_text(self) -> str:
        """report.toml's text: the header, then ``tomli_w.dumps(report_data())``. Records never
        change once made, so each one's [[events]] table is written out once and kept: a rewrite
        costs the [run] and [[steps]] tables, the new records and the I/O."""
        for rec in self.records[len(self._events_toml) :]:
            self._events_toml.append(tomli_w.dumps({"events": [rec]}, multiline_strings=False))
        tables = {k: v for k, v in build_report([], self.state).items() if k != "events"}
        body = tomli_w.dumps(tables, multiline_strings=False)
        if self._events_toml:
            body += "\n" + "\n".join(self._events_toml)
        return report_header(self.records, self.state) + body

    def compact(self, *, empty_journal: bool = True) -> None:
        """Rewrite report.toml atomically with everything recorded, then empty the journal
        (unless ``empty_journal`` is false: readers skip the records the report holds)."""
        self._commit()
        atomic_write(self.folder / REPORT, self.report_text().encode())
        self._compacted = self.clock()
        self._behind = False
        if not empty_journal:
            return
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        journal = self.folder / JOURNAL
        if journal.exists():
            with open(journal, "r+b") as f:
                f.truncate(0)
                os.fsync(f.fileno())

    def checkpoint(self) -> bool:
        """Bring report.toml up to date while the run goes on (the end of a phase), keeping the
        journal. The records are durable in the journal already, so a failure to write the report
        (a full disk) is not an error here: False, and the next checkpoint tries again."""
        try:
            self.compact(empty_journal=False)
        except OSError:
            self._compacted = self.clock()  # not again at every record
            return False
        return True

    def compact_if_due(self) -> bool:
        """A checkpoint when report.toml lacks records and was written ``compact_every`` seconds
        ago or more. Called at every record, and by the runner while a step runs."""
        if not self._behind or self.clock() - self._compacted < self.compact_every:
            return False
        return self.checkpoint()

    def close(self) -> None:
        try:
            self.compact()
        finally:
            if self._group_thread is not None:
                self._group_thread.shutdown(wait=True)
                self._group_thread = None
            self.lock.release()

    # -- logs and inbox -----------------------------------------------------------------------

    def log_path(self, step_id: str) -> Path:
        return self.folder / "logs" / f"{step_id}.log"

    def inbox(self) -> Path:
        path = self.folder / INBOX
        path.mkdir(exist_ok=True)
        return path


def report_header(records: list[dict[str, Any]], state: RunState) -> str:
    """The comment at the top of report.toml: when it was written, and that it may lag."""
    last = records[-1]["seq"] if records else 0
    written = datetime.now(UTC).isoformat(timespec="milliseconds")  # the real time, not a record's
    return (
        f"# iact-tui run report, written {written}: events 1 to {last}, run status {state.status}.\n"
        f"# {JOURNAL} in this folder may hold newer records; a reader merges both, skipping the\n"
        "# ones this file holds (iact-tui list, resume, export and verify do; docs/run-report.md).\n\n"
    )


def build_report(records: list[dict[str, Any]], state: RunState) -> dict[str, Any]:
    info = dict(state.info)
    run: dict[str, Any] = {
        "id": state.run_id,
        "status": state.status,
        "checklist_id": info.get("checklist_id", ""),
        "checklist_title": info.get("checklist_title", ""),
        "checklist_version": info.get("checklist_version", ""),
        "checklist_sha256": state.checklist_sha256,
        "checklist_path": info.get("checklist_path", ""),
        "operator": info.get("operator", ""),
        "host": info.get("machine", ""),
        "iact_tui_version": info.get("iact_tui_version", __version__),
        "mode": info.get("mode", ""),
        "started_at": datetime.fromisoformat(state.started_at) if state.started_at else None,
        "finished_at": datetime.fromisoformat(state.finished_at) if state.finished_at else None,
    }
    if state.pause_reason and state.status == RunStatus.PAUSED:
        run["pause_reason"] = state.pause_reason
    if state.rollback_started:
        run["rollback_reason"] = state.rollback_reason
    if state.on_failure:
        run["on_failure"] = state.on_failure
    skipped = state.skipped_approvals
    if skipped:
        run["approvals_skipped"] = [s.id for s in skipped]
    run["variables"] = dict(info.get("variables", {}))
    if info.get("vars_file"):
        run["vars_file"] = dict(info["vars_file"])  # --vars FILE: path and sha256
    if info.get("secret_variables"):
        run["secret_variables"] = list(info["secret_variables"])
    if state.captures:
        run["captures"] = dict(state.captures)
    if state.choices:
        run["choices"] = {k: list(v) for k, v in state.choices.items()}
    if state.approvers:
        run["approvers"] = dict(state.approvers)
    pinned = info.get("approver_keys")
    if isinstance(pinned, dict) and pinned:  # the roles whose answers must be signed (a quick
        run["signed_roles"] = sorted(pinned)  # read of the run, as `show` makes, has no records)
    if state.hosts:
        run["hosts"] = [dict(h) for h in state.hosts.values()]
    return _without_none(
        {
            "schema_version": SCHEMA_VERSION,
            "run": run,
            "steps": [s.to_toml() for s in state.steps.values()],
            "host_steps": state.fleet.to_toml() or None,  # one per (step, host) of a group step
            "events": records,
        }
    )


@contextlib.contextmanager
def opened(folder: Path) -> Iterator[RunStore]:
    store = RunStore.open(folder)
    try:
        yield store
    finally:
        store.close()
