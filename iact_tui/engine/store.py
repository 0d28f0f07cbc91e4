"""The run report on disk: ``RUNS_DIR/<run-id>/``.

- ``journal.jsonl``: the write-ahead journal. Each record is one JSON line, appended and
  fsync'ed before anything reports it; a save costs one append whatever the run's length.
- ``report.toml``: the report (README "Run report"). Rewritten atomically (temp file, fsync,
  rename, fsync of the folder) when the run starts, pauses and finishes; the journal is emptied
  after each such compaction. Readers merge the two, so a ``kill -9`` at any instant leaves a
  readable run: a torn last journal line was never acknowledged and is dropped.
- ``checklist.toml``: the checklist as it was when the run started (pinned; sha256 in the report).
- ``logs/<step-id>.log``: each step's full output, secrets masked.
- ``.lock``: held (flock) by the process driving the run; a second driver is refused.
- ``inbox/``: requests from ``iact-tui tick`` while another process drives the run.

Records form a hash chain: each carries ``prev`` (the previous record's hash) and ``hash``
(sha256 over its canonical JSON), so a removed, reordered or edited record is detected.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import socket
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import tomli_w

from iact_tui import __version__
from iact_tui.engine.state import RunState, reduce

SCHEMA_VERSION = 1
REPORT = "report.toml"
JOURNAL = "journal.jsonl"
PINNED = "checklist.toml"
LOCK = ".lock"
INBOX = "inbox"
GENESIS = "0" * 64


class ReportError(Exception):
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
        seq = rec.get("seq")
        if seq != i + 1:
            problems.append(f"event {i + 1} has sequence number {seq}: an event was removed, added or reordered")
            break
        if rec.get("prev") != prev:
            problems.append(f"event {seq} ({rec.get('type')}) does not follow event {i}: an event was removed, added or reordered")
            break
        if record_hash(rec) != rec.get("hash"):
            problems.append(f"event {seq} ({rec.get('type')}) was changed after it was recorded (its hash does not match)")
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
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


class RunLock:
    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK
        self.fd: int | None = None

    def acquire(self, run_id: str) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 300).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise RunLocked(f"run {run_id} is in use by {holder}; it can be driven by one process at a time") from None
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
        if not path.exists():
            return False
        fd = os.open(path, os.O_RDONLY)
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
    """All records of a run (report + journal), oldest first. Raises ReportError if damaged."""
    report = folder / REPORT
    records: list[dict[str, Any]] = []
    if report.exists():
        try:
            data = tomllib.loads(report.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ReportError(f"{report} cannot be read: {exc}") from None
        if data.get("schema_version") != SCHEMA_VERSION:
            raise ReportError(f"{report} has schema_version {data.get('schema_version')!r}; this iact-tui reads {SCHEMA_VERSION}")
        records = list(data.get("events", []))
    journal = folder / JOURNAL
    if journal.exists():
        last = records[-1]["seq"] if records else 0
        raw = journal.read_bytes()
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
            except ValueError:
                if is_last or all(not rest for rest in lines[i + 1 :]):
                    break  # torn tail: never acknowledged
                raise ReportError(f"{journal} is damaged at byte {pos}: a record in the middle cannot be read") from None
            if is_last:
                break  # no newline yet: the write was not finished
            if rec.get("seq", 0) > last:
                records.append(rec)
                last = rec["seq"]
            good_end = end
            pos = end
        if repair and good_end < len(raw):
            with open(journal, "r+b") as f:
                f.truncate(good_end)
                os.fsync(f.fileno())
    if not records:
        raise ReportError(f"{folder} holds no run report")
    problems = check_chain(records)
    if problems:
        raise ReportError(f"{folder}: the report is damaged: {problems[0]}")
    return records


def resolve_run(ref: str | None, runs_dir: Path) -> Path:
    """A run folder from an id, a folder or a report path."""
    if ref is None:
        raise ReportError("no run given")
    p = Path(ref).expanduser()
    if p.name in (REPORT, JOURNAL) and p.parent.is_dir():
        return p.parent
    if p.is_dir() and ((p / REPORT).exists() or (p / JOURNAL).exists()):
        return p
    candidate = runs_dir / ref
    if candidate.is_dir():
        return candidate
    matches = sorted(d for d in runs_dir.glob(f"*{ref}*") if d.is_dir()) if runs_dir.is_dir() and ref else []
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise ReportError(f"'{ref}' matches {len(matches)} runs in {runs_dir}; give more of the id")
    raise ReportError(f"no run '{ref}' (looked for a folder, a report file, and an id in {runs_dir})")


def list_runs(runs_dir: Path) -> list[tuple[Path, RunState | None, str]]:
    """Every run folder, newest first, with its state or the reason it cannot be read."""
    out: list[tuple[Path, RunState | None, str]] = []
    if not runs_dir.is_dir():
        return out
    for folder in sorted((d for d in runs_dir.iterdir() if d.is_dir()), reverse=True):
        try:
            out.append((folder, reduce(read_records(folder)), ""))
        except ReportError as exc:
            out.append((folder, None, str(exc)))
    return out


class RunStore:
    """The live record of one run, held by the one process that drives it."""

    def __init__(self, folder: Path, records: list[dict[str, Any]]) -> None:
        self.folder = folder
        self.records = records
        self.state = reduce(records)
        self.lock = RunLock(folder)
        self._journal: Any = None

    # -- opening ------------------------------------------------------------------------------

    @classmethod
    def create(cls, runs_dir: Path, run_id: str, checklist_text: str, created: dict[str, Any]) -> RunStore:
        folder = runs_dir / run_id
        try:
            folder.mkdir(parents=True)
        except FileExistsError:
            raise ReportError(f"{folder} exists already") from None
        except OSError as exc:
            raise ReportError(f"cannot create the run folder {folder}: {exc.strerror}") from None
        (folder / "logs").mkdir()
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
        except Exception:
            lock.release()
            raise
        store = cls(folder, records)
        store.lock = lock
        (folder / "logs").mkdir(exist_ok=True)
        return store

    # -- writing ------------------------------------------------------------------------------

    def append(self, type_: str, **fields: Any) -> dict[str, Any]:
        """Make one record durable, then fold it into the state. Returns the record."""
        rec: dict[str, Any] = {
            "seq": self.state.last_seq + 1,
            "at": now(),
            "type": type_,
            **_without_none(fields),
            "prev": self.state.last_hash or GENESIS,
        }
        rec["hash"] = record_hash(rec)
        line = json.dumps(rec, sort_keys=True, ensure_ascii=False).encode() + b"\n"
        if self._journal is None:
            self._journal = open(self.folder / JOURNAL, "ab")
        self._journal.write(line)
        self._journal.flush()
        os.fdatasync(self._journal.fileno())
        self.records.append(rec)
        self.state.apply(rec)
        return rec

    def report_data(self) -> dict[str, Any]:
        return build_report(self.records, self.state)

    def compact(self) -> None:
        """Rewrite report.toml atomically with everything recorded, then empty the journal."""
        data = self.report_data()
        atomic_write(self.folder / REPORT, tomli_w.dumps(data, multiline_strings=False).encode())
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        journal = self.folder / JOURNAL
        if journal.exists():
            with open(journal, "r+b") as f:
                f.truncate(0)
                os.fsync(f.fileno())

    def close(self) -> None:
        try:
            self.compact()
        finally:
            self.lock.release()

    # -- logs and inbox -----------------------------------------------------------------------

    def log_path(self, step_id: str) -> Path:
        return self.folder / "logs" / f"{step_id}.log"

    def inbox(self) -> Path:
        path = self.folder / INBOX
        path.mkdir(exist_ok=True)
        return path

    def pinned_checklist(self) -> Path:
        return self.folder / PINNED


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
    if state.pause_reason and state.status == "paused":
        run["pause_reason"] = state.pause_reason
    if state.rollback_started:
        run["rollback_reason"] = state.rollback_reason
    run["variables"] = dict(info.get("variables", {}))
    if info.get("secret_variables"):
        run["secret_variables"] = list(info["secret_variables"])
    if state.captures:
        run["captures"] = dict(state.captures)
    if state.choices:
        run["choices"] = {k: list(v) for k, v in state.choices.items()}
    if state.approvers:
        run["approvers"] = dict(state.approvers)
    if state.hosts:
        run["hosts"] = [dict(h) for h in state.hosts.values()]
    return _without_none(
        {
            "schema_version": SCHEMA_VERSION,
            "run": run,
            "steps": [s.to_toml() for s in state.steps.values()],
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
