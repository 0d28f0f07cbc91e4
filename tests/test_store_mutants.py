"""Store behaviour that mutation testing (issue 10) found untested: the exact words of every damage
a run folder can have, the hash chain's canonical form, the lock and who holds it, run ids and the
runs folder, what a record holds, report.toml's header and tables, `list` of good and damaged
runs, and the group commit's thread and failures."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import os
import re
import stat
import threading
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from iact_tui import __version__
from iact_tui.engine.record import store as store_module
from iact_tui.engine.record.state import RunState, reduce
from iact_tui.engine.record.store import (
    GENESIS,
    JOURNAL,
    LOCK,
    PINNED,
    REPORT,
    ReportError,
    RunLock,
    RunLocked,
    RunStore,
    atomic_write,
    build_report,
    canonical,
    check_chain,
    default_runs_dir,
    folder_problem,
    list_runs,
    new_run_id,
    now,
    read_records,
    read_state,
    record_hash,
    report_header,
    resolve_run,
)

PLAN = [
    {"id": "a", "phase": "p", "kind": "local", "title": "A"},
    {"id": "b", "phase": "p", "kind": "manual", "title": "B"},
]


def make(runs: Path, run_id: str = "r1", **created: Any) -> RunStore:
    info = {"operator": "ann", "plan": PLAN, "checklist_sha256": "00"} | created
    return RunStore.create(runs, run_id, "x = 1\n", info)


def damage(match: str) -> Any:
    return pytest.raises(ReportError, match=f"^{re.escape(match)}$")


def chained(*bodies: dict[str, Any]) -> list[dict[str, Any]]:
    """Records with a correct chain, as the store makes them."""
    out: list[dict[str, Any]] = []
    prev = GENESIS
    for n, b in enumerate(bodies, 1):
        rec = {"seq": n, "at": "2025-01-01T00:00:00+00:00", **b, "prev": prev}
        rec["hash"] = record_hash(rec)
        prev = rec["hash"]
        out.append(rec)
    return out


# -- the chain -----------------------------------------------------------------------------------


def test_now_is_utc_to_the_millisecond() -> None:
    stamp = now()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}000)?\+00:00", stamp), stamp
    assert abs((datetime.fromisoformat(stamp) - datetime.now().astimezone()).total_seconds()) < 5


def test_the_canonical_form_is_sorted_compact_utf8_without_the_hash() -> None:
    rec = {"type": "x", "seq": 1, "hash": "h", "note": "Año ✓", "n": [1, 2]}
    assert canonical(rec) == '{"n":[1,2],"note":"Año ✓","seq":1,"type":"x"}'.encode()
    assert record_hash(rec) == hashlib.sha256(canonical(rec)).hexdigest()
    assert record_hash(rec) == record_hash(rec | {"hash": "other"})


def test_an_intact_chain_has_no_problem() -> None:
    assert check_chain(chained({"type": "a"}, {"type": "b"}, {"type": "c"})) == []
    assert check_chain([]) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            lambda r: r.__setitem__(1, ["not", "a", "record"]),
            "event 2 is not a record (a table / JSON object)",
        ),
        (
            lambda r: r[1].__setitem__("seq", 3),
            "event 2 has sequence number 3: an event was removed, added or reordered",
        ),
        (
            lambda r: r[0].__setitem__("seq", True),
            "event 1 has sequence number True: an event was removed, added or reordered",
        ),
        (
            lambda r: r[1].__setitem__("prev", "f" * 64),
            "event 2 (b) does not follow event 1: an event was removed, added or reordered",
        ),
        (
            lambda r: r[2].__setitem__("note", datetime(2025, 1, 1)),
            "event 3 (c) holds a value JSON cannot hold (a date?): it was changed after it was "
            "recorded",
        ),
        (
            lambda r: r[2].__setitem__("note", "edited"),
            "event 3 (c) was changed after it was recorded (its hash does not match)",
        ),
    ],
)
def test_each_break_of_the_chain_is_said_once(change: Any, problem: str) -> None:
    records = chained({"type": "a"}, {"type": "b"}, {"type": "c", "note": "n"})
    change(records)
    assert check_chain(records + chained({"type": "z"})) == [problem]


def test_the_first_record_follows_the_genesis() -> None:
    records = chained({"type": "a"})
    records[0]["prev"] = ""
    records[0]["hash"] = record_hash(records[0])
    assert check_chain(records) == [
        "event 1 (a) does not follow event 0: an event was removed, added or reordered"
    ]


# -- run ids and the runs folder -------------------------------------------------------------------


def test_the_runs_folder_comes_from_the_environment_or_the_state_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("IACT_RUNS_DIR", "~/my-runs")
    assert default_runs_dir() == tmp_path / "my-runs"
    monkeypatch.setenv("IACT_RUNS_DIR", "")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert default_runs_dir() == tmp_path / "state" / "iact-tui" / "runs"
    monkeypatch.delenv("IACT_RUNS_DIR")
    assert default_runs_dir() == tmp_path / "state" / "iact-tui" / "runs"


def test_a_run_id_is_the_utc_time_a_slug_and_four_hex_digits() -> None:
    before = datetime.now().astimezone()
    run_id = new_run_id("PROCED-DEVOPS-001")
    match = re.fullmatch(r"(\d{8}T\d{6}Z)-proced-devops-001-([0-9a-f]{4})", run_id)
    assert match, run_id
    stamp = datetime.strptime(match.group(1), "%Y%m%dT%H%M%S%z")
    assert abs((stamp - before).total_seconds()) < 5
    assert new_run_id("  Déploy // Staging!! ").split("-", 1)[1][:-5] == "d-ploy-staging"
    assert new_run_id("***").split("-")[1] == "run"
    assert new_run_id("x" * 40).split("-")[1] == "x" * 32


def test_an_atomic_write_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "f.toml"
    atomic_write(target, b"one")
    atomic_write(target, b"two")
    assert target.read_bytes() == b"two" and os.listdir(tmp_path) == ["f.toml"]

    def refused(src: Any, dst: Any) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(store_module.os, "replace", refused)
    with pytest.raises(PermissionError):
        atomic_write(target, b"three")
    assert target.read_bytes() == b"two" and os.listdir(tmp_path) == ["f.toml"]


def test_an_atomic_write_syncs_the_file_and_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real = os.fsync

    def recording(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(store_module.os, "fsync", recording)
    atomic_write(tmp_path / "f", b"x")
    assert synced == [str(tmp_path / f".f.{os.getpid()}.tmp"), str(tmp_path)]


# -- the lock -----------------------------------------------------------------------------------


def test_the_lock_says_who_holds_it(tmp_path: Path) -> None:
    store = make(tmp_path / "runs")
    text = (store.folder / LOCK).read_text()
    assert re.fullmatch(rf"pid {os.getpid()} on \S+ since \d{{4}}-.*\+00:00", text), text
    assert RunLock.is_held(store.folder)
    with pytest.raises(RunLocked) as caught:
        RunLock(store.folder).acquire("r1")
    assert str(caught.value) == (
        f"run r1 is in use by {text}; it can be driven by one process at a time"
    )
    store.close()
    assert not RunLock.is_held(store.folder)
    assert store.lock.fd is None
    store.lock.release()  # twice: nothing happens


def test_a_lock_file_written_by_nobody_names_another_process(tmp_path: Path) -> None:
    lock = RunLock(tmp_path)
    lock.acquire("r")
    os.ftruncate(lock.fd or 0, 0)
    with pytest.raises(RunLocked, match=r"^run r is in use by another process; "):
        RunLock(tmp_path).acquire("r")
    lock.release()


def test_the_lock_file_is_group_writable_as_the_umask_allows(tmp_path: Path) -> None:
    old = os.umask(0o002)
    try:
        lock = RunLock(tmp_path)
        lock.acquire("r")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / LOCK).stat().st_mode) == 0o664
    lock.release()


def test_a_lock_that_cannot_be_taken_says_why(tmp_path: Path) -> None:
    (tmp_path / LOCK).mkdir()
    with damage(f"{tmp_path / LOCK} is a folder, not a lock file: the run folder is damaged"):
        RunLock(tmp_path).acquire("r")
    missing = tmp_path / "nowhere"
    with damage(f"{missing} is not a run folder (it does not exist)"):
        RunLock(missing).acquire("r")
    os.symlink("loop", tmp_path / "loop")
    (tmp_path / "loop2").mkdir()
    os.symlink(tmp_path / "loop", tmp_path / "loop2" / LOCK)
    with damage(
        f"{tmp_path / 'loop2' / LOCK} cannot be used as the run's lock: Too many levels of symbolic links"
    ):
        RunLock(tmp_path / "loop2").acquire("r")


def test_is_held_without_a_lock_file_or_with_a_folder(tmp_path: Path) -> None:
    assert not RunLock.is_held(tmp_path)
    (tmp_path / LOCK).mkdir()
    assert not RunLock.is_held(tmp_path)


def test_is_held_sees_a_lock_it_cannot_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / LOCK).write_text("")

    def refused(*args: Any) -> int:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(store_module.os, "open", refused)
    assert RunLock.is_held(tmp_path) is False


# -- reading a run folder ----------------------------------------------------------------------------


def journal_lines(*records: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def test_a_folder_without_records_holds_no_run(tmp_path: Path) -> None:
    with damage(f"{tmp_path} holds no run report"):
        read_records(tmp_path)
    (tmp_path / JOURNAL).write_bytes(b"\n\n")
    with damage(f"{tmp_path} holds no run report"):
        read_records(tmp_path)


def test_the_journal_alone_is_a_run_and_blank_lines_are_skipped(tmp_path: Path) -> None:
    records = chained({"type": "run_created"}, {"type": "b"})
    raw = journal_lines(records[0]) + b"\n" + journal_lines(records[1])
    (tmp_path / JOURNAL).write_bytes(raw)
    assert read_records(tmp_path, repair=True) == records
    assert (tmp_path / JOURNAL).read_bytes() == raw  # nothing to repair


def test_a_torn_tail_is_dropped_and_repaired_only_when_asked(tmp_path: Path) -> None:
    records = chained({"type": "run_created"}, {"type": "b"}, {"type": "c"})
    good = journal_lines(*records[:2])
    for tail in (b'{"seq": 3, "ty', json.dumps(records[2]).encode(), b"garbage\n\n"):
        (tmp_path / JOURNAL).write_bytes(good + tail)
        assert read_records(tmp_path) == records[:2]
        assert (tmp_path / JOURNAL).read_bytes() == good + tail
        assert read_records(tmp_path, repair=True) == records[:2]
        assert (tmp_path / JOURNAL).read_bytes() == good


def test_a_damaged_middle_line_names_its_byte(tmp_path: Path) -> None:
    records = chained({"type": "run_created"}, {"type": "b"})
    first = journal_lines(records[0])
    (tmp_path / JOURNAL).write_bytes(first + b"garbage\n" + journal_lines(records[1]))
    with damage(
        f"{tmp_path / JOURNAL} is damaged at byte {len(first)}: a record in the middle cannot be read"
    ):
        read_records(tmp_path, repair=True)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b"[1, 2]", "it is a list, not a record (a table / JSON object)"),
        (b"7", "it is a int, not a record (a table / JSON object)"),
        (b'{"seq": 0}', "its 'seq' is 0, not a positive whole number"),
        (b'{"seq": true}', "its 'seq' is True, not a positive whole number"),
        (b'{"seq": "2"}', "its 'seq' is '2', not a positive whole number"),
        (b'{"seq": 2, "hash": "h", "prev": "p", "at": "t"}', "event 2 has no text 'type'"),
        (b'{"seq": 2, "type": "t", "prev": "p", "at": "t"}', "event 2 has no text 'hash'"),
        (b'{"seq": 2, "type": "t", "hash": "h", "at": "t"}', "event 2 has no text 'prev'"),
        (b'{"seq": 2, "type": "t", "hash": "h", "prev": "p", "at": 5}', "event 2 has no text 'at'"),
    ],
)
def test_a_journal_line_that_is_no_record_says_why(
    tmp_path: Path, line: bytes, problem: str
) -> None:
    first = journal_lines(*chained({"type": "run_created"}))
    (tmp_path / JOURNAL).write_bytes(first + line + b"\n")
    with damage(f"{tmp_path / JOURNAL} is damaged at byte {len(first)} (line 2): {problem}"):
        read_records(tmp_path)


def test_journal_records_the_report_holds_are_skipped(tmp_path: Path) -> None:
    store = make(tmp_path / "runs")
    store.clock = lambda: 0.0
    store.compact()
    store.append("note_added", step="a", note="one")
    store.checkpoint()  # the report holds 1-2, the journal 2
    store.append("note_added", step="a", note="two")
    folder = store.folder
    assert [json.loads(x)["seq"] for x in (folder / JOURNAL).read_bytes().splitlines()] == [2, 3]
    assert [r["seq"] for r in read_records(folder)] == [1, 2, 3]
    store.close()


def test_a_broken_chain_is_damage(tmp_path: Path) -> None:
    records = chained({"type": "run_created"}, {"type": "b"})
    records[1]["note"] = "edited"
    (tmp_path / JOURNAL).write_bytes(journal_lines(*records))
    with damage(
        f"{tmp_path}: the report is damaged: event 2 (b) was changed after it was recorded "
        "(its hash does not match)"
    ):
        read_records(tmp_path)


def report_with(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / REPORT
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def test_a_report_that_is_no_report_says_why(tmp_path: Path) -> None:
    report = report_with(tmp_path, b"schema_version = 1\n\xff")
    with damage(f"{report} cannot be read: not UTF-8 text (byte 19)"):
        read_records(tmp_path)
    report_with(tmp_path, "schema_version = 2\n")
    with damage(f"{report} has schema_version 2; this iact-tui reads 1"):
        read_records(tmp_path)
    report_with(tmp_path, "run = 1\n")
    with damage(f"{report} has schema_version None; this iact-tui reads 1"):
        read_records(tmp_path)
    report_with(tmp_path, "schema_version = 1\nevents = 3\n")
    with damage(f"{report} is damaged: 'events' is not a list of tables ([[events]])"):
        read_records(tmp_path)
    report_with(tmp_path, 'schema_version = 1\n[[events]]\nseq = 1\ntype = "x"\n')
    with damage(f"{report} is damaged: event 1: event 1 has no text 'hash'"):
        read_records(tmp_path)
    report_with(tmp_path, "schema_version = 1\n")
    with damage(f"{tmp_path} holds no run report"):
        read_records(tmp_path)
    report_with(tmp_path, "schema_version = 1\nx = [" + "[" * 2000 + "]" * 2001 + "\n")
    with pytest.raises(ReportError, match=f"^{re.escape(str(report))} cannot be read: "):
        read_records(tmp_path)


def test_a_file_that_is_a_folder_says_so(tmp_path: Path) -> None:
    (tmp_path / REPORT).mkdir()
    with damage(f"{tmp_path / REPORT} is a folder, not a file: the run folder is damaged"):
        read_records(tmp_path)


def test_a_file_that_cannot_be_read_or_looked_at_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report_with(tmp_path, "schema_version = 1\n")
    real = Path.read_bytes

    def refused(self: Path) -> bytes:
        if self.name == REPORT:
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", refused)
    from iact_tui.engine.record.store import unreadable

    with damage(unreadable(tmp_path / REPORT)):  # another person's run: said with the remedy
        read_records(tmp_path)
    long = Path(f"{tmp_path}/{'x' * 300}")
    with damage(
        f"{long / REPORT} cannot be looked at: [Errno 36] File name too long: '{long / REPORT}'"
    ):
        read_records(long)


def test_a_journal_that_cannot_be_repaired_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = journal_lines(*chained({"type": "run_created"}))
    (tmp_path / JOURNAL).write_bytes(good + b'{"torn')
    real_open = open

    def read_only(path: Any, mode: str = "r", *args: Any) -> Any:
        if mode == "r+b":
            raise PermissionError(13, "Permission denied")
        return real_open(path, mode, *args)

    monkeypatch.setattr("builtins.open", read_only)
    with damage(f"{tmp_path / JOURNAL} cannot be repaired: Permission denied"):
        read_records(tmp_path, repair=True)


def test_records_that_cannot_be_chained_are_damage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / JOURNAL).write_bytes(journal_lines(*chained({"type": "run_created"})))

    def broken(records: Any) -> list[str]:
        raise TypeError("unhashable")

    monkeypatch.setattr(store_module, "check_chain", broken)
    with damage(
        f"{tmp_path}: the report is damaged: a record holds values that are not JSON (dates, or "
        "nested too deep)"
    ):
        read_records(tmp_path)


# -- the state of a folder, and the list of runs -------------------------------------------------


def test_a_folder_that_cannot_be_driven_says_why(tmp_path: Path) -> None:
    store = make(tmp_path / "runs")
    store.close()
    folder = store.folder
    assert folder_problem(folder) == "" and read_state(folder).run_id == "r1"
    os.rmdir(folder / "logs")
    assert folder_problem(folder) == ""
    (folder / "logs").write_text("not a folder")
    problem = (
        f"{folder / 'logs'} is a file, not the folder of the step logs: the run folder is damaged"
    )
    assert folder_problem(folder) == problem
    with damage(problem):
        read_state(folder)
    with damage(problem):
        RunStore.open(folder)
    assert not RunLock.is_held(folder)  # the failed open let go of the lock
    (folder / "logs").unlink()
    os.unlink(folder / LOCK)
    (folder / LOCK).mkdir()
    assert folder_problem(folder) == (
        f"{folder / LOCK} is a folder, not a lock file: the run folder is damaged"
    )


def test_records_that_cannot_be_interpreted_name_the_error(tmp_path: Path) -> None:
    records = chained({"type": "run_created"})  # no run_id: a KeyError when folded
    (tmp_path / JOURNAL).write_bytes(journal_lines(*records))
    with damage(
        f"{tmp_path}: the report is damaged: its records cannot be interpreted (KeyError: 'run_id')"
    ):
        read_state(tmp_path)
    with damage(
        f"{tmp_path}: the report is damaged: its records cannot be interpreted (KeyError: 'run_id')"
    ):
        RunStore.open(tmp_path)
    assert not RunLock.is_held(tmp_path)
    records = chained({"type": "run_created", "run_id": "r", "plan": [{}]})  # KeyError('id')
    (tmp_path / JOURNAL).write_bytes(journal_lines(*records))
    with damage(
        f"{tmp_path}: the report is damaged: its records cannot be interpreted (KeyError: 'id')"
    ):
        read_state(tmp_path)
    records = chained({"type": "run_created", "run_id": "r", "plan": [{"id": "a", "phase": "p"}]})
    (tmp_path / JOURNAL).write_bytes(journal_lines(*records))
    with damage(
        f"{tmp_path}: the report is damaged: its records cannot be interpreted (KeyError: 'kind')"
    ):
        read_state(tmp_path)


def test_an_error_without_words_is_named_by_its_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / JOURNAL).write_bytes(journal_lines(*chained({"type": "run_created"})))

    def silent(records: Any) -> RunState:
        raise ValueError()

    monkeypatch.setattr(store_module, "reduce", silent)
    with damage(
        f"{tmp_path}: the report is damaged: its records cannot be interpreted (ValueError)"
    ):
        read_state(tmp_path)


def test_list_runs_shows_the_newest_first_and_says_why_one_cannot_be_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = tmp_path / "runs"
    assert list_runs(runs) == []
    make(runs, "20250101-a").close()
    make(runs, "20250303-c").close()
    (runs / "20250202-b").mkdir()
    (runs / "20250404-notes.txt").write_text("not a run")
    listed = list_runs(runs)
    assert [(p.name, s.run_id if s else None, why) for p, s, why in listed] == [
        ("20250303-c", "20250303-c", ""),
        ("20250202-b", None, f"{runs / '20250202-b'} holds no run report"),
        ("20250101-a", "20250101-a", ""),
    ]

    def odd(folder: Path) -> RunState:
        raise RuntimeError("surprise")

    monkeypatch.setattr(store_module, "read_state", odd)
    assert list_runs(runs)[0] == (
        runs / "20250303-c",
        None,
        f"{runs / '20250303-c'} cannot be read: RuntimeError: surprise",
    )


def test_list_runs_of_a_file_or_an_unreadable_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "file").write_text("x")
    assert list_runs(tmp_path / "file") == []

    def refused(self: Path) -> Any:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "iterdir", refused)
    from iact_tui.engine.record.store import unreadable

    with damage(f"the runs folder: {unreadable(tmp_path)}"):
        list_runs(tmp_path)


# -- finding a run ------------------------------------------------------------------------------


def test_a_run_is_found_by_id_part_folder_or_report(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    make(runs, "20250101T000000Z-deploy-aaaa").close()
    make(runs, "20250102T000000Z-deploy-bbbb").close()
    first = runs / "20250101T000000Z-deploy-aaaa"
    assert resolve_run("aaaa", runs) == first
    assert resolve_run(str(first / JOURNAL), runs) == first
    assert resolve_run(str(first / REPORT), runs) == first
    assert resolve_run(str(first), tmp_path / "elsewhere") == first
    with damage(f"'deploy' matches 2 runs in {runs}; give more of the id"):
        resolve_run("deploy", runs)
    with damage(f"no run 'zzz' (looked for a folder, a report file, and an id in {runs})"):
        resolve_run("zzz", runs)
    with damage(
        f"no run 'zzz' (looked for a folder, a report file, and an id in {tmp_path / 'no'})"
    ):
        resolve_run("zzz", tmp_path / "no")
    (runs / "empty-folder").mkdir()
    assert resolve_run("empty-folder", runs) == runs / "empty-folder"
    (runs / "x-bbbb-file").write_text("")
    assert resolve_run("bbbb", runs) == runs / "20250102T000000Z-deploy-bbbb"


def test_a_journal_alone_makes_a_run_folder(tmp_path: Path) -> None:
    folder = tmp_path / "somewhere"
    folder.mkdir()
    (folder / JOURNAL).write_text("")
    assert resolve_run(str(folder), tmp_path / "runs") == folder


def test_references_that_are_no_run_say_why(tmp_path: Path) -> None:
    with damage("no run given"):
        resolve_run(None, tmp_path)
    with damage("the run reference is empty: give a run id, its folder or its report.toml"):
        resolve_run("  ", tmp_path)
    for ref in ("run*", "r?n", "[ab]"):
        with damage(
            f"'{ref}' is not a run reference: wildcards (* ? [ ]) are not accepted; give a run id or "
            "a unique part of one, its folder or its report.toml (iact-tui list shows them)"
        ):
            resolve_run(ref, tmp_path)
    with damage(
        "run '~no-such-user-here' cannot be looked up: Could not determine home directory."
    ):
        resolve_run("~no-such-user-here", tmp_path)


# -- the live store ------------------------------------------------------------------------------


def test_a_new_run_pins_its_checklist_and_is_reported_at_once(tmp_path: Path) -> None:
    store = make(tmp_path / "runs", checklist_id="T-1")
    folder = tmp_path / "runs" / "r1"
    assert (folder / PINNED).read_text() == "x = 1\n"
    assert (folder / "logs").is_dir()
    assert RunLock.is_held(folder)
    assert [e["type"] for e in tomllib.loads((folder / REPORT).read_text())["events"]] == [
        "run_created"
    ]
    assert (folder / JOURNAL).read_bytes() == b""
    assert store.state.run_id == "r1" and store.state.steps["a"].title == "A"
    with damage(f"{folder} exists already"):
        make(tmp_path / "runs")
    (tmp_path / "blocked").write_text("a file")
    with damage(f"cannot create the run folder {tmp_path / 'blocked' / 'r2'}: Not a directory"):
        make(tmp_path / "blocked", "r2")
    assert store.log_path("a") == folder / "logs" / "a.log"
    assert store.inbox() == folder / "inbox" and (folder / "inbox").is_dir()
    assert store.inbox() == folder / "inbox"  # again: it exists
    store.close()


def test_a_record_holds_its_fields_chained_and_without_empty_values(tmp_path: Path) -> None:
    store = make(tmp_path / "runs")
    first = store.records[0]
    assert first["seq"] == 1 and first["prev"] == GENESIS and first["type"] == "run_created"
    rec = store.append("note_added", step="a", note="x", by=None, extra={"k": None, "l": [1, None]})
    assert rec == {
        "seq": 2,
        "at": rec["at"],
        "type": "note_added",
        "step": "a",
        "note": "x",
        "extra": {"l": [1]},
        "prev": first["hash"],
        "hash": record_hash(rec),
    }
    assert list(rec) == ["seq", "at", "type", "step", "note", "extra", "prev", "hash"]
    line = (store.folder / JOURNAL).read_bytes().splitlines()[-1]
    assert line == json.dumps(rec, sort_keys=True, ensure_ascii=False).encode()
    assert store.records[-1] is rec and store.state.steps["a"].note == "x"
    store.close()


def test_a_record_is_masked_before_it_is_chained(tmp_path: Path) -> None:
    store = make(tmp_path / "runs")
    store.redact = lambda fields: {k: str(v).replace("s3cret", "***") for k, v in fields.items()}
    rec = store.append("note_added", step="a", note="pw s3cret")
    assert rec["note"] == "pw ***" and rec["hash"] == record_hash(rec)
    assert b"s3cret" not in (store.folder / JOURNAL).read_bytes()
    store.close()


def test_reopening_a_run_continues_its_chain(tmp_path: Path) -> None:
    store = make(tmp_path / "runs")
    store.append("note_added", step="a", note="x")
    store.lock.release()
    again = RunStore.open(store.folder)
    rec = again.append("note_added", step="a", note="y")
    assert rec["seq"] == 3 and rec["prev"] == store.records[-1]["hash"]
    assert again.lock.fd is not None
    again.close()
    assert check_chain(read_records(store.folder)) == []


def test_open_of_a_folder_that_is_gone_says_so(tmp_path: Path) -> None:
    with damage(f"{tmp_path / 'gone'} is not a run folder (it does not exist)"):
        RunStore.open(tmp_path / "gone")


def test_open_of_a_folder_whose_logs_cannot_be_made_says_why_and_lets_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make(tmp_path / "runs")
    store.close()
    os.rmdir(store.folder / "logs")

    def refused(self: Path, *args: Any, **kwargs: Any) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "mkdir", refused)
    with damage(f"{store.folder} cannot be used: Permission denied"):
        RunStore.open(store.folder)
    assert not RunLock.is_held(store.folder)


def test_an_interrupted_open_lets_go_of_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make(tmp_path / "runs")
    store.close()

    def interrupted(folder: Path, *, repair: bool = False) -> list[dict[str, Any]]:
        raise KeyboardInterrupt

    monkeypatch.setattr(store_module, "read_records", interrupted)
    with pytest.raises(KeyboardInterrupt):
        RunStore.open(store.folder)
    assert not RunLock.is_held(store.folder)


def test_the_report_header_says_when_which_events_and_the_status(tmp_path: Path) -> None:
    store = make(tmp_path / "runs")
    store.append("run_paused", reason="waits")
    header = report_header(store.records, store.state)
    lines = header.split("\n")
    assert re.fullmatch(
        r"# iact-tui run report, written \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00: events 1 to 2,"
        r" run status paused\.",
        lines[0],
    ), lines[0]
    assert lines[1:] == [
        "# journal.jsonl in this folder may hold newer records; a reader merges both, skipping the",
        "# ones this file holds (iact-tui list, resume, export and verify do; docs/run-report.md).",
        "",
        "",
    ]
    assert "events 1 to 0, run status running." in report_header([], RunState())
    store.close()


def test_the_report_tables_hold_the_run_as_recorded(tmp_path: Path) -> None:
    store = make(
        tmp_path / "runs",
        checklist_id="T-1",
        checklist_title="Title",
        checklist_version="1.2",
        checklist_path="c.toml",
        machine="laptop",
        iact_tui_version="0.1",
        mode="headless",
        variables={"branch": "main"},
        vars_file={"path": "v.toml", "sha256": "ab"},
        secret_variables=["pw"],
        on_failure="rollback",
    )
    store.append("alternative_chosen", phase="p", alternatives=["x"])
    store.append("host_connected", host="web", address="10.0.0.1")
    store.append("step_waiting", step="b")
    store.append("step_ticked", step="b", by="bob", role="devops")
    store.append("step_finished", step="a", status="passed", captures={"id": "7"})
    store.append("rollback_started", reason="why not")
    store.append("run_paused", reason="waits")
    report = store.report_data()
    run = report["run"]
    assert run == {
        "id": "r1",
        "status": "paused",
        "checklist_id": "T-1",
        "checklist_title": "Title",
        "checklist_version": "1.2",
        "checklist_sha256": "00",
        "checklist_path": "c.toml",
        "operator": "ann",
        "host": "laptop",
        "iact_tui_version": "0.1",
        "mode": "headless",
        "started_at": datetime.fromisoformat(store.records[0]["at"]),
        "pause_reason": "waits",
        "rollback_reason": "why not",
        "on_failure": "rollback",
        "variables": {"branch": "main"},
        "vars_file": {"path": "v.toml", "sha256": "ab"},
        "secret_variables": ["pw"],
        "captures": {"id": "7"},
        "choices": {"p": ["x"]},
        "approvers": {"b": "bob (devops)"},
        "hosts": [{"host": "web", "address": "10.0.0.1"}],
    }
    assert report["schema_version"] == 1 and report["events"] == store.records
    assert [s["id"] for s in report["steps"]] == ["a", "b"]
    assert "host_steps" not in report
    store.append("step_skipped", step="b", reason="r", approval=True)
    store.append("run_finished", status="failed")
    finished = store.report_data()["run"]
    assert "pause_reason" not in finished and finished["approvals_skipped"] == ["b"]
    assert finished["finished_at"] == datetime.fromisoformat(store.records[-1]["at"])
    store.close()


def test_a_bare_report_has_defaults(tmp_path: Path) -> None:
    report = build_report([], reduce(chained({"type": "run_created", "run_id": "r"})))
    run = report["run"]
    assert run == {
        "id": "r",
        "status": "running",
        "checklist_id": "",
        "checklist_title": "",
        "checklist_version": "",
        "checklist_sha256": "",
        "checklist_path": "",
        "operator": "",
        "host": "",
        "iact_tui_version": __version__,
        "mode": "",
        "started_at": datetime.fromisoformat("2025-01-01T00:00:00+00:00"),
        "variables": {},
    }
    assert report == {"schema_version": 1, "run": run, "steps": [], "events": []}
    paused = reduce(chained({"type": "run_created", "run_id": "r"}, {"type": "run_paused"}))
    assert "pause_reason" not in build_report([], paused)["run"]
    rolled = reduce(chained({"type": "run_created", "run_id": "r"}, {"type": "rollback_started"}))
    assert build_report([], rolled)["run"]["rollback_reason"] == ""


def test_host_steps_are_reported_per_host(tmp_path: Path) -> None:
    state = reduce(
        chained(
            {"type": "run_created", "run_id": "r"},
            {"type": "host_started", "step": "a", "host": "web1", "attempt": 1},
        )
    )
    assert build_report([], state)["host_steps"] == state.fleet.to_toml()
    assert build_report([], state)["host_steps"][0]["host"] == "web1"


def test_compaction_empties_the_journal_and_checkpoints_keep_it(tmp_path: Path) -> None:
    store = make(tmp_path / "runs")
    clock = [0.0]
    store.clock = lambda: clock[0]
    store.compact()
    clock[0] = 5.0
    store.append("note_added", step="a", note="x")
    assert store._behind
    assert store.checkpoint() is True
    assert store._compacted == 5.0 and not store._behind
    assert (store.folder / JOURNAL).read_bytes() != b""
    clock[0] = 7.0
    store.append("note_added", step="a", note="y")
    assert store._behind
    store.compact()
    assert (store.folder / JOURNAL).read_bytes() == b"" and store._compacted == 7.0
    store.append("note_added", step="a", note="z")  # the journal file is opened again
    assert len((store.folder / JOURNAL).read_bytes().splitlines()) == 1
    store.close()
    assert (store.folder / JOURNAL).read_bytes() == b""
    assert [r["seq"] for r in read_records(store.folder)] == [1, 2, 3, 4]


def test_compaction_without_a_journal_file(tmp_path: Path) -> None:
    store = make(tmp_path / "runs")
    os.unlink(store.folder / JOURNAL)
    store.compact()
    assert not (store.folder / JOURNAL).exists()
    store.close()


def test_a_checkpoint_that_fails_waits_for_the_next_period(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make(tmp_path / "runs")
    store.clock = lambda: 50.0
    store.append("note_added", step="a", note="x")

    def full(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_module, "atomic_write", full)
    assert store.checkpoint() is False
    assert store._compacted == 50.0 and store._behind
    monkeypatch.undo()
    store.close()


def test_close_lets_go_of_the_lock_even_when_the_report_cannot_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make(tmp_path / "runs")

    def full(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_module, "atomic_write", full)
    with pytest.raises(OSError):
        store.close()
    assert not RunLock.is_held(store.folder)


# -- group commit --------------------------------------------------------------------------------


def test_group_commits_are_written_by_one_journal_thread(tmp_path: Path) -> None:
    store = make(tmp_path / "runs")
    names: list[str] = []
    real = store._persist

    def persist(items: list[Any]) -> None:
        names.append(threading.current_thread().name)
        real(items)

    store._persist = persist  # type: ignore[method-assign]

    async def run() -> None:
        for i in range(3):
            await asyncio.gather(
                *[
                    store.append_soon("host_started", None, step="a", host=f"h{i}{j}")
                    for j in range(2)
                ]
            )

    asyncio.run(run())
    assert len(names) == 3 and all(n.startswith("iact-journal") for n in names)
    assert len(set(names)) == 1
    assert store._group_thread is not None and store._group_thread._max_workers == 1
    store.close()
    assert store._group_thread is None
    assert [r["host"] for r in read_records(store.folder)[1:]] == [
        "h00",
        "h01",
        "h10",
        "h11",
        "h20",
        "h21",
    ]


def test_records_made_while_a_group_is_written_follow_in_the_next_group(tmp_path: Path) -> None:
    store = make(tmp_path / "runs")
    groups: list[int] = []
    real = store._persist
    gate = threading.Event()

    def persist(items: list[Any]) -> None:
        groups.append(len(items))
        gate.wait(5)
        real(items)

    store._persist = persist  # type: ignore[method-assign]

    async def run() -> list[dict[str, Any]]:
        first = store.append_soon("host_started", None, step="a", host="h1")
        await asyncio.sleep(0)  # the first group goes to the thread
        second = store.append_soon("host_started", None, step="a", host="h2")
        third = store.append_soon("host_started", None, step="a", host="h3")
        assert not store._scheduled  # they wait for the group in flight
        gate.set()
        return list(await asyncio.gather(*[f for f in (first, second, third) if f is not None]))

    records = asyncio.run(run())
    assert groups == [1, 2]
    assert [r["host"] for r in records] == ["h1", "h2", "h3"]
    assert [r["host"] for r in store.records[1:]] == ["h1", "h2", "h3"]
    store.close()


def test_a_group_failing_without_an_os_error_is_reported_as_one(tmp_path: Path) -> None:
    store = make(tmp_path / "runs")

    def broken(items: list[Any]) -> None:
        raise RuntimeError("the thread broke")

    store._persist = broken  # type: ignore[method-assign]

    async def run() -> BaseException | None:
        future = store.append_soon("host_started", None, step="a", host="h1")
        assert future is not None
        try:
            await future
        except OSError as exc:
            return exc
        return None

    error = asyncio.run(run())
    assert type(error) is OSError and str(error) == "the thread broke"
    del store._persist
    with pytest.raises(OSError, match=r"^the thread broke$"):
        store.append("note_added", step="a", note="x")
    store.close()


def test_a_failed_write_cuts_the_journal_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make(tmp_path / "runs")
    store.append("note_added", step="a", note="kept")
    before = (store.folder / JOURNAL).read_bytes()
    real = os.fdatasync

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_module.os, "fdatasync", full)
    with pytest.raises(OSError, match="No space"):
        store.append("note_added", step="a", note="lost")
    assert (store.folder / JOURNAL).read_bytes() == before
    assert store._journal is None
    monkeypatch.setattr(store_module.os, "fdatasync", real)
    rec = store.append("note_added", step="a", note="next")
    assert rec["seq"] == 3
    assert [r["note"] for r in read_records(store.folder)[1:]] == ["kept", "next"]
    store.close()


# -- found by the second mutation run ------------------------------------------------------------


def test_a_record_time_is_the_clock_cut_to_the_millisecond(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Fixed(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return datetime(2025, 11, 17, 14, 0, 0, 500400, tzinfo=tz)

    monkeypatch.setattr(store_module, "datetime", Fixed)
    assert now() == "2025-11-17T14:00:00.500000+00:00"


def test_a_run_id_is_in_utc_whatever_the_machine_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "Pacific/Kiritimati")  # UTC+14: never the same hour as UTC
    time.tzset()
    try:
        stamp = new_run_id("x").split("-")[0]
        utc_hour = datetime.now(store_module.UTC).hour
        assert int(stamp[9:11]) in (utc_hour, (utc_hour - 1) % 24)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_an_atomic_write_into_a_missing_folder_raises_the_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "missing" / "f", b"x")


def test_letting_go_of_a_lock_never_taken_does_nothing(tmp_path: Path) -> None:
    lock = RunLock(tmp_path)
    lock.release()
    assert lock.fd is None and not (tmp_path / LOCK).exists()


def test_the_holder_is_named_in_at_most_300_characters_of_readable_text(tmp_path: Path) -> None:
    lock = RunLock(tmp_path)
    lock.acquire("r")
    fd = lock.fd or 0
    os.pwrite(fd, b"\xff" + b"h" * 400, 0)
    with pytest.raises(RunLocked) as caught:
        RunLock(tmp_path).acquire("r")
    assert str(caught.value) == (
        "run r is in use by \ufffd" + "h" * 299 + "; it can be driven by one process at a time"
    )
    lock.release()


def test_opening_a_run_another_process_drives_names_the_run(tmp_path: Path) -> None:
    store = make(tmp_path / "runs")
    with pytest.raises(RunLocked, match=r"^run r1 is in use by pid \d+ on "):
        RunStore.open(store.folder)
    store.close()


def test_a_journal_that_holds_only_a_torn_record_is_emptied_on_repair(tmp_path: Path) -> None:
    store = make(tmp_path / "runs")
    store.close()
    journal = store.folder / JOURNAL
    journal.write_bytes(b'{"seq": 2, "ty')
    assert [r["seq"] for r in read_records(store.folder, repair=True)] == [1]
    assert journal.read_bytes() == b""


def test_an_intact_journal_is_read_where_it_cannot_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = chained({"type": "run_created"}, {"type": "b"})
    (tmp_path / JOURNAL).write_bytes(journal_lines(*records))
    real_open = open

    def read_only(path: Any, mode: str = "r", *args: Any) -> Any:
        if mode == "r+b":
            raise PermissionError(13, "Permission denied")
        return real_open(path, mode, *args)

    monkeypatch.setattr("builtins.open", read_only)
    assert read_records(tmp_path, repair=True) == records


def test_a_relative_reference_to_a_folder_that_is_no_run_is_not_taken_for_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    runs = tmp_path / "runs"
    runs.mkdir()
    (tmp_path / "notes").mkdir()
    with damage(f"no run 'notes' (looked for a folder, a report file, and an id in {runs})"):
        resolve_run("notes", runs)
    (tmp_path / "old-run").mkdir()
    (tmp_path / "old-run" / REPORT).write_text("")
    assert resolve_run("old-run", runs) == Path("old-run")


def test_a_reopened_run_without_new_records_is_not_rewritten(tmp_path: Path) -> None:
    store = make(tmp_path / "runs")
    store.lock.release()
    again = RunStore.open(store.folder)
    again.clock = lambda: 1e9  # long after it was opened
    assert again.compact_if_due() is False
    again.close()


def test_the_journal_keeps_text_as_utf8(tmp_path: Path) -> None:
    store = make(tmp_path / "runs")
    store.append("note_added", step="a", note="revisión ✓")
    line = (store.folder / JOURNAL).read_bytes().splitlines()[-1]
    assert "revisión ✓".encode() in line
    store.close()


def test_a_record_that_vouches_for_a_log_syncs_and_closes_it_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make(tmp_path / "runs")
    log = open(store.log_path("a"), "wb")  # the store closes it
    log.write(b"output\n")
    synced: list[int] = []
    real = os.fdatasync

    def recording(fd: int) -> None:
        synced.append(fd)
        real(fd)

    monkeypatch.setattr(store_module.os, "fdatasync", recording)
    log_fd = log.fileno()
    store.append_soon("host_finished", None, sync_files=[log], step="a", host="h", status="passed")
    assert log.closed and synced[0] == log_fd
    assert store.log_path("a").read_bytes() == b"output\n"
    store.close()


def disk_full_after(monkeypatch: pytest.MonkeyPatch, on: dict[str, bool]) -> None:
    real = os.fdatasync

    def full(fd: int) -> None:
        if on["full"]:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd)

    monkeypatch.setattr(store_module.os, "fdatasync", full)


def test_after_a_group_write_fails_the_next_commit_raises_the_disk_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make(tmp_path / "runs")
    on = {"full": True}
    disk_full_after(monkeypatch, on)

    async def run() -> BaseException | None:
        future = store.append_soon("host_started", None, step="a", host="h1")
        assert future is not None
        try:
            await future
        except OSError as exc:
            return exc
        return None

    error = asyncio.run(run())
    assert isinstance(error, OSError) and error.errno == errno.ENOSPC
    on["full"] = False
    with pytest.raises(OSError) as caught:
        store.commit()
    assert caught.value is error
    store.commit()  # raised once: the store goes on
    rec = store.append("note_added", step="a", note="after")
    assert rec["seq"] == 2
    store.close()
    assert [r["seq"] for r in read_records(store.folder)] == [1, 2]


def test_an_append_after_waiting_records_on_a_full_disk_fails_them_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make(tmp_path / "runs")
    on = {"full": True}
    disk_full_after(monkeypatch, on)

    async def run() -> tuple[BaseException | None, BaseException | None]:
        future = store.append_soon("host_started", None, step="a", host="h1")
        assert future is not None
        appended: BaseException | None = None
        try:
            store.append("note_added", step="a", note="x")
        except OSError as exc:
            appended = exc
        return appended, future.exception()

    appended, waited = asyncio.run(run())
    assert isinstance(appended, OSError) and appended.errno == errno.ENOSPC
    assert waited is appended
    on["full"] = False
    assert store.append("note_added", step="a", note="y")["seq"] == 2
    store.close()


def test_an_append_while_a_failing_group_is_written_raises_the_disk_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make(tmp_path / "runs")
    on = {"full": True}
    disk_full_after(monkeypatch, on)
    errors: list[Any] = []

    async def run() -> BaseException | None:
        asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: errors.append(ctx))
        store.append_soon("host_started", None, step="a", host="h1")
        await asyncio.sleep(0)  # the group goes to the journal's thread
        try:
            store.append("note_added", step="a", note="x")
        except OSError as exc:
            return exc
        finally:
            await asyncio.sleep(0.01)
        return None

    error = asyncio.run(run())
    assert isinstance(error, OSError) and error.errno == errno.ENOSPC
    assert errors == []
    on["full"] = False
    assert store.append("note_added", step="a", note="y")["seq"] == 2
    store.close()


def test_an_append_that_waits_for_a_group_leaves_no_error_on_the_loop(tmp_path: Path) -> None:
    store = make(tmp_path / "runs")
    errors: list[Any] = []

    async def run() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: errors.append(ctx))
        store.append_soon("host_started", None, step="a", host="h1")
        await asyncio.sleep(0)
        store.append("note_added", step="a", note="x")  # settles the group in flight
        second = store.append_soon("host_started", None, step="a", host="h2")
        assert second is not None
        await second
        await asyncio.sleep(0.01)

    asyncio.run(run())
    assert errors == []
    assert [r["seq"] for r in store.records] == [1, 2, 3, 4]
    store.close()
    assert check_chain(read_records(store.folder)) == []


def test_a_record_made_while_the_next_group_is_written_follows_it(tmp_path: Path) -> None:
    store = make(tmp_path / "runs")
    real = store._persist
    second_group = threading.Event()
    calls: list[int] = []

    def persist(items: list[Any]) -> None:
        calls.append(len(items))
        if len(calls) == 2:
            second_group.wait(5)
        real(items)

    store._persist = persist  # type: ignore[method-assign]

    async def run() -> list[dict[str, Any]]:
        first = store.append_soon("host_started", None, step="a", host="h1")
        await asyncio.sleep(0)  # h1 goes to the thread
        second = store.append_soon("host_started", None, step="a", host="h2")
        assert first is not None and second is not None
        await first  # h1 is folded; h2 goes to the thread and waits there
        third = store.append_soon("host_started", None, step="a", host="h3")
        assert third is not None
        second_group.set()
        return [await second, await third]

    h2, h3 = asyncio.run(run())
    assert (h2["seq"], h3["seq"]) == (3, 4) and h3["prev"] == h2["hash"]
    store.close()
    assert check_chain(read_records(store.folder)) == []


class FlakyJournal:
    """The journal file on a disk that fails: writes reach the file, the flush and the close fail."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def write(self, data: bytes) -> int:
        n = int(self.real.write(data))
        self.real.flush()
        return n

    def flush(self) -> None:
        raise OSError(errno.EIO, "Input/output error")

    def fileno(self) -> int:
        return int(self.real.fileno())

    def close(self) -> None:
        self.real.close()
        raise OSError(errno.EIO, "Input/output error")


