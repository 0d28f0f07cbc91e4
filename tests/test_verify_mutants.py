"""Verify behaviour that mutation testing (issue 10) found untested: each check names the right
file with the right verdict and topic, coverage of a signed report counts nested files, broken
links, empty or undecodable journals and long lists exactly, and table differences are shown
readably."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from iact_tui.engine.record.state import reduce
from iact_tui.engine.record.store import GENESIS, build_report, record_hash
from iact_tui.engine.report.bundle import export_run
from iact_tui.engine.report.signing import load_key_file, sign_files
from iact_tui.engine.report.verify import Check, Verification, VerifyInputError, locate, verify
from tests import runfactory, test_verify_trust
from tests.test_verify_trust import PRINCIPAL, RUN_ID

# the signing key, its allowed_signers file and a finished run of test_verify_trust
key = test_verify_trust.key
allowed = test_verify_trust.allowed
runs = test_verify_trust.runs


def signed(runs: Path, out: Path, key: Path, *formats: str) -> Path:
    export_run(runs / RUN_ID, out_dir=out, formats=formats, signer=load_key_file(key))
    return out


def topic(result: Verification, name: str) -> list[Check]:
    return [c for c in result.checks if c.topic == name]


def coverage_failures(result: Verification) -> list[str]:
    return [c.text for c in topic(result, "coverage") if not c.ok]


# -- coverage of a signed report ---------------------------------------------------------------


def test_a_signed_bundle_reports_full_coverage_with_its_file_count(
    runs: Path, key: Path, allowed: Path, tmp_path: Path
) -> None:
    out = signed(runs, tmp_path / "b", key, "md")
    count = sum(len(files) for _, _, files in os.walk(out))
    result = verify(out, allowed)
    assert result.ok, result.problems
    assert topic(result, "coverage") == [
        Check(True, "coverage", f"every file here is covered by a signature ({count} files)")
    ]


def test_an_unreadable_signed_extra_file_is_named_and_the_next_one_still_checked(
    runs: Path, key: Path, allowed: Path, tmp_path: Path
) -> None:
    out = signed(runs, tmp_path / "b", key)
    os.symlink(tmp_path / "nowhere", out / "a-link")  # listed as a file, cannot be read
    shutil.copy(out / "report.toml.sig", out / "a-link.sig")
    (out / "b-notes.txt").write_text("notes\n")
    shutil.copy(out / "report.toml.sig", out / "b-notes.txt.sig")  # signs other bytes
    count = sum(len(files) for _, _, files in os.walk(out))
    result = verify(out, allowed)
    assert not result.ok
    assert topic(result, "coverage") == [
        Check(False, "coverage", "cannot read a-link: No such file or directory"),
        Check(True, "coverage", f"every file here is covered by a signature ({count} files)"),
    ]
    notes = [s for s in result.signatures if s.file == "b-notes.txt"]
    assert len(notes) == 1 and not notes[0].ok
    assert notes[0].problem.startswith("the signature does not match the file: b-notes.txt")


def test_a_signed_file_in_a_subfolder_is_checked_under_its_own_path(
    runs: Path, key: Path, allowed: Path, tmp_path: Path
) -> None:
    out = signed(runs, tmp_path / "b", key)
    (out / "extra").mkdir()
    (out / "extra" / "notes.txt").write_text("what we saw\n")
    export_signer = load_key_file(key)

    sign_files(export_signer, [out / "extra" / "notes.txt"])
    (out / "extra" / "more").mkdir()
    (out / "extra" / "more" / "unsigned.txt").write_text("nobody signed this\n")
    result = verify(out, allowed, PRINCIPAL)
    notes = [s for s in result.signatures if s.file == "extra/notes.txt"]
    assert len(notes) == 1 and notes[0].ok and notes[0].trusted
    assert notes[0].principal == PRINCIPAL
    assert coverage_failures(result) == ["extra/more/unsigned.txt is not covered by any signature"]


def test_extra_signed_files_are_checked_for_the_identity_asked(
    runs: Path, key: Path, tmp_path: Path
) -> None:
    pub = " ".join(Path(f"{key}.pub").read_text().split()[:2])
    allowed_path = tmp_path / "allowed_signers"
    allowed_path.write_text(f"ops@example.org,{PRINCIPAL} {pub}\n")
    out = signed(runs, tmp_path / "b", key)
    (out / "notes.txt").write_text("what we saw\n")

    sign_files(load_key_file(key), [out / "notes.txt"])
    result = verify(out, allowed_path, PRINCIPAL)
    assert result.ok, result.problems
    assert {s.file: s.principal for s in result.signatures} == {
        "report.toml": PRINCIPAL,
        "export.toml": PRINCIPAL,
        "notes.txt": PRINCIPAL,
    }


@pytest.mark.parametrize("extra", [8, 9])
def test_at_most_eight_uncovered_files_are_named_then_counted(
    extra: int, runs: Path, key: Path, allowed: Path, tmp_path: Path
) -> None:
    out = signed(runs, tmp_path / "b", key)
    for i in range(extra):
        (out / f"extra-{i}.txt").write_text(f"{i}\n")
    result = verify(out, allowed)
    named = [f"extra-{i}.txt is not covered by any signature" for i in range(extra)]
    if extra > 8:
        named = [*named[:8], f"and {extra - 8} more files no signature covers"]
    assert [c for c in topic(result, "coverage") if not c.ok] == [
        Check(False, "coverage", text) for text in named
    ]
    # the other checks are still there
    assert [c.topic for c in result.checks if c.ok][:2] == ["events", "tables"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "journal.jsonl is not covered by any signature"),
        (
            b'{"seq": 99, "note": "caf\xe9"}\n',
            "journal.jsonl holds 1 record that no signature covers: a signed report's status, "
            "steps and events come from report.toml alone",
        ),
        (
            b'{"seq": 99}\n\n{"seq": 100}\n',
            "journal.jsonl holds 2 records that no signature covers: a signed report's status, "
            "steps and events come from report.toml alone",
        ),
    ],
    ids=["empty", "one-undecodable", "two"],
)
def test_journal_records_beside_a_signed_report_are_counted(
    content: bytes, reason: str, runs: Path, key: Path, allowed: Path, tmp_path: Path
) -> None:
    out = signed(runs, tmp_path / "b", key)
    (out / "journal.jsonl").write_bytes(content)
    result = verify(out, allowed)
    assert not result.ok
    assert coverage_failures(result) == [reason]


def test_a_journal_that_cannot_be_opened_is_still_named(
    runs: Path, key: Path, allowed: Path, tmp_path: Path
) -> None:
    out = signed(runs, tmp_path / "b", key)
    os.symlink(tmp_path / "nowhere", out / "journal.jsonl")
    result = verify(out, allowed)
    assert coverage_failures(result) == ["journal.jsonl is not covered by any signature"]


def test_a_badly_signed_manifest_covers_nothing_it_lists(
    runs: Path, key: Path, allowed: Path, tmp_path: Path
) -> None:
    out = signed(runs, tmp_path / "b", key, "md")
    shutil.copy(out / "report.toml.sig", out / "export.toml.sig")  # a signature of other bytes
    (out / "report.md.sig").unlink()
    result = verify(out, allowed)
    assert not result.ok
    assert (
        "report.md is not covered by any signature (no report.md.sig, and no signed "
        "export.toml lists it)"
    ) in coverage_failures(result)


def test_the_log_of_a_step_still_running_is_not_covered_by_the_signed_report(
    tmp_path: Path, key: Path, allowed: Path
) -> None:
    builder = runfactory.unfinished_staging_run(tmp_path / "runs")
    try:
        builder.start("reverify")
        with open(builder.store.log_path("reverify"), "a") as log:
            log.write("attempt 2: GET /api/health\n")
        out = tmp_path / "b"
        export_run(builder.folder, out_dir=out, signer=load_key_file(key))
    finally:
        builder.store.lock.release()
    for name in ("export.toml", "export.toml.sig"):
        (out / name).unlink()  # nothing but the report vouches for the logs now
    result = verify(out, allowed)
    assert not result.ok
    assert coverage_failures(result) == ["logs/reverify.log is not covered by any signature"]
    assert "1 step log(s) still being written were not checked: reverify" in result.notes


# -- how table differences are shown -----------------------------------------------------------


def unsigned(runs: Path, out: Path) -> Path:
    export_run(runs / RUN_ID, out_dir=out)
    (out / "export.toml").unlink()
    return out


def rewrite(report: Path, change: Any) -> None:
    data = tomllib.loads(report.read_text())
    change(data)
    report.write_text(tomli_w.dumps(data))


@pytest.mark.parametrize(
    ("length", "shown"),
    [(78, "'" + "x" * 78 + "'"), (79, "'" + "x" * 76 + "…")],
    ids=["fits-in-80", "cut-at-80"],
)
def test_a_long_value_is_cut_to_80_characters(
    length: int, shown: str, runs: Path, tmp_path: Path
) -> None:
    out = unsigned(runs, tmp_path / "b")
    rewrite(out / "report.toml", lambda d: d["run"].update(operator="x" * length))
    result = verify(out)
    assert [c.text for c in topic(result, "tables") if not c.ok] == [
        f"[run]: operator is {shown} but the events say 'alice'"
    ]


def test_a_changed_time_is_shown_as_an_iso_time(runs: Path, tmp_path: Path) -> None:
    out = unsigned(runs, tmp_path / "b")
    data = tomllib.loads((out / "report.toml").read_text())
    key_name, original = next((k, v) for k, v in data["run"].items() if hasattr(v, "isoformat"))
    changed = original.replace(year=original.year - 1)
    rewrite(out / "report.toml", lambda d: d["run"].update({key_name: changed}))
    result = verify(out)
    assert [c.text for c in topic(result, "tables") if not c.ok] == [
        f"[run]: {key_name} is {changed.isoformat()} but the events say {original.isoformat()}"
    ]


# -- step logs -------------------------------------------------------------------------------


def rename_step(report: Path, old: str, new: str) -> None:
    """What a forger can do to an unsigned report: rename a step everywhere, recompute the
    chain and rebuild the tables."""
    data = tomllib.loads(report.read_text())
    events = data["events"]
    for e in events:
        if e.get("step") == old:
            e["step"] = new
        for p in e.get("plan", []):
            if p["id"] == old:
                p["id"] = new
    prev = GENESIS
    for rec in events:
        rec["prev"] = prev
        rec.pop("hash", None)
        rec["hash"] = record_hash(rec)
        prev = rec["hash"]
    report.write_text(tomli_w.dumps(build_report(events, reduce(events))))


def test_a_log_outside_the_folder_is_refused_and_the_others_still_checked(
    runs: Path, tmp_path: Path
) -> None:
    out = unsigned(runs, tmp_path / "b")
    rename_step(out / "report.toml", "health", "../health")
    result = verify(out)
    assert not result.consistent
    assert topic(result, "logs") == [
        Check(
            False, "logs", "step '../health' names a log outside the folder (logs/../health.log)"
        ),
        Check(True, "logs", "11 step logs match their recorded sha256"),
    ]


def test_logs_after_a_step_still_running_are_still_checked(tmp_path: Path) -> None:
    builder = runfactory.unfinished_staging_run(tmp_path / "runs")
    try:
        builder.start("revert")  # ran before, runs again: its log is being written
        out = tmp_path / "b"
        export_run(builder.folder, out_dir=out)
    finally:
        builder.store.lock.release()
    (out / "logs" / "reverify.log").write_text("changed\n")
    result = verify(out)
    assert [c for c in topic(result, "logs") if c.ok] == [
        Check(True, "logs", "10 step logs match their recorded sha256")
    ]
    assert any(
        not c.ok and c.text.startswith("logs/reverify.log does not match the sha256")
        for c in topic(result, "logs")
    )


# -- what the front ends show ------------------------------------------------------------------


def test_lines_put_the_missing_signature_first_then_checks_then_notes(
    runs: Path, tmp_path: Path
) -> None:
    out = unsigned(runs, tmp_path / "b")
    result = verify(out)
    lines = result.lines()
    assert lines[0] == (
        False,
        "signature  report.toml is not signed: no report.toml.sig next to it",
    )
    assert lines[1][0] is True and lines[1][1].startswith("events     38 events, hash chain intact")
    assert [ok for ok, _ in lines[1:]] == [c.ok for c in result.checks] + [None] * len(result.notes)


def test_lines_of_a_signed_report_start_with_its_signatures(
    runs: Path, key: Path, allowed: Path, tmp_path: Path
) -> None:
    out = signed(runs, tmp_path / "b", key)
    result = verify(out, allowed)
    lines = result.lines()
    assert [ok for ok, _ in lines[:2]] == [True, True]
    assert lines[0][1].startswith('signature  report.toml: good "iact-tui-report" signature by ')
    assert lines[1][1].startswith('signature  export.toml: good "iact-tui-report" signature by ')
    assert lines[2][1].startswith("events     ")
    assert len(lines) == 2 + len(result.checks) + len(result.notes)


# -- the tables against the events -------------------------------------------------------------


def step_row(data: dict[str, Any], step_id: str) -> dict[str, Any]:
    return next(r for r in data["steps"] if r["id"] == step_id)


def table_failures(runs: Path, tmp_path: Path, change: Any) -> list[str]:
    out = unsigned(runs, tmp_path / "b")
    rewrite(out / "report.toml", change)
    return [c.text for c in topic(verify(out), "tables") if not c.ok]


HEALTH = "[[steps]] row 'staging-health'"
TAIL = [
    "GET https://staging.iact-project.com/api/health",
    "HTTP 200 OK",
    '{"status": "healthy", "version": "1.2.2"}',
]
EVIDENCE = {
    "http_status": 200,
    "latency_ms": 42.5,
    "url": "https://staging.iact-project.com/api/health",
    "body_excerpt": '{"status": "healthy", "version": "1.2.2"}',
}


TITLES = [
    ("staging-health", "Staging is operational"),
    ("ci-green", "Tests green in CI"),
    ("changelog-review", "Review the changelog"),
    ("approval", "Tech Lead approval"),
    ("notify-start", "Notify the start of the deployment"),
    ("db-backup", "Back up the database"),
    ("config-backup", "Back up the configuration"),
    ("ci-deploy", "Run the deploy workflow"),
]
STEP_IDS = [i for i, _ in TITLES]


def shown(value: Any) -> str:
    """A value as a difference shows it: its repr, cut to 80 characters."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "…"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: step_row(d, "staging-health").update(rollback=0),
            [f"{HEALTH}: rollback is 0 but the events say False"],
        ),
        (
            lambda d: step_row(d, "staging-health").update(attempts=True),
            [f"{HEALTH}: attempts is True but the events say 1"],
        ),
        (
            lambda d: step_row(d, "staging-health").update(attempts=1.0),
            [],  # the same number
        ),
        (
            lambda d: step_row(d, "staging-health").update(duration="0.0425"),
            [f"{HEALTH}: duration is '0.0425' but the events say 0.0425"],
        ),
        (
            lambda d: step_row(d, "staging-health").update(
                started_at=step_row(d, "staging-health")["started_at"].replace(tzinfo=None)
            ),
            [
                f"{HEALTH}: started_at is 2025-11-17T14:00:02 but the events say "
                "2025-11-17T14:00:02+00:00"
            ],
        ),
        (
            lambda d: step_row(d, "staging-health")["output_tail"].pop(),
            [f"{HEALTH}: output_tail is {shown(TAIL[:2])} but the events say {shown(TAIL)}"],
        ),
        (
            lambda d: step_row(d, "staging-health")["output_tail"].__setitem__(1, "HTTP 500"),
            [
                f"{HEALTH}: output_tail is {shown([TAIL[0], 'HTTP 500', TAIL[2]])} "
                f"but the events say {shown(TAIL)}"
            ],
        ),
        (
            lambda d: step_row(d, "staging-health")["evidence"].update(note="fine"),
            [
                f"{HEALTH}: evidence is {shown({**EVIDENCE, 'note': 'fine'})} "
                f"but the events say {shown(EVIDENCE)}"
            ],
        ),
        (
            lambda d: d["steps"].remove(step_row(d, "ci-green")),
            ["[[steps]] has no row for step 'ci-green', which the events give"],
        ),
        (
            lambda d: [d["steps"].remove(step_row(d, i)) for i in ("ci-green", "approval")],
            [
                "[[steps]] has no row for step 'ci-green', which the events give",
                "[[steps]] has no row for step 'approval', which the events give",
            ],
        ),
        (
            lambda d: d["steps"].reverse(),
            ["the [[steps]] rows are not in the order of the events"],
        ),
        (
            lambda d: step_row(d, "staging-health").update(verdict="fine"),
            [f"{HEALTH} has verdict = 'fine', which the events do not give"],
        ),
        (
            lambda d: step_row(d, "staging-health").update(evidence="x"),
            [f"{HEALTH}: evidence is 'x' but the events say {shown(EVIDENCE)}"],
        ),
        (
            lambda d: d["run"].update(iact_tui_version="9.9"),
            ["[run]: iact_tui_version is '9.9' but the events say '0.1.0'"],
        ),
        (
            lambda d: d.pop("steps"),
            [
                "report.toml has no 'steps'",
                *(
                    f"[[steps]] has no row for step '{i}', which the events give"
                    for i in STEP_IDS[:7]
                ),
                "and 11 more differences",
            ],
        ),
        (
            lambda d: [r.update(title="?") for r in d["steps"][:8]],
            [f"[[steps]] row '{i}': title is '?' but the events say '{t}'" for i, t in TITLES],
        ),
        (lambda d: d.pop("run"), ["report.toml has no 'run'"]),
        (lambda d: d.update(run="x"), ["report.toml's [run] is not a table"]),
        (lambda d: d.update(steps="x"), ["report.toml's [[steps]] is not a list of tables"]),
        (
            lambda d: d["steps"].append("x"),
            ["report.toml's [[steps]] is not a list of tables"],
        ),
        (
            lambda d: [r.update(title="?") for r in d["steps"][:9]],
            [
                *(f"[[steps]] row '{i}': title is '?' but the events say '{t}'" for i, t in TITLES),
                "and 1 more differences",
            ],
        ),
    ],
    ids=[
        "bool-for-false",
        "bool-for-number",
        "float-for-int",
        "text-for-number",
        "time-without-zone",
        "shorter-list",
        "changed-list-item",
        "extra-dict-key",
        "missing-row",
        "two-missing-rows",
        "row-order",
        "extra-row-key",
        "text-for-dict",
        "version",
        "no-steps",
        "exactly-eight",
        "missing-run",
        "run-not-a-table",
        "steps-not-a-list",
        "a-row-not-a-table",
        "more-than-eight",
    ],
)
def test_each_table_difference_is_named_once(
    change: Any, expected: list[str], runs: Path, tmp_path: Path
) -> None:
    assert table_failures(runs, tmp_path, change) == expected


