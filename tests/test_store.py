"""The journal, the report and their failure modes."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from iact_tui.engine.store import (
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
