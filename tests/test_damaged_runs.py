"""Bad run references and damaged run folders: one clear line and exit 2, never a traceback;
one damaged run never breaks `list` or a plain `resume` of the others (issue #10, item 17)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from iact_tui.cli import main
from iact_tui.engine.record.store import (
    JOURNAL,
    LOCK,
    REPORT,
    ReportError,
    list_runs,
    read_records,
    resolve_run,
)
from tests.runfactory import RunBuilder

CHECKLIST = """\
schema_version = 1

[checklist]
id = "T-DMG"
title = "Damage"
version = "1.0.0"

[[phases]]
id = "one"
title = "One"

[[phases.steps]]
id = "first"
kind = "local"
run = "true"

[[phases.steps]]
id = "approve"
kind = "manual"
instructions = "Look at it"
"""

GOOD_ID = "20250101T000000Z-t-dmg-0001"
BAD_ID = "20250202T000000Z-t-dmg-0002"  # newer: a plain resume meets it first


def paused_run(runs: Path, run_id: str, *, journal_tail: bool = True) -> Path:
    """A paused run waiting at 'approve'; with journal_tail its last records are only in the journal."""
    b = RunBuilder(runs, CHECKLIST, run_id=run_id, variables={})
    b.run_step("first", "ok\n")
    if journal_tail:
        b.store.compact()
    b.wait("approve")
    b.append("run_paused", reason="step 'approve' waits for a person")
    if not journal_tail:
        b.store.compact()
    if b.store._journal is not None:  # as if the process had ended here
        b.store._journal.close()
        b.store._journal = None
    b.store.lock.release()
    return b.folder


@pytest.fixture(autouse=True)
def _elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """RunBuilder records checklist_path 'checklists/staging.toml': not found from here, so a
    resume uses the pinned checklist."""
    monkeypatch.chdir(tmp_path)


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"CI": "true", "IACT_RUNS_DIR": None})


def assert_clean(result: Result, code: int = 2) -> str:
    """Exit ``code`` with one 'iact-tui: ...' line and no traceback; returns that line."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output, result.output
    assert result.exit_code == code, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("iact-tui: ") and "running headless" not in line]
    assert len(errors) == 1, result.output
    return errors[0]


# -- glob characters in a run reference -------------------------------------------------------


@pytest.mark.parametrize("ref", ["*", "***", "**/x", "2025*", "[", "t-dmg-000?"])
def test_wildcards_in_a_run_reference_are_refused(tmp_path: Path, ref: str) -> None:
    runs = tmp_path / "runs"
    paused_run(runs, GOOD_ID)
    with pytest.raises(ReportError, match="wildcards"):
        resolve_run(ref, runs)
    for args in (["resume", ref, "--headless"], ["tick", ref, "approve"], ["export", ref], ["verify", ref]):
        line = assert_clean(cli(*args, "--runs-dir", str(runs)))
        assert "wildcards" in line and "not a run reference" in line, (args, line)