# -- what is verified, and the files beside the report ----------------------------------------


def test_every_way_of_naming_a_bundle_finds_its_report(
    runs: Path, key: Path, tmp_path: Path
) -> None:
    out = signed(runs, tmp_path / "b", key, "md", "html")
    report = out / "report.toml"
    assert locate(out) == (out, report, None)
    assert locate(report) == (out, report, None)
    assert locate(out / "report.toml.sig") == (out, report, None)
    for name in ("report.md", "report.html", "export.toml"):
        assert locate(out / name) == (out, report, out / name)
    assert locate(out / "report.md.sig") == (out, report, out / "report.md")
    page = out / "copy.htm"
    shutil.copy(out / "report.html", page)
    assert locate(page) == (out, report, page)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda b: b / "nothing", "no such file or folder: {b}/nothing"),
        (lambda b: (b / "empty").mkdir() or b / "empty", "{b}/empty holds no report.toml"),
        (
            lambda b: (b / "x.sig").write_text("") or b / "x.sig",
            "no file {b}/x next to its signature",
        ),
        (
            lambda b: (b / "report.md").write_text("") or b / "report.md",
            "{b} holds no report.toml to go with report.md",
        ),
    ],
    ids=["missing", "empty-folder", "signature-alone", "rendering-alone"],
)
def test_nothing_to_verify_says_what_is_missing(make: Any, message: str, tmp_path: Path) -> None:
    target = make(tmp_path)
    with pytest.raises(VerifyInputError) as caught:
        verify(target)
    assert str(caught.value) == message.format(b=tmp_path)


