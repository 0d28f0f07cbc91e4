"""Ticks: every refusal, ticking ahead, and the inbox of a live run (issue 10, items 13, 14 and the
tick audit). Through the command line (exit code and message) and through the inbox of a live run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from iact_tui.engine.record.store import read_records
from tests.helpers import (
    HEADER,
    ROOT,
    cli,
    first_line_run,
    only_run,
    report_of,
    state_of,
    write_checklist,
)

FLOW = HEADER + """
[[phases]]
id = "one"
title = "One"

[[phases.steps]]
id = "hello"
kind = "local"
run = "echo hello"

[[phases.steps]]
id = "gate"
kind = "manual"
instructions = "Look at it"

[[phases.steps]]
id = "approve"
kind = "manual"
role = "tech-lead"
four_eyes = true

[[phases.steps]]
id = "after"
kind = "local"
run = "echo after"

[[phases]]
id = "rb"
title = "Rollback"
rollback = true

[[phases.steps]]
id = "undo-check"
kind = "manual"
instructions = "Check the undo"
"""


def _paused_at_gate(tmp_path: Path) -> tuple[str, Path, Path]:
    checklist = write_checklist(tmp_path, FLOW)
    runs = tmp_path / "runs"
    first = cli("run", str(checklist), "--headless", "--runs-dir", str(runs), "--operator", "alice")
    assert first.returncode == 3, first.stdout + first.stderr
    run_id, folder = first_line_run(first.stdout)
    assert state_of(folder).steps["gate"].status == "waiting"
    return run_id, folder, runs


def _tick(runs: Path, run_id: str, step: str, *args: str) -> subprocess.CompletedProcess[str]:
    return cli("tick", run_id, step, "--runs-dir", str(runs), *args)


# -- the four refusals the audit found unguarded, through the command line -------------------------


def test_cli_refusals_done_step_failed_automatic_step_no_reason_finished_run(tmp_path: Path) -> None:
    checklist = write_checklist(tmp_path, HEADER + """
[[phases]]
id = "one"
title = "One"

[[phases.steps]]
id = "ok"
kind = "local"
run = "echo ok"