def test_a_part_of_an_id_still_names_a_run(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    folder = paused_run(runs, GOOD_ID)
    assert resolve_run("dmg-0001", runs) == folder
    with pytest.raises(ReportError, match="empty"):
        resolve_run("  ", runs)


# -- damaged run folders ------------------------------------------------------------------------


def _journal_line(folder: Path, make: Callable[[dict], object]) -> None:
    journal = folder / JOURNAL
    lines = journal.read_text().splitlines()
    assert lines, "the fixture keeps records in the journal"
    rec = json.loads(lines[0])
    lines[0] = json.dumps(make(rec))
    journal.write_text("\n".join(lines) + "\n")


def _report_events(folder: Path, value: str) -> None:
    report = folder / REPORT
    text = report.read_text()
    head = text.split("[[events]]", 1)[0]
    report.write_text(f"events = {value}\n" + head if not head.lstrip().startswith("schema_version") else
                      head.replace("schema_version = 1", f"schema_version = 1\nevents = {value}", 1))


def _replace_by_dir(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
    path.mkdir()
    (path / "x").write_text("x")


def _logs_a_file(folder: Path) -> None:
    shutil.rmtree(folder / "logs")
    (folder / "logs").write_text("not a folder")


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "journal line is a list": (lambda f: _journal_line(f, lambda r: [r]), "not a record"),
    "journal line is a number": (lambda f: _journal_line(f, lambda r: 42), "not a record"),
    "string seq": (lambda f: _journal_line(f, lambda r: {**r, "seq": str(r["seq"])}), "'seq'"),
    "events is a string": (lambda f: _report_events(f, '"oops"'), "not a list of tables"),
    "events holds numbers": (lambda f: _report_events(f, "[1, 2]"), "not a record"),
    "report.toml is a folder": (lambda f: _replace_by_dir(f / REPORT), "is a folder"),
    "journal.jsonl is a folder": (lambda f: _replace_by_dir(f / JOURNAL), "is a folder"),
    ".lock is a folder": (lambda f: _replace_by_dir(f / LOCK), "is a folder"),
    "logs is a file": (_logs_a_file, "logs"),
}

# damage that leaves the records readable (export and verify may still read the run)
RECORDS_READABLE = {".lock is a folder", "logs is a file"}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_run_folder_gets_one_clear_line(tmp_path: Path, damage: str) -> None:
    runs = tmp_path / "runs"
    paused_run(runs, GOOD_ID)
    bad = paused_run(runs, BAD_ID)
    make, reason = DAMAGE[damage]
    make(bad)
    before = {p: p.read_bytes() for p in bad.rglob("*") if p.is_file() and p.name != LOCK}

    # resume and tick of the damaged run: exit 2, one line naming the reason
    line = assert_clean(cli("resume", BAD_ID, "--headless", "--runs-dir", str(runs)))
    assert reason in line, line
    line = assert_clean(cli("tick", BAD_ID, "approve", "--runs-dir", str(runs)))
    assert reason in line, line

    listed = cli("list", "--runs-dir", str(runs))
    assert listed.exit_code == 0 and listed.exception is None, listed.output
    assert GOOD_ID in listed.output
    assert f"{BAD_ID}  unreadable: " in listed.output and reason in listed.output, listed.output
    if damage not in RECORDS_READABLE:
        line = assert_clean(cli("export", BAD_ID, "-o", str(tmp_path / "out"), "--runs-dir", str(runs)))
        assert "Traceback" not in line
        verified = cli("verify", str(bad))
        assert verified.exception is None or isinstance(verified.exception, SystemExit), repr(verified.exception)
        assert verified.exit_code != 0 and "Traceback" not in verified.output, verified.output

    # a plain resume passes the damaged run over and resumes the good one (paused again: exit 3)
    resumed = cli("resume", "--headless", "--runs-dir", str(runs))
    assert resumed.exception is None or isinstance(resumed.exception, SystemExit), repr(resumed.exception)
    assert resumed.exit_code == 3, resumed.output
    assert GOOD_ID in resumed.output and BAD_ID not in resumed.output

    # nothing of the damaged run was overwritten (the lock file says who tried last)
    after = {p: p.read_bytes() for p in bad.rglob("*") if p.is_file() and p.name != LOCK}
    assert after == before


def test_list_runs_reports_the_reason_in_the_engine(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    paused_run(runs, GOOD_ID)
    bad = paused_run(runs, BAD_ID)
    _journal_line(bad, lambda r: {**r, "seq": "1"})
    rows = {p.name: (state, problem) for p, state, problem in list_runs(runs)}
    assert rows[GOOD_ID][0] is not None
    assert rows[BAD_ID][0] is None and "'seq' is '1'" in rows[BAD_ID][1]
    with pytest.raises(ReportError, match="line 1"):
        read_records(bad)


def test_records_that_chain_but_cannot_be_interpreted_are_a_report_error(tmp_path: Path) -> None:
    """A record with the right chain but a wrong shape (a rewritten, re-hashed journal) is a
    clear ReportError for `list` and `resume`, not a KeyError from deep inside."""
    from iact_tui.engine.record.store import GENESIS, record_hash

    runs = tmp_path / "runs"
    paused_run(runs, GOOD_ID)
    bad = runs / BAD_ID
    bad.mkdir()
    (bad / "logs").mkdir()
    rec = {"seq": 1, "at": "2025-01-01T00:00:00+00:00", "type": "run_created", "prev": GENESIS}
    rec["hash"] = record_hash(rec)  # no run_id, no plan
    (bad / JOURNAL).write_text(json.dumps(rec) + "\n")
    rows = {p.name: (state, problem) for p, state, problem in list_runs(runs)}
    assert rows[BAD_ID][0] is None and "cannot be interpreted" in rows[BAD_ID][1]
    line = assert_clean(cli("resume", BAD_ID, "--headless", "--runs-dir", str(runs)))
    assert "cannot be interpreted" in line