def test_the_pinned_checklist_missing_unreadable_changed_or_intact(
    runs: Path, tmp_path: Path
) -> None:
    out = unsigned(runs, tmp_path / "b")
    pin = tomllib.loads((out / "report.toml").read_text())["run"]["checklist_sha256"]
    intact = verify(out)
    assert topic(intact, "checklist") == [
        Check(True, "checklist", f"checklist.toml matches the pinned sha256 {pin[:16]}…")
    ]
    (out / "checklist.toml").write_text("changed\n")
    changed = verify(out)
    digest = hashlib.sha256(b"changed\n").hexdigest()
    assert topic(changed, "checklist") == [
        Check(
            False,
            "checklist",
            f"checklist.toml does not match the sha256 the report pins ({pin[:16]}…, "
            f"file {digest[:16]}…): it was changed",
        )
    ]
    (out / "checklist.toml").unlink()
    (out / "checklist.toml").mkdir()
    assert topic(verify(out), "checklist") == [
        Check(False, "checklist", "cannot read checklist.toml: Is a directory")
    ]
    (out / "checklist.toml").rmdir()
    assert topic(verify(out), "checklist") == [
        Check(
            False,
            "checklist",
            f"checklist.toml is missing (the report pins the checklist by sha256 {pin[:16]}…)",
        )
    ]