[[phases.steps]]
id = "broken"
kind = "local"
run = "exit 3"
""")
    runs = tmp_path / "runs"
    first = cli("run", str(checklist), "--headless", "--runs-dir", str(runs))
    assert first.returncode == 1
    run_id, folder = first_line_run(first.stdout)

    done = _tick(runs, run_id, "ok", "--as", "bob")
    assert done.returncode == 2
    assert "refused: step 'ok' is passed already" in done.stderr

    passed = _tick(runs, run_id, "broken", "--as", "bob")
    assert passed.returncode == 2
    assert "refused: step 'broken' failed; retry it with `resume`" in passed.stderr

    no_reason = _tick(runs, run_id, "broken", "--skip", "--as", "bob")
    assert no_reason.returncode == 2 and "--skip needs --reason" in no_reason.stderr
    blank = _tick(runs, run_id, "broken", "--skip", "--reason", "   ", "--as", "bob")
    assert blank.returncode == 2 and "--skip needs --reason" in blank.stderr
    assert state_of(folder).steps["broken"].status == "failed"
    assert "step_skipped" not in [r["type"] for r in read_records(folder)]

    skipped = _tick(runs, run_id, "broken", "--skip", "--reason", "done by hand", "--as", "bob")
    assert skipped.returncode == 0, skipped.stderr
    finished = cli("resume", run_id, "--headless", "--runs-dir", str(runs))
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert state_of(folder).status == "succeeded"

    late = _tick(runs, run_id, "broken", "--skip", "--reason", "again", "--as", "bob")
    assert late.returncode == 2
    assert f"refused: run {run_id} is succeeded; it takes no more ticks" in late.stderr


def test_engine_refuses_a_skip_without_reason(tmp_path: Path) -> None:
    """The command line refuses it first; the engine refuses it too (the inbox, the TUI)."""
    from iact_tui.engine.checklist.load import parse_checklist
    from iact_tui.engine.record.store import PINNED, RunStore
    from iact_tui.engine.record.ticks import Tick, TickRefused, record_tick

    _, folder, _ = _paused_at_gate(tmp_path)
    checklist = parse_checklist((folder / PINNED).read_bytes(), "c").checklist
    store = RunStore.open(folder)
    try:
        with pytest.raises(TickRefused, match="needs a reason"):
            record_tick(store, checklist, Tick("gate", "skip", "bob", reason=" "))
    finally:
        store.close()


# -- item 13: only a step that waits for a person now; --ahead for a later one ----------------------


def test_tick_needs_ahead_for_a_step_not_reached_and_applies_it_later(tmp_path: Path) -> None:
    run_id, folder, runs = _paused_at_gate(tmp_path)

    early = _tick(runs, run_id, "approve", "--as", "bob", "--note", "LGTM")
    assert early.returncode == 2
    assert "does not wait for a person now (it is pending)" in early.stderr and "--ahead" in early.stderr
    assert state_of(folder).steps["approve"].status == "pending"

    rollback = _tick(runs, run_id, "undo-check", "--ahead", "--as", "bob")
    assert rollback.returncode == 2
    assert "rollback step and no rollback has started" in rollback.stderr

    automatic = _tick(runs, run_id, "after", "--ahead", "--as", "bob")
    assert automatic.returncode == 2 and "can only be skipped" in automatic.stderr

    own = _tick(runs, run_id, "approve", "--ahead", "--as", "alice")
    assert own.returncode == 2 and "four eyes" in own.stderr

    ahead = _tick(runs, run_id, "approve", "--ahead", "--as", "bob", "--note", "LGTM")
    assert ahead.returncode == 0, ahead.stderr
    assert "recorded ahead: approve pass by bob" in ahead.stdout
    again = _tick(runs, run_id, "approve", "--ahead", "--as", "carol")
    assert again.returncode == 2 and "ticked ahead already (pass by bob" in again.stderr
    state = state_of(folder)
    assert state.steps["approve"].status == "pending"
    assert state.steps["approve"].ahead == "pass by bob"
    ahead_at = next(r for r in read_records(folder) if r["type"] == "step_ticked_ahead")["at"]

    assert _tick(runs, run_id, "gate", "--as", "alice").returncode == 0
    done = cli("resume", run_id, "--headless", "--runs-dir", str(runs), "--operator", "alice")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "passed approve by bob: ticked ahead at" in done.stdout
    report = report_of(folder)
    steps = {s["id"]: s for s in report["steps"]}
    assert steps["approve"]["status"] == "passed"
    assert steps["approve"]["ticked_by"] == "bob"
    assert steps["approve"]["note"] == "LGTM"
    assert steps["approve"]["ticked_ahead_at"] == datetime.fromisoformat(ahead_at)
    ticked = [e for e in report["events"] if e["type"] == "step_ticked" and e["step"] == "approve"]
    assert ticked[0]["how"] == "ticked ahead" and ticked[0]["ahead_at"] == ahead_at
    assert report["run"]["status"] == "succeeded"


def test_an_ahead_approval_by_who_later_runs_the_run_is_not_used(tmp_path: Path) -> None:
    run_id, folder, runs = _paused_at_gate(tmp_path)
    assert _tick(runs, run_id, "approve", "--ahead", "--as", "bob").returncode == 0
    assert _tick(runs, run_id, "gate", "--as", "carol").returncode == 0
    resumed = cli("resume", run_id, "--headless", "--runs-dir", str(runs), "--operator", "Bob")
    assert resumed.returncode == 3, resumed.stdout + resumed.stderr
    assert "the answer ticked ahead for 'approve' is not used" in resumed.stdout
    state = state_of(folder)
    assert state.steps["approve"].status == "waiting"
    assert "step_ahead_dropped" in [r["type"] for r in read_records(folder)]


def test_skip_ahead_of_an_automatic_step(tmp_path: Path) -> None:
    run_id, folder, runs = _paused_at_gate(tmp_path)
    skip = _tick(runs, run_id, "after", "--ahead", "--skip", "--reason", "done by hand", "--as", "alice")
    assert skip.returncode == 0, skip.stderr
    assert _tick(runs, run_id, "gate", "--as", "alice").returncode == 0
    assert _tick(runs, run_id, "approve", "--as", "bob").returncode == 2  # not reached yet
    paused = cli("resume", run_id, "--headless", "--runs-dir", str(runs), "--operator", "alice")
    assert paused.returncode == 3
    assert _tick(runs, run_id, "approve", "--as", "bob").returncode == 0
    done = cli("resume", run_id, "--headless", "--runs-dir", str(runs), "--operator", "alice")
    assert done.returncode == 0, done.stdout + done.stderr
    after = state_of(folder).steps["after"]
    assert after.status == "skipped" and after.skip_reason == "done by hand" and after.attempts == 0
    assert after.ticked_ahead_at


# -- item 12: four eyes, by a reader's eyes ----------------------------------------------------------


@pytest.mark.parametrize("name", [
    "\u0410lice",  # Cyrillic capital A
    "ALICE",
    "al\u200bice",  # a zero-width space
    "  alice ",
    "\uff41lice",  # fullwidth a
    "\u0430l\u0456ce",  # Cyrillic a and i
])
def test_four_eyes_sees_through_look_alike_names(tmp_path: Path, name: str) -> None:
    run_id, folder, runs = _paused_at_gate(tmp_path)
    assert _tick(runs, run_id, "gate", "--as", "alice").returncode == 0
    assert cli("resume", run_id, "--headless", "--runs-dir", str(runs), "--operator", "alice").returncode == 3
    refused = _tick(runs, run_id, "approve", "--as", name)
    assert refused.returncode == 2, refused.stdout
    assert "four eyes" in refused.stderr
    assert state_of(folder).steps["approve"].status == "waiting"


def test_same_person_keys() -> None:
    from iact_tui.engine.record.identity import same_person

    assert same_person("Hans", "\u041dANS")  # Cyrillic capital En looks like H
    assert same_person("Ana L\u00f3pez", "ana  lopez")
    assert same_person("bob", "b\u200do\u00adb")  # zero-width joiner, soft hyphen
    assert same_person("Olga", "\u039f\u217cga")  # Greek Omicron, roman numeral fifty
    # spacing and punctuation make no other person: dropped, not only collapsed
    assert same_person("Ana María", "AnaMaría")
    assert same_person("Ana María", "Ana\u200bMaría")  # zero-width space where the space was
    assert same_person("Ana María", "Ana\u2060María")  # word joiner
    assert same_person("Ana María", "ana-maria")
    assert same_person("ana.maria", "Ana María")
    assert not same_person("!!!", "???")  # nothing but punctuation: compared as written
    assert not same_person("alice", "bob")
    assert not same_person("Ruth", "Tutu")
    assert not same_person("Ilse", "Lise")
    assert not same_person("Eva", "Ava")


def test_whoever_resumed_the_run_cannot_approve_it(tmp_path: Path) -> None:
    run_id, folder, runs = _paused_at_gate(tmp_path)
    assert _tick(runs, run_id, "gate", "--as", "carol").returncode == 0
    assert cli("resume", run_id, "--headless", "--runs-dir", str(runs), "--operator", "bob").returncode == 3
    refused = _tick(runs, run_id, "approve", "--as", "bob")
    assert refused.returncode == 2 and "four eyes" in refused.stderr
    assert _tick(runs, run_id, "approve", "--as", "dora").returncode == 0
    assert state_of(folder).operators == ["alice", "bob"]


def test_skipping_an_approval_needs_another_person_and_is_said_everywhere(tmp_path: Path) -> None:
    run_id, folder, runs = _paused_at_gate(tmp_path)
    assert _tick(runs, run_id, "gate", "--as", "alice").returncode == 0
    assert cli("resume", run_id, "--headless", "--runs-dir", str(runs), "--operator", "alice").returncode == 3
    own = _tick(runs, run_id, "approve", "--skip", "--reason", "urgent fix", "--as", "alice")
    assert own.returncode == 2
    assert "four eyes" in own.stderr and "must skip it" in own.stderr
    ok = _tick(runs, run_id, "approve", "--skip", "--reason", "urgent fix", "--as", "bob")
    assert ok.returncode == 0, ok.stderr
    done = cli("resume", run_id, "--headless", "--runs-dir", str(runs), "--operator", "alice")
    assert done.returncode == 0, done.stdout + done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("run succeeded (")
    assert "approval skipped: approve by bob (urgent fix)" in last

    report = report_of(folder)
    steps = {s["id"]: s for s in report["steps"]}
    assert steps["approve"]["approval_skipped"] is True
    skipped = next(e for e in report["events"] if e["type"] == "step_skipped")
    assert skipped["approval"] is True and skipped["by"] == "bob"

    out = tmp_path / "export"
    exported = cli("export", run_id, "--runs-dir", str(runs), "--format", "md", "--format", "html",
                   "--format", "toml", "-o", str(out))
    assert exported.returncode == 0, exported.stderr
    assert "Approval skipped" in (out / "report.md").read_text()
    assert "Approval skipped" in (out / "report.html").read_text()
    assert "approval_skipped = true" in (out / "report.toml").read_text()


# -- items 13, 14 and the audit through the inbox of a live run ------------------------------------

LIVE = HEADER + """
[[phases]]
id = "one"
title = "One"

