"""The journal, the report and their failure modes."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from iact_tui.engine.record.store import (
    JOURNAL,
    REPORT,
    ReportError,
    RunLocked,
    RunStore,
    check_chain,
    read_records,
    resolve_run,
)


def _store(tmp_path: Path) -> RunStore:
    plan = [{"id": "a", "phase": "p", "kind": "local", "title": "A"}]
    return RunStore.create(tmp_path / "runs", "r1", "x = 1\n", {"operator": "ann", "plan": plan, "checklist_sha256": "00"})


def test_records_survive_without_compaction_and_torn_tail_is_dropped(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.append("step_started", step="a", attempt=1, command="true")
    store.append("step_finished", step="a", attempt=1, status="passed", duration=0.1)
    folder = store.folder
    # the process dies here: no compaction; plus half a record that never got its newline
    with open(folder / JOURNAL, "ab") as f:
        f.write(b'{"seq": 4, "type": "run_fini')
    records = read_records(folder)
    assert [r["type"] for r in records] == ["run_created", "step_started", "step_finished"]
    store.lock.release()
    reopened = RunStore.open(folder)
    assert reopened.state.steps["a"].status == "passed"
    assert not (folder / JOURNAL).read_bytes().endswith(b"run_fini")  # repaired
    reopened.append("run_finished", status="succeeded")
    reopened.close()
    report = tomllib.loads((folder / REPORT).read_text())
    assert report["run"]["status"] == "succeeded"
    assert [e["seq"] for e in report["events"]] == [1, 2, 3, 4]
    assert (folder / JOURNAL).read_bytes() == b""


def test_damaged_middle_record_is_refused_and_nothing_overwritten(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.append("step_started", step="a", attempt=1)
    store.append("step_finished", step="a", attempt=1, status="passed")
    store.lock.release()
    journal = store.folder / JOURNAL
    lines = journal.read_bytes().split(b"\n")
    lines[0] = b"garbage"
    journal.write_bytes(b"\n".join(lines))
    before = journal.read_bytes()
    with pytest.raises(ReportError, match="damaged"):
        RunStore.open(store.folder)
    assert journal.read_bytes() == before


def test_edited_event_is_detected(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.append("step_ticked", step="a", result="passed", by="bob")
    store.close()
    report = store.folder / REPORT
    report.write_text(report.read_text().replace('by = "bob"', 'by = "eve"'))
    with pytest.raises(ReportError, match="changed after it was recorded"):
        read_records(store.folder)


def test_chain_detects_removed_and_reordered(tmp_path: Path) -> None:
    store = _store(tmp_path)
    for i in range(4):
        store.append("note_added", step="a", note=f"n{i}", by="x")
    recs = list(store.records)
    assert check_chain(recs) == []
    assert "removed, added or reordered" in check_chain(recs[:2] + recs[3:])[0]
    assert "removed, added or reordered" in check_chain([recs[0], recs[2], recs[1], *recs[3:]])[0]


def test_unreadable_report_is_refused(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.close()
    (store.folder / REPORT).write_text("schema_version = 1\n[run\n")
    with pytest.raises(ReportError, match="cannot be read"):
        read_records(store.folder)
    (store.folder / REPORT).write_text("schema_version = 7\n")
    with pytest.raises(ReportError, match="schema_version 7"):
        read_records(store.folder)


def test_lock_refuses_second_driver(tmp_path: Path) -> None:
    store = _store(tmp_path)
    with pytest.raises(RunLocked, match="in use by pid"):
        RunStore.open(store.folder)
    store.close()
    RunStore.open(store.folder).close()


def test_resolve_run_by_id_folder_report_and_prefix(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.close()
    runs = tmp_path / "runs"
    assert resolve_run("r1", runs) == store.folder
    assert resolve_run(str(store.folder), runs) == store.folder
    assert resolve_run(str(store.folder / REPORT), runs) == store.folder
    with pytest.raises(ReportError, match="no run 'zz'"):
        resolve_run("zz", runs)


def test_save_cost_is_one_append(tmp_path: Path) -> None:
    store = _store(tmp_path)
    size_before = (store.folder / REPORT).stat().st_size
    rec = store.append("note_added", step="a", note="x", by="y")
    journal = (store.folder / JOURNAL).read_bytes()
    assert json.loads(journal.splitlines()[-1]) == rec
    assert (store.folder / REPORT).stat().st_size == size_before  # the report is not rewritten per save
    store.close()


# -- report.toml kept up to date while the run goes on (issue 10, item 19) -------------------------


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _clocked(tmp_path: Path) -> tuple[RunStore, FakeClock]:
    store = _store(tmp_path)
    clock = FakeClock()
    store.clock = clock
    store.compact()  # written at t = 0
    return store, clock


def _report_seqs(folder: Path) -> list[int]:
    """What a person's tool sees: report.toml alone, without the journal."""
    return [e["seq"] for e in tomllib.loads((folder / REPORT).read_text())["events"]]