def manifest_checks(out: Path, change: Any) -> list[Check]:
    manifest = out / "export.toml"
    doc = tomllib.loads(manifest.read_text())
    change(doc)
    manifest.write_text(tomli_w.dumps(doc))
    return topic(verify(out), "export")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: None,
            [Check(True, "export", "the 3 files listed in export.toml match their sha256")],
        ),
        (
            lambda d: d["export"].update(run_id="another-run"),
            [
                Check(False, "export", f"export.toml is about run another-run, not {RUN_ID}"),
                Check(True, "export", "the 3 files listed in export.toml match their sha256"),
            ],
        ),
        (
            lambda d: d["files"].append({"path": "../outside.txt", "sha256": "0" * 64}),
            [Check(False, "export", "../outside.txt listed in export.toml is missing")],
        ),
        (
            lambda d: d["files"].append({"path": ".hidden", "sha256": "0" * 64}),
            [Check(False, "export", ".hidden listed in export.toml is missing")],
        ),
        (
            lambda d: d["files"][0].update(sha256="0" * 64),
            [
                Check(
                    False,
                    "export",
                    "report.toml does not match the sha256 listed in export.toml: it was "
                    "changed after the export",
                )
            ],
        ),
        (
            lambda d: (d["files"].insert(0, "not a table"), d["files"][1].update(sha256="0" * 64)),
            [
                Check(
                    False,
                    "export",
                    "report.toml does not match the sha256 listed in export.toml: it was "
                    "changed after the export",
                )
            ],
        ),
        (
            lambda d: (
                d["files"].insert(0, {"path": "gone.txt", "sha256": "0" * 64}),
                d["files"][1].update(sha256="0" * 64),
            ),
            [
                Check(False, "export", "gone.txt listed in export.toml is missing"),
                Check(
                    False,
                    "export",
                    "report.toml does not match the sha256 listed in export.toml: it was "
                    "changed after the export",
                ),
            ],
        ),
        (
            lambda d: d["files"].append({"sha256": "0" * 64}),
            [Check(False, "export", " listed in export.toml is missing")],
        ),
        (
            lambda d: d.pop("files"),
            [Check(True, "export", "the 0 files listed in export.toml match their sha256")],
        ),
        (
            lambda d: d.pop("export"),
            [Check(True, "export", "the 3 files listed in export.toml match their sha256")],
        ),
        (
            lambda d: d.update(files="report.toml"),
            [Check(False, "export", "export.toml cannot be read: unexpected layout")],
        ),
        (
            lambda d: d.update(export="x"),
            [Check(False, "export", "export.toml cannot be read: unexpected layout")],
        ),
    ],
    ids=[
        "intact",
        "another-run",
        "outside",
        "hidden",
        "changed",
        "not-a-table",
        "missing-then-changed",
        "no-path",
        "no-files",
        "no-export-table",
        "files-not-a-list",
        "export-not-a-table",
    ],
)
def test_the_export_manifest_is_checked_entry_by_entry(
    change: Any, expected: list[Check], runs: Path, tmp_path: Path
) -> None:
    out = tmp_path / "b"
    export_run(runs / RUN_ID, out_dir=out, formats=("md",))
    (out / ".hidden").write_text("a file that export.toml may not name\n")
    assert manifest_checks(out, change) == expected