def test_a_failed_write_is_cut_back_even_when_the_journal_cannot_be_closed(
    tmp_path: Path,
) -> None:
    store = make(tmp_path / "runs")
    store.append("note_added", step="a", note="kept")
    before = (store.folder / JOURNAL).read_bytes()
    flaky = FlakyJournal(open(store.folder / JOURNAL, "ab"))  # closed by the store
    store._journal = flaky
    with pytest.raises(OSError, match="Input/output error"):
        store.append("note_added", step="a", note="lost")
    assert (store.folder / JOURNAL).read_bytes() == before
    assert flaky.real.closed and store._journal is None
    store.close()


def test_a_failed_write_closes_the_journal_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make(tmp_path / "runs")
    store.append("note_added", step="a", note="kept")
    journal = store._journal
    assert journal is not None
    disk_full_after(monkeypatch, {"full": True})
    with pytest.raises(OSError):
        store.append("note_added", step="a", note="lost")
    assert journal.closed
    store.lock.release()


def test_a_failed_write_whose_journal_vanished_still_raises_the_disk_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make(tmp_path / "runs")
    store.append("note_added", step="a", note="kept")

    def gone(fd: int) -> None:
        os.unlink(store.folder / JOURNAL)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_module.os, "fdatasync", gone)
    with pytest.raises(OSError) as caught:
        store.append("note_added", step="a", note="lost")
    assert caught.value.errno == errno.ENOSPC
    store.lock.release()