def test_report_is_rewritten_at_least_every_10_s_while_records_are_made(tmp_path: Path) -> None:
    store, clock = _clocked(tmp_path)
    clock.t = 9.9
    store.append("step_started", step="a", attempt=1, command="true")
    assert _report_seqs(store.folder) == [1]  # not yet: a save stays one append
    clock.t = 10.0
    store.append("step_finished", step="a", attempt=1, status="passed", duration=0.1)
    assert _report_seqs(store.folder) == [1, 2, 3]
    report = tomllib.loads((store.folder / REPORT).read_text())
    assert report["steps"][0]["status"] == "passed"
    # the journal is kept: a reader that read the previous report.toml still finds every record
    assert [json.loads(line)["seq"] for line in (store.folder / JOURNAL).read_bytes().splitlines()] == [2, 3]
    assert [r["seq"] for r in read_records(store.folder)] == [1, 2, 3]  # each exactly once
    clock.t = 15.0
    store.append("note_added", step="a", note="x", by="y")
    assert _report_seqs(store.folder) == [1, 2, 3]  # 5 s after the last one
    assert store.compact_if_due() is False
    clock.t = 20.0
    assert store.compact_if_due() is True  # the runner asks while a long step runs
    assert _report_seqs(store.folder) == [1, 2, 3, 4]
    assert store.compact_if_due() is False  # nothing new
    store.close()
    assert (store.folder / JOURNAL).read_bytes() == b""  # emptied at the end, as before
    assert [r["seq"] for r in read_records(store.folder)] == [1, 2, 3, 4]


def test_report_says_when_it_was_written_and_that_the_journal_may_be_newer(tmp_path: Path) -> None:
    store, _ = _clocked(tmp_path)
    store.append("step_started", step="a", attempt=1, command="true")
    store.checkpoint()
    text = (store.folder / REPORT).read_text()
    head = text.splitlines()[:3]
    assert head[0].startswith("# iact-tui run report, written 20")
    assert "events 1 to 2, run status running." in head[0]
    assert "journal.jsonl in this folder may hold newer records" in head[1]
    assert all(line.startswith("# ") for line in head)
    assert tomllib.loads(text)["schema_version"] == 1  # a comment: the TOML is unchanged
    store.close()


def test_a_report_that_cannot_be_written_never_fails_a_save(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from iact_tui.engine.record import store as store_module

    store, clock = _clocked(tmp_path)

    def disk_full(src: object, dst: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_module.os, "replace", disk_full)
    clock.t = 30.0
    rec = store.append("step_finished", step="a", attempt=1, status="passed", duration=0.1)
    assert json.loads((store.folder / JOURNAL).read_bytes().splitlines()[-1]) == rec  # durable
    assert [p.name for p in store.folder.iterdir() if p.name.endswith(".tmp")] == []  # no debris
    assert _report_seqs(store.folder) == [1]
    monkeypatch.undo()  # the disk has room again
    clock.t = 35.0
    store.append("note_added", step="a", note="x", by="y")
    assert _report_seqs(store.folder) == [1]  # retried 10 s after the failed attempt, not at every save
    clock.t = 40.0
    assert store.compact_if_due() is True
    assert _report_seqs(store.folder) == [1, 2, 3]
    store.close()


def test_a_rewrite_writes_the_same_report_as_serialising_it_whole(tmp_path: Path) -> None:
    """Each record's [[events]] table is written out once and reused by later rewrites."""
    import tomli_w

    store, clock = _clocked(tmp_path)
    for round_ in range(3):
        store.append("step_started", step="a", attempt=round_ + 1, command="echo 'quoted' \"twice\"\nline")
        store.append("step_finished", step="a", attempt=round_ + 1, status="failed", exit_status=2,
                     output_tail=["x = 1", "[not a table]"], evidence={"url": "http://x", "n": 1.5})
        clock.t += 10
        store.compact_if_due()
        text = (store.folder / REPORT).read_text()
        whole = tomli_w.dumps(store.report_data(), multiline_strings=False)
        assert tomllib.loads(text) == tomllib.loads(whole)
        assert text.split("\n\n", 1)[1] == whole  # after the header comment: the same bytes
    store.close()
    assert [r["seq"] for r in read_records(store.folder)] == list(range(1, 8))


def test_a_rewrite_keeps_the_files_permissions(tmp_path: Path) -> None:
    """A report rewritten by another member of a shared folder's group keeps rw-rw----."""
    import os
    import stat

    from iact_tui.engine.record.store import atomic_write

    path = tmp_path / "report.toml"
    path.write_text("a")
    path.chmod(0o660)
    old = os.umask(0o022)
    try:
        atomic_write(path, b"b")
    finally:
        os.umask(old)
    assert path.read_bytes() == b"b"
    assert stat.S_IMODE(path.stat().st_mode) == 0o660