[[phases.steps]]
id = "hello"
kind = "local"
run = "echo hello"

[[phases.steps]]
id = "broken"
kind = "local"
run = "exit 3"

[[phases.steps]]
id = "approve"
kind = "manual"
role = "tech-lead"
four_eyes = true

[[phases.steps]]
id = "after"
kind = "local"
run = "echo after"

[[phases]]
id = "rb"
title = "Rollback"
rollback = true

[[phases.steps]]
id = "undo"
kind = "local"
run = "echo undo"
"""


def _drop(path: Path, data: bytes) -> None:
    """Leave a request the way a careful writer does (whole, then renamed into place)."""
    tmp = path.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.rename(path)


def _start_live(checklist: Path, runs: Path, operator: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IACT_")}
    env["CI"] = "true"
    return subprocess.Popen([sys.executable, "-m", "tests.tick_live", str(checklist), str(runs), operator],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)


def _read_until(proc: subprocess.Popen[str], prefix: str, seen: list[str]) -> None:
    assert proc.stdout is not None
    for _ in range(200):  # bounded: each line comes as the run goes
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if line.startswith(prefix):
            return
    pytest.fail(f"no line starting {prefix!r}: {seen}")


def test_live_inbox_refusals_bad_files_and_ahead(tmp_path: Path) -> None:
    checklist = write_checklist(tmp_path, LIVE)
    runs = tmp_path / "runs"
    proc = _start_live(checklist, runs, "alice")
    seen: list[str] = []
    try:
        _read_until(proc, "failed broken", seen)  # the run now waits for a decision on 'broken'
        folder = only_run(runs)
        run_id = folder.name
        inbox = folder / "inbox"
        inbox.mkdir(exist_ok=True)

        done = _tick(runs, run_id, "hello", "--as", "bob")
        assert done.returncode == 2 and "refused: step 'hello' is passed already" in done.stderr
        passed = _tick(runs, run_id, "broken", "--as", "bob")
        assert passed.returncode == 2 and "refused: step 'broken' failed; retry it" in passed.stderr
        early = _tick(runs, run_id, "approve", "--as", "bob")
        assert early.returncode == 2 and "--ahead" in early.stderr
        rollback = _tick(runs, run_id, "undo", "--ahead", "--skip", "--reason", "x", "--as", "bob")
        assert rollback.returncode == 2 and "no rollback has started" in rollback.stderr

        # requests that are no ticks, and one with an empty reason, left by hand in the inbox
        _drop(inbox / "0-garbage.json", b"\x00\xff not json at all")
        _drop(inbox / "0-text.json", b"step=broken action=pass")
        _drop(inbox / "0-types.json", json.dumps({"step": ["broken"], "action": "pass", "by": 7}).encode())
        _drop(inbox / "0-list.json", b"[1, 2, 3]")
        _drop(inbox / "0-deep.json", b"[" * 50_000 + b"]" * 50_000)
        _drop(inbox / "0-huge.json", b" " * (2 * 1024 * 1024))
        _drop(inbox / "0-noreason.json", json.dumps({"step": "broken", "action": "skip", "by": "bob",
                                                     "reason": "  "}).encode())
        (inbox / "0-dir.json").mkdir()
        # a valid tick after them: when it is answered, the files before it were looked at
        ok = _tick(runs, run_id, "broken", "--skip", "--reason", "known flaky", "--as", "bob")
        assert ok.returncode == 0, ok.stderr
        assert proc.poll() is None  # the live run is still there

        rejected = inbox / "rejected"
        for name in ("garbage", "text", "types", "list", "deep", "dir", "huge"):
            assert (rejected / f"0-{name}.json").exists(), name
            assert not (inbox / f"0-{name}.json").exists(), name
            answer = json.loads((inbox / f"0-{name}.result").read_text())
            assert answer["ok"] is False
            assert f"moved to inbox/rejected/0-{name}.json" in answer["message"], answer
        assert "not UTF-8 text" in json.loads((inbox / "0-garbage.result").read_text())["message"]
        assert "is not JSON" in json.loads((inbox / "0-text.result").read_text())["message"]
        assert "a step that is not text (list)" in json.loads((inbox / "0-types.result").read_text())["message"]
        assert "holds a JSON list" in json.loads((inbox / "0-list.result").read_text())["message"]
        assert "is a directory" in json.loads((inbox / "0-dir.result").read_text())["message"]
        assert "at most 64 KiB" in json.loads((inbox / "0-huge.result").read_text())["message"]
        no_reason = json.loads((inbox / "0-noreason.result").read_text())
        assert no_reason == {"id": "0-noreason", "ok": False, "message": "skipping a step needs a reason (--reason)"}

        _read_until(proc, "waiting approve", seen)
        own_skip = _tick(runs, run_id, "approve", "--skip", "--reason", "hurry", "--as", "\u0430lice")
        assert own_skip.returncode == 2 and "four eyes" in own_skip.stderr
        ahead = _tick(runs, run_id, "after", "--ahead", "--skip", "--reason", "ran it by hand", "--as", "alice")
        assert ahead.returncode == 0, ahead.stderr
        assert "recorded ahead: after skip by alice" in ahead.stdout
        approve = _tick(runs, run_id, "approve", "--skip", "--reason", "hurry", "--as", "bob")
        assert approve.returncode == 0, approve.stderr
        _read_until(proc, "exit status", seen)
        out, _ = proc.communicate(timeout=30)
        seen.append(out)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
    text = "".join(seen)
    assert "exit status succeeded" in text
    assert "warning: inbox: the request 0-text.json is not JSON; moved to inbox/rejected/0-text.json" in text
    final = [line for line in text.splitlines() if line.startswith("run succeeded")]
    assert final and "approval skipped: approve by bob (hurry)" in final[0]
    state = state_of(folder)
    assert state.steps["after"].status == "skipped" and state.steps["after"].ticked_ahead_at
    assert state.steps["broken"].status == "skipped"

    late = _tick(runs, run_id, "approve", "--as", "bob")
    assert late.returncode == 2 and "takes no more ticks" in late.stderr


def test_a_bad_inbox_file_never_breaks_a_later_resume(tmp_path: Path) -> None:
    run_id, folder, runs = _paused_at_gate(tmp_path)
    inbox = folder / "inbox"
    inbox.mkdir(exist_ok=True)
    (inbox / "a.json").mkdir()
    (inbox / "b.json").write_text(json.dumps({"step": "gate", "action": "pass", "by": 5}))
    (inbox / "c.json").write_text(json.dumps({"step": 5, "action": "pass", "by": "bob"}))
    (inbox / "d.json").write_text(json.dumps({"step": "gate", "action": "pass", "by": "bob", "ahead": "yes"}))
    for _ in range(2):
        resumed = cli("resume", run_id, "--headless", "--runs-dir", str(runs), "--operator", "alice")
        assert resumed.returncode == 3, resumed.stdout + resumed.stderr
        assert "Traceback" not in resumed.stderr
    assert sorted(p.name for p in (inbox / "rejected").iterdir()) == ["a.json", "b.json", "c.json", "d.json"]
    assert state_of(folder).steps["gate"].status == "waiting"
    assert _tick(runs, run_id, "gate", "--as", "bob").returncode == 0