def test_the_manifest_read_is_kept_for_the_front_ends(runs: Path, tmp_path: Path) -> None:
    out = tmp_path / "b"
    export_run(runs / RUN_ID, out_dir=out)
    result = verify(out)
    assert result.manifest == tomllib.loads((out / "export.toml").read_text())
    assert result.manifest["export"]["run_id"] == RUN_ID


def test_a_damaged_or_unreadable_manifest_is_named(runs: Path, tmp_path: Path) -> None:
    out = tmp_path / "b"
    export_run(runs / RUN_ID, out_dir=out)
    (out / "export.toml").write_text("this is [not toml\n")
    checks = topic(verify(out), "export")
    assert len(checks) == 1 and not checks[0].ok
    assert checks[0].text.startswith("export.toml cannot be read: ")
    (out / "export.toml").unlink()
    (out / "export.toml").mkdir()
    assert topic(verify(out), "export") == [
        Check(False, "export", "cannot read export.toml: Is a directory"),
        Check(False, "export", "cannot read export.toml: Is a directory"),
    ]


def test_an_unreadable_rendering_or_signature_is_named(
    runs: Path, key: Path, allowed: Path, tmp_path: Path
) -> None:
    out = signed(runs, tmp_path / "b", key)
    (out / "report.md").mkdir()
    result = verify(out, allowed)
    assert Check(False, "export", "cannot read report.md: Is a directory") in result.checks
    assert "report.md" in result.examined
    (out / "report.md").rmdir()
    (out / "export.toml.sig").unlink()
    (out / "export.toml.sig").mkdir()
    result = verify(out, allowed)
    assert topic(result, "signature") == [
        Check(False, "signature", "cannot read export.toml.sig: Is a directory")
    ]
    assert not result.ok