def test_an_append_after_a_group_in_flight_is_durable_when_it_returns(tmp_path: Path) -> None:
    """A group in the thread, another record gathered behind it, then a plain ``append``: the
    append waits for the group, then writes what waits and its own record itself, before it
    returns. Handing them to the thread instead would return with the record not yet written."""
    store = RunStore.create(
        tmp_path / "runs", "20260302T090000Z-settle", "[checklist]\n", {"operator": "ana"}
    )
    gate = threading.Event()
    persist = store._persist
    calls: list[int] = []

    def gated(items: list[Any]) -> None:
        calls.append(len(items))
        if len(calls) == 1:
            assert gate.wait(10), "the test never opened the gate"
        persist(items)

    store._persist = gated  # type: ignore[method-assign]

    async def scenario() -> dict[str, Any]:
        store.append_soon("note_added", step="a", note="first", by="ana")
        await asyncio.sleep(0)  # the end of the turn: the first group goes to the thread
        assert store._inflight is not None
        store.append_soon("note_added", step="a", note="second", by="ana")
        await asyncio.sleep(0)  # its commit finds a group in flight: it waits behind it
        gate.set()  # the first group may be written now
        rec = store.append("note_added", step="a", note="third", by="ana")
        # no await since: whatever the append did, it did before returning
        assert store.state.last_seq == rec["seq"]
        assert f'"hash": "{rec["hash"]}"' in (store.folder / JOURNAL).read_text()
        return rec

    rec = asyncio.run(scenario())
    assert [r.get("note") for r in store.records if r["type"] == "note_added"] == [
        "first",
        "second",
        "third",
    ]
    assert rec["seq"] == store.records[-1]["seq"]
    store.close()