def test_a_named_rendering_must_be_signed_when_signers_are_given(
    runs: Path, key: Path, allowed: Path, tmp_path: Path
) -> None:
    out = signed(runs, tmp_path / "b", key, "md")
    (out / "report.md.sig").unlink()
    result = verify(out / "report.md", allowed)
    assert not result.ok
    assert topic(result, "signature") == [
        Check(False, "signature", "report.md is not signed: there is no report.md.sig next to it")
    ]
    assert "report.md" in result.examined


def test_renderings_beside_an_unsigned_report_are_noted_as_unsigned(
    runs: Path, tmp_path: Path
) -> None:
    out = tmp_path / "b"
    export_run(runs / RUN_ID, out_dir=out, formats=("md", "html"))
    result = verify(out)
    assert [n for n in result.notes if "is not signed" in n] == [
        "report.md is not signed (no report.md.sig)",
        "report.html is not signed (no report.html.sig)",
        "export.toml is not signed (no export.toml.sig)",
    ]


def log_change_missing(log: Path) -> None:
    log.unlink()


def log_change_unreadable(log: Path) -> None:
    log.unlink()
    log.mkdir()


def log_change_same_size(log: Path) -> None:
    data = bytearray(log.read_bytes())
    data[0] ^= 1
    log.write_bytes(bytes(data))


def log_change_longer(log: Path) -> None:
    log.write_bytes(log.read_bytes() + b"one more line\n")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (log_change_missing, "logs/health.log is missing (step 'health' recorded its sha256)"),
        (log_change_unreadable, "cannot read logs/health.log: Is a directory"),
        (
            log_change_same_size,
            "logs/health.log does not match the sha256 recorded for step 'health' "
            "(recorded {recorded}…, file {actual}…): the log was changed",
        ),
        (
            log_change_longer,
            "logs/health.log does not match the sha256 recorded for step 'health' "
            "(recorded {recorded}…, file {actual}…; 116 bytes, 102 recorded): the log was changed",
        ),
    ],
    ids=["missing", "unreadable", "changed-same-size", "changed-longer"],
)
def test_each_damaged_step_log_is_named_and_the_others_still_counted(
    change: Any, problem: str, runs: Path, tmp_path: Path
) -> None:
    out = unsigned(runs, tmp_path / "b")
    log = out / "logs" / "health.log"
    recorded = hashlib.sha256(log.read_bytes()).hexdigest()
    change(log)
    actual = hashlib.sha256(log.read_bytes()).hexdigest() if log.is_file() else ""
    assert topic(verify(out), "logs") == [
        Check(False, "logs", problem.format(recorded=recorded[:16], actual=actual[:16])),
        Check(True, "logs", "11 step logs match their recorded sha256"),
    ]


def test_a_page_named_on_the_command_line_must_be_signed_too(
    runs: Path, key: Path, allowed: Path, tmp_path: Path
) -> None:
    out = signed(runs, tmp_path / "b", key, "html")
    shutil.copy(out / "report.html", out / "copy.htm")
    result = verify(out / "copy.htm", allowed)
    assert not result.ok
    assert topic(result, "signature") == [
        Check(False, "signature", "copy.htm is not signed: there is no copy.htm.sig next to it")
    ]


def test_naming_the_manifest_does_not_require_a_signature_on_what_it_lists(
    runs: Path, key: Path, allowed: Path, tmp_path: Path
) -> None:
    out = signed(runs, tmp_path / "b", key, "md")
    (out / "report.md.sig").unlink()  # the signed export.toml lists report.md with its sha256
    result = verify(out / "export.toml", allowed)
    assert result.ok, result.problems


@pytest.mark.parametrize("formats", [("html",), ("md", "html")])
def test_every_rendering_present_is_looked_at_even_when_another_is_missing_or_unreadable(
    formats: tuple[str, ...], runs: Path, tmp_path: Path
) -> None:
    out = tmp_path / "b"
    export_run(runs / RUN_ID, out_dir=out, formats=formats)
    if "md" in formats:
        (out / "report.md").unlink()
        (out / "report.md").mkdir()
    result = verify(out)
    assert [n for n in result.notes if "is not signed" in n] == [
        "report.html is not signed (no report.html.sig)",
        "export.toml is not signed (no export.toml.sig)",
    ]


def test_the_result_says_what_was_verified_and_whether_signers_were_given(
    runs: Path, key: Path, allowed: Path, tmp_path: Path
) -> None:
    out = signed(runs, tmp_path / "b", key)
    plain = verify(out / "report.toml")
    assert (plain.folder, plain.report, plain.trusted) == (out, out / "report.toml", False)
    checked = verify(out, allowed)
    assert (checked.folder, checked.trusted) == (out, True)
    with pytest.raises(VerifyInputError) as caught:
        verify(out, tmp_path / "no-such-allowed-signers")
    assert str(caught.value) == f"no allowed_signers file {tmp_path / 'no-such-allowed-signers'}"


# -- reading the report and its events ---------------------------------------------------------


def rechain(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    prev = GENESIS
    for rec in events:
        rec["prev"] = prev
        rec.pop("hash", None)
        rec["hash"] = record_hash(rec)
        prev = rec["hash"]
    return events


def test_an_intact_record_reports_its_chain_and_tables_exactly(runs: Path, tmp_path: Path) -> None:
    out = unsigned(runs, tmp_path / "b")
    events = tomllib.loads((out / "report.toml").read_text())["events"]
    result = verify(out)
    assert topic(result, "events") == [
        Check(
            True,
            "events",
            f"{len(events)} events, hash chain intact (last hash {events[-1]['hash'][:16]}…)",
        )
    ]
    assert topic(result, "tables") == [
        Check(True, "tables", "[run] and [[steps]] agree with the events (18 steps)")
    ]


def test_an_edited_event_is_named_and_the_tables_are_not_compared(
    runs: Path, tmp_path: Path
) -> None:
    out = unsigned(runs, tmp_path / "b")
    rewrite(out / "report.toml", lambda d: d["events"][3].update(operator="mallory"))
    result = verify(out)
    assert topic(result, "events") == [
        Check(
            False,
            "events",
            "report.toml: event 4 (step_waiting) was changed after it was recorded "
            "(its hash does not match)",
        )
    ]
    assert topic(result, "tables") == []


def test_a_table_difference_leaves_the_other_checks_in_place(runs: Path, tmp_path: Path) -> None:
    out = unsigned(runs, tmp_path / "b")
    rewrite(out / "report.toml", lambda d: d["run"].update(operator="mallory"))
    result = verify(out)
    assert topic(result, "tables") == [
        Check(False, "tables", "[run]: operator is 'mallory' but the events say 'alice'")
    ]
    assert [c.ok for c in topic(result, "events")] == [True]


def test_events_that_cannot_be_replayed_are_named(runs: Path, tmp_path: Path) -> None:
    out = unsigned(runs, tmp_path / "b")

    def add_broken_event(d: dict[str, Any]) -> None:
        last = d["events"][-1]
        d["events"].append(
            {"seq": last["seq"] + 1, "at": last["at"], "type": "step_finished", "status": "passed"}
        )
        rechain(d["events"])

    rewrite(out / "report.toml", add_broken_event)
    result = verify(out)
    assert result.state is None
    assert topic(result, "events")[-1] == Check(
        False, "events", "the events cannot be replayed (KeyError: 'step')"
    )


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda d: d.update(schema_version=99), "it has schema_version 99; this iact-tui reads 1"),
        (lambda d: d.pop("events"), "it holds no [[events]]"),
        (lambda d: d.update(events=[]), "it holds no [[events]]"),
        (lambda d: d.update(events=[1, 2]), "it holds no [[events]]"),
    ],
    ids=["schema-version", "no-events", "empty-events", "events-not-tables"],
)
def test_a_report_that_is_no_run_report_is_bad_input(
    change: Any, reason: str, runs: Path, tmp_path: Path
) -> None:
    out = unsigned(runs, tmp_path / "b")
    rewrite(out / "report.toml", change)
    with pytest.raises(VerifyInputError) as caught:
        verify(out)
    assert str(caught.value) == f"{out / 'report.toml'} cannot be read as a run report: {reason}"


def test_a_good_signature_over_bytes_that_are_no_report_is_bad_input(
    key: Path, tmp_path: Path
) -> None:
    out = tmp_path / "b"
    out.mkdir()
    (out / "report.toml").write_text("this is not a report\n")
    sign_files(load_key_file(key), [out / "report.toml"])
    with pytest.raises(VerifyInputError):
        verify(out)


def test_a_bad_signature_over_bytes_that_are_no_report_is_a_failed_check(
    key: Path, tmp_path: Path
) -> None:
    out = tmp_path / "b"
    out.mkdir()
    (out / "other").write_text("other bytes\n")
    sign_files(load_key_file(key), [out / "other"])
    (out / "report.toml").write_text("this is [not toml\n")
    shutil.copy(out / "other.sig", out / "report.toml.sig")
    result = verify(out)
    assert not result.ok
    assert len(result.checks) == 1
    assert result.checks[0].ok is False and result.checks[0].topic == "report"
    assert result.checks[0].text.startswith("report.toml cannot be read as a report: ")


def test_an_unsigned_report_given_signers_fails_once_for_its_missing_signature(
    runs: Path, allowed: Path, tmp_path: Path
) -> None:
    out = unsigned(runs, tmp_path / "b")
    result = verify(out, allowed)
    assert topic(result, "signature") == []
    assert result.problems == [
        "report.toml is not signed: there is no report.toml.sig next to it. Its record is "
        "consistent (event chain, tables, step logs, checklist), which guards against "
        "accidental damage only: anyone who edits a run can recompute its hash chain"
    ]


def test_a_damaged_journal_beside_an_unsigned_run_is_named(runs: Path) -> None:
    folder = runs / RUN_ID
    (folder / "journal.jsonl").write_text('{"seq": 1}\nnot json\n')
    result = verify(folder)
    assert topic(result, "events")[1:] == [
        Check(
            False,
            "events",
            f"{folder / 'journal.jsonl'} is damaged at byte 0 (line 1): event 1 has no text 'type'",
        )
    ]


def test_journal_records_already_in_the_report_add_no_note(runs: Path) -> None:
    folder = runs / RUN_ID
    events = tomllib.loads((folder / "report.toml").read_text())["events"]
    (folder / "journal.jsonl").write_text(
        "".join(json.dumps(e, default=lambda v: v.isoformat()) + "\n" for e in events[-3:])
    )
    result = verify(folder)
    assert result.consistent, result.problems
    assert result.notes == []


def test_a_run_in_progress_is_noted_with_its_records_not_yet_in_the_report(
    tmp_path: Path,
) -> None:
    builder = runfactory.unfinished_staging_run(tmp_path / "runs")
    try:
        result = verify(builder.folder)
    finally:
        builder.store.lock.release()
    assert result.notes[0] == (
        "1 records in journal.jsonl are not yet in report.toml: the run is in progress or was "
        "interrupted; they were checked too"
    )
    assert result.notes[-1].startswith("the run was not finished when this report was written")


def test_finished_runs_are_not_noted_as_unfinished(runs: Path, tmp_path: Path) -> None:
    rolled_back = verify(runs / RUN_ID)
    succeeded = verify(runfactory.big_run(tmp_path / "big", 12))
    assert (rolled_back.state.status, succeeded.state.status) == ("rolled_back", "succeeded")
    for result in (rolled_back, succeeded):
        assert not any("was not finished" in n for n in result.notes), result.notes


def test_a_report_from_before_the_version_was_recorded_is_not_faulted_for_it(
    runs: Path, tmp_path: Path
) -> None:
    out = unsigned(runs, tmp_path / "b")

    def old_writer(d: dict[str, Any]) -> None:
        d["events"][0].pop("iact_tui_version")
        rechain(d["events"])

    rewrite(out / "report.toml", old_writer)
    result = verify(out)
    assert result.consistent, result.problems


def test_a_report_that_pins_no_checklist_is_not_failed_for_it(runs: Path, tmp_path: Path) -> None:
    out = unsigned(runs, tmp_path / "b")

    def unpinned(d: dict[str, Any]) -> None:
        d["events"][0].pop("checklist_sha256")
        rechain(d["events"])
        d["run"]["checklist_sha256"] = ""

    rewrite(out / "report.toml", unpinned)
    result = verify(out)
    assert result.consistent, result.problems


def test_a_single_step_log_is_counted(tmp_path: Path) -> None:
    result = verify(runfactory.big_run(tmp_path / "runs", 1))
    assert topic(result, "logs") == [Check(True, "logs", "1 step log match their recorded sha256")]


def test_logs_still_being_written_are_named_five_at_most(tmp_path: Path) -> None:
    builder = runfactory.unfinished_staging_run(tmp_path / "runs")
    running = ["pull", "migrate", "restart", "health", "smoke-login", "revert"]
    try:
        for step in running:
            builder.start(step)
        result = verify(builder.folder)
    finally:
        builder.store.lock.release()
    assert (
        "6 step log(s) still being written were not checked: pull, migrate, restart, health, "
        "smoke-login"
    ) in result.notes


def test_an_aborted_run_is_not_noted_as_unfinished(tmp_path: Path) -> None:
    builder = runfactory.unfinished_staging_run(tmp_path / "runs")
    folder = builder.finish("aborted")
    result = verify(folder)
    assert result.state is not None and result.state.status == "aborted"
    assert not any("was not finished" in n for n in result.notes), result.notes
