"""Run state behaviour that mutation testing (issue 10) found untested: every record type folds
into exactly the state the report, resume, `list`, export and verify show — who started and
resumed the run, each step's status, times, attempts, evidence, ticks and signatures, answers
ticked ahead, a changed checklist, processes in flight — and the progress and counts derived
from it. Records are folded with ``reduce`` directly, as every reader does."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from iact_tui.engine.record.state import RunState, StepRecord, parse_time, reduce

T0 = "2025-11-17T14:00:00+00:00"
T1 = "2025-11-17T14:00:01.250000+00:00"
T2 = "2025-11-17T14:00:03+00:00"
T3 = "2025-11-17T14:00:07.123456+00:00"

PLAN = [
    {"id": "a", "phase": "p", "kind": "local", "title": "Step A"},
    {"id": "b", "phase": "p", "kind": "manual"},
    {"id": "c", "phase": "q", "kind": "ssh", "title": "C", "alternative": "opt"},
    {"id": "r", "phase": "rb", "kind": "local", "title": "Undo", "rollback": True},
]


def created(**extra: Any) -> dict[str, Any]:
    return {
        "type": "run_created",
        "seq": 1,
        "hash": "h1",
        "prev": "0" * 64,
        "at": T0,
        "run_id": "r1",
        "operator": "ann",
        "checklist_id": "T-1",
        "checklist_sha256": "c0ffee",
        "plan": PLAN,
        **extra,
    }


def fold(*records: dict[str, Any], start: dict[str, Any] | None = None) -> RunState:
    """The state of a run created with PLAN, then these records (seq and hash numbered)."""
    recs = [start or created()]
    for n, r in enumerate(records, 2):
        recs.append({"seq": n, "hash": f"h{n}", "at": T1} | r)
    return reduce(recs)


def step(sid: str, phase: str, kind: str, title: str = "", **fields: Any) -> StepRecord:
    return StepRecord(id=sid, phase=phase, kind=kind, title=title, **fields)


# -- the run -----------------------------------------------------------------------------------------


def test_a_created_run_holds_its_plan_and_who_started_it() -> None:
    state = fold(
        start=created(
            presets={"deploy": ["manual"]},
            on_failure="rollback",
            operator_keys=["SHA256:k1", "SHA256:k2"],
            variables={"branch": "main"},
        )
    )
    assert state.run_id == "r1" and state.status == "running"
    assert state.started_at == T0 and state.finished_at == ""
    assert state.checklist_sha256 == "c0ffee"
    assert state.info == {
        "at": T0,
        "run_id": "r1",
        "operator": "ann",
        "checklist_id": "T-1",
        "checklist_sha256": "c0ffee",
        "presets": {"deploy": ["manual"]},
        "on_failure": "rollback",
        "operator_keys": ["SHA256:k1", "SHA256:k2"],
        "variables": {"branch": "main"},
    }
    assert state.operator == "ann" and state.operators == ["ann"]
    assert state.operator_keys == ["SHA256:k1", "SHA256:k2"]
    assert state.presets == {"deploy": ["manual"]} and state.on_failure == "rollback"
    assert state.steps == {
        "a": step("a", "p", "local", "Step A"),
        "b": step("b", "p", "manual"),
        "c": step("c", "q", "ssh", "C", alternative="opt"),
        "r": step("r", "rb", "local", "Undo", rollback=True),
    }
    assert list(state.steps) == ["a", "b", "c", "r"]
    assert state.last_seq == 1 and state.last_hash == "h1"


def test_a_created_run_without_the_optional_fields() -> None:
    rec = {"type": "run_created", "seq": 1, "hash": "h", "at": T0, "run_id": "r2"}
    state = reduce([rec])
    assert state.checklist_sha256 == "" and state.presets == {} and state.on_failure == ""
    assert state.operators == [] and state.operator == "" and state.operator_keys == []
    assert state.steps == {}
    assert reduce([rec | {"on_failure": None, "operator": ""}]).on_failure == ""


def test_apply_keeps_the_last_seq_and_hash_when_a_record_lacks_them() -> None:
    state = fold({"type": "note_added", "step": "a", "note": "x"})
    assert (state.last_seq, state.last_hash) == (2, "h2")
    state.apply({"type": "note_added", "step": "a", "note": "y"})
    assert (state.last_seq, state.last_hash) == (2, "h2")
    state.apply({"type": "something_new", "seq": "7", "hash": "h7"})  # unknown types: ignored
    assert (state.last_seq, state.last_hash) == (7, "h7")
    assert state.steps["a"].note == "x\ny"


def test_host_records_go_to_the_fleet_and_not_the_steps() -> None:
    state = fold(
        {"type": "host_started", "step": "a", "host": "web1", "attempt": 1},
        {"type": "host_finished", "step": "a", "host": "web1", "status": "passed"},
    )
    assert state.steps["a"].status == "pending"
    assert [(r.host, r.status) for r in state.fleet.for_step("a")] == [("web1", "passed")]


def test_a_resume_adds_its_operator_keys_and_decisions_once() -> None:
    state = fold(
        {"type": "run_paused", "reason": "waits for ann"},
        {
            "type": "run_resumed",
            "by": "bob",
            "presets": {"deploy": ["cicd"]},
            "on_failure": "abort",
            "operator_keys": ["SHA256:k1", "SHA256:k3"],
        },
        {"type": "run_paused", "reason": "again"},
        {"type": "run_resumed", "by": "bob"},
        {"type": "run_resumed", "by": "ann", "on_failure": "", "operator_keys": ["SHA256:k3"]},
        {"type": "run_resumed"},
        start=created(operator_keys=["SHA256:k1"], on_failure="rollback"),
    )
    assert state.operators == ["ann", "bob"]
    assert state.operator_keys == ["SHA256:k1", "SHA256:k3"]
    assert state.presets == {"deploy": ["cicd"]}
    assert state.on_failure == "abort"  # the latest one given; an empty one changes nothing
    assert state.status == "running" and state.pause_reason == ""


def test_a_resume_after_a_finish_runs_again() -> None:
    state = fold(
        {"type": "run_finished", "status": "failed", "at": T2},
        {"type": "run_resumed", "by": "ann", "at": T3},
    )
    assert state.status == "running" and state.finished_at == ""


def test_pause_finish_and_abort_say_why() -> None:
    paused = fold({"type": "run_paused", "reason": "step b waits"})
    assert paused.status == "paused" and paused.pause_reason == "step b waits"
    assert fold({"type": "run_paused"}).pause_reason == ""
    finished = fold({"type": "run_finished", "status": "succeeded", "at": T2})
    assert finished.status == "succeeded" and finished.finished_at == T2
    aborted = fold(
        {"type": "run_aborted", "reason": "by ann"},
        {"type": "run_finished", "status": "aborted", "at": T3},
    )
    assert aborted.pause_reason == "by ann" and aborted.status == "aborted"
    assert fold({"type": "run_paused", "reason": "x"}, {"type": "run_aborted"}).pause_reason == ""


def test_a_changed_checklist_used_new_adds_its_steps_and_sha() -> None:
    new_plan = [
        {"id": "a", "phase": "other", "kind": "manual", "title": "changed"},
        {"id": "d", "phase": "q", "kind": "http"},
    ]
    state = fold(
        {"type": "checklist_changed", "decision": "use-new", "sha256_new": "beef", "plan": new_plan}
    )
    assert state.checklist_sha256 == "beef"
    assert state.steps["a"] == step("a", "p", "local", "Step A")  # known steps stay
    assert state.steps["d"] == step("d", "q", "http")
    assert list(state.steps)[-1] == "d"
    kept = fold(
        {
            "type": "checklist_changed",
            "decision": "keep-pinned",
            "sha256_new": "beef",
            "plan": new_plan,
        }
    )
    assert kept.checklist_sha256 == "c0ffee" and "d" not in kept.steps
    bare = fold({"type": "checklist_changed", "decision": "use-new"})
    assert bare.checklist_sha256 == "c0ffee" and list(bare.steps) == ["a", "b", "c", "r"]


def test_a_host_connection_keeps_only_what_identifies_the_host() -> None:
    rec = {
        "type": "host_connected",
        "host": "staging",
        "address": "10.0.0.1",
        "port": 22,
        "user": "deploy",
        "fingerprint": "SHA256:x",
        "key_type": "ssh-ed25519",
        "banner": "hello",
    }
    state = fold(rec, rec | {"host": "db", "port": 2222})
    assert state.hosts == {
        "staging": {
            "host": "staging",
            "address": "10.0.0.1",
            "port": 22,
            "user": "deploy",
            "fingerprint": "SHA256:x",
            "key_type": "ssh-ed25519",
        },
        "db": {
            "host": "db",
            "address": "10.0.0.1",
            "port": 2222,
            "user": "deploy",
            "fingerprint": "SHA256:x",
            "key_type": "ssh-ed25519",
        },
    }


def test_choices_and_rollback_are_kept() -> None:
    state = fold(
        {"type": "alternative_chosen", "phase": "q", "alternatives": ("opt",)},
        {"type": "rollback_started", "reason": "health failed"},
    )
    assert state.choices == {"q": ["opt"]}
    assert state.rollback_started and state.rollback_reason == "health failed"
    bare = fold({"type": "rollback_started"})
    assert bare.rollback_started and bare.rollback_reason == ""


# -- a step -------------------------------------------------------------------------------------------


def test_a_step_unknown_to_the_plan_is_kept() -> None:
    state = fold(
        {"type": "step_started", "step": "x", "phase": "late", "kind": "ssh", "at": T1},
        {"type": "step_waiting", "step": "y"},
    )
    assert state.steps["x"] == step(
        "x", "late", "ssh", "x", status="running", attempts=1, started_at=T1
    )
    assert state.steps["y"] == step("y", "", "", "y", status="waiting", started_at=T1)


def test_a_started_step_counts_attempts_and_keeps_its_first_start() -> None:
    state = fold(
        {"type": "step_process", "step": "a", "pid": 10, "host": "", "start": 5, "extra": 1},
        {"type": "step_started", "step": "a", "command": "make", "at": T1},
        {
            "type": "step_process",
            "step": "a",
            "pid": 11,
            "start": 6,
            "boot_id": "b",
            "sudo": True,
            "attempt": 1,
            "at": T1,
        },
        {"type": "step_process", "step": "a", "pid": 12, "host": "web1"},
        {"type": "step_finished", "step": "a", "status": "failed", "at": T2, "message": "exit 1"},
    )
    a = state.steps["a"]
    assert (a.status, a.attempts, a.started_at, a.command) == ("failed", 1, T1, "make")
    assert state.processes == {}
    again = fold(
        {"type": "step_started", "step": "a", "command": "make", "at": T1},
        {"type": "step_finished", "step": "a", "status": "failed", "at": T2, "message": "exit 1"},
        {"type": "step_started", "step": "a", "at": T3},
        {
            "type": "step_process",
            "step": "a",
            "pid": 11,
            "start": 6,
            "boot_id": "b",
            "sudo": True,
            "attempt": 2,
            "at": T3,
            "x": 0,
        },
        {"type": "step_process", "step": "a", "pid": 12, "host": "web1"},
    )
    a = again.steps["a"]
    assert (a.status, a.attempts, a.started_at, a.finished_at) == ("running", 2, T1, "")
    assert (a.command, a.message) == ("make", "")  # the command stays, the old message goes
    assert again.processes == {
        "a": [
            {"pid": 11, "start": 6, "boot_id": "b", "sudo": True, "attempt": 2, "at": T3},
            {"pid": 12, "host": "web1", "at": T1},
        ]
    }
    given = fold({"type": "step_started", "step": "a", "attempt": 5, "command": "x"})
    assert given.steps["a"].attempts == 5 and given.steps["a"].command == "x"


def test_a_new_attempt_forgets_the_processes_of_the_last() -> None:
    state = fold(
        {"type": "step_started", "step": "a"},
        {"type": "step_process", "step": "a", "pid": 1},
        {"type": "step_interrupted", "step": "a"},
        {"type": "step_started", "step": "a"},
    )
    assert state.processes == {}
    assert state.steps["a"].attempts == 2


def test_a_finished_step_holds_its_evidence() -> None:
    state = fold(
        {"type": "step_started", "step": "a", "at": T1},
        {
            "type": "step_finished",
            "step": "a",
            "status": "passed",
            "at": T2,
            "duration": 1.75,
            "exit_status": 0,
            "message": "done",
            "output_tail": ("l1", "l2"),
            "lines": 2,
            "log_sha256": "ab" * 32,
            "log_bytes": "12",
            "captures": {"token": "***"},
            "secret_captures": ["token"],
            "evidence": {"status": 200},
            "artifacts": [{"path": "/backups/x"}],
            "hints": ["check the disk"],
        },
        {"type": "step_started", "step": "c", "at": T2},
        {
            "type": "step_finished",
            "step": "c",
            "status": "passed",
            "at": T3,
            "log_sha256": "cd",
            "captures": {"id": "7"},
        },
    )
    assert state.steps["a"] == step(
        "a",
        "p",
        "local",
        "Step A",
        status="passed",
        attempts=1,
        started_at=T1,
        finished_at=T2,
        duration=1.75,
        exit_status=0,
        message="done",
        output_tail=["l1", "l2"],
        lines=2,
        log="logs/a.log",
        log_sha256="ab" * 32,
        log_bytes=12,
        captures={"token": "***"},
        evidence={"status": 200},
        artifacts=[{"path": "/backups/x"}],
        hints=["check the disk"],
    )
    c = state.steps["c"]
    assert (c.log, c.log_sha256, c.log_bytes, c.captures) == ("logs/c.log", "cd", 0, {"id": "7"})
    assert (c.evidence, c.artifacts, c.hints, c.message, c.duration) == ({}, [], [], "", None)
    assert state.captures == {"token": "***", "id": "7"}
    assert state.secret_captures == {"token"}


def test_a_finished_step_without_a_log_has_no_log_fields() -> None:
    state = fold(
        {"type": "step_started", "step": "a", "at": T1},
        {"type": "step_finished", "step": "a", "status": "failed", "at": T2, "log_sha256": ""},
    )
    a = state.steps["a"]
    assert (a.log, a.log_sha256, a.log_bytes, a.lines, a.exit_status) == ("", "", None, None, None)
    assert a.output_tail == []


def test_a_waiting_step_keeps_its_first_start() -> None:
    state = fold(
        {"type": "step_waiting", "step": "b", "at": T1},
        {"type": "step_waiting", "step": "b", "at": T2},
    )
    assert state.steps["b"].status == "waiting" and state.steps["b"].started_at == T1


def test_a_ticked_step_says_who_when_and_how_long() -> None:
    state = fold(
        {"type": "step_waiting", "step": "b", "at": T1},
        {"type": "step_ticked", "step": "b", "by": "bob", "at": T3, "note": "ok", "role": "devops"},
    )
    assert state.steps["b"] == step(
        "b",
        "p",
        "manual",
        status="passed",
        started_at=T1,
        finished_at=T3,
        ticked_at=T3,
        ticked_by="bob",
        note="ok",
        duration=5.873,
    )
    assert state.approvers == {"b": "bob (devops)"}


def test_a_tick_without_a_start_has_no_duration_and_keeps_a_known_one() -> None:
    state = fold({"type": "step_ticked", "step": "b", "at": T3})
    b = state.steps["b"]
    assert (b.status, b.duration, b.ticked_by, b.note) == ("passed", None, "", "")
    assert state.approvers == {}
    nameless = fold({"type": "step_ticked", "step": "b", "at": T3, "role": "devops"})
    assert nameless.approvers == {"b": " (devops)"}
    known = fold(
        {"type": "step_started", "step": "a", "at": T1},
        {"type": "step_interrupted", "step": "a"},
        {"type": "step_ticked", "step": "a", "by": "x", "at": T3},
    )
    assert known.steps["a"].duration == 5.873
    kept = fold(
        {"type": "step_started", "step": "a", "at": T1},
        {"type": "step_finished", "step": "a", "status": "failed", "at": T2, "duration": 9.5},
        {"type": "step_ticked", "step": "a", "by": "x", "at": T3},
    )
    assert kept.steps["a"].duration == 9.5


def test_a_step_ticked_as_failed_says_why() -> None:
    noted = fold(
        {"type": "step_ticked", "step": "b", "result": "failed", "note": "UI broken", "by": "bea"}
    )
    b = noted.steps["b"]
    assert (b.status, b.message, b.note, b.ticked_by) == ("failed", "UI broken", "UI broken", "bea")
    silent = fold({"type": "step_ticked", "step": "b", "result": "failed", "note": ""})
    assert silent.steps["b"].message == "failed by the person who ticked it"
    assert silent.steps["b"].note == ""
    unnoted = fold({"type": "step_ticked", "step": "b", "result": "failed"})
    assert unnoted.steps["b"].message == "failed by the person who ticked it"
    odd = fold({"type": "step_ticked", "step": "b", "result": "skipped"})  # anything else: passed
    assert odd.steps["b"].status == "passed" and odd.steps["b"].message == ""


def test_notes_add_up_line_by_line() -> None:
    state = fold(
        {"type": "note_added", "step": "b", "note": "one"},
        {"type": "note_added", "step": "b", "note": "two"},
        {"type": "note_added", "step": "b"},
    )
    assert state.steps["b"].note == "one\ntwo\n"
    assert fold({"type": "note_added", "step": "b"}).steps["b"].note == ""


def test_a_signed_answer_names_the_signer_and_key() -> None:
    signed = {"signer": "Bea", "fingerprint": "SHA256:abc", "key_type": "ssh-ed25519"}
    state = fold(
        {"type": "step_ticked", "step": "b", "by": "Bea", "signed": signed},
        {"type": "step_skipped", "step": "a", "by": "Bea", "reason": "r", "signed": {"signer": 7}},
        {"type": "step_skipped", "step": "c", "by": "x", "reason": "r", "signed": "not a table"},
        {"type": "step_ticked", "step": "r", "by": "x", "signed": {"fingerprint": "SHA256:f"}},
    )
    b, a, c = state.steps["b"], state.steps["a"], state.steps["c"]
    assert (b.approval_signer, b.approval_fingerprint, b.approval_key_type) == (
        "Bea",
        "SHA256:abc",
        "ssh-ed25519",
    )
    assert (a.approval_signer, a.approval_fingerprint, a.approval_key_type) == ("7", "", "")
    assert (c.approval_signer, c.approval_fingerprint, c.approval_key_type) == ("", "", "")
    r = state.steps["r"]
    assert (r.approval_signer, r.approval_fingerprint, r.approval_key_type) == ("", "SHA256:f", "")


def test_a_skipped_step_says_who_and_why_and_whether_it_was_an_approval() -> None:
    state = fold(
        {
            "type": "step_skipped",
            "step": "b",
            "by": "bob",
            "reason": "done by hand",
            "approval": True,
            "at": T2,
        },
        {"type": "step_skipped", "step": "a", "at": T3},
    )
    assert state.steps["b"] == step(
        "b",
        "p",
        "manual",
        status="skipped",
        skip_reason="done by hand",
        skipped_by="bob",
        finished_at=T2,
        approval_skipped=True,
    )
    a = state.steps["a"]
    assert (a.skip_reason, a.skipped_by, a.approval_skipped) == ("", "", False)
    assert [s.id for s in state.skipped_approvals] == ["b"]


def test_a_skipped_approval_that_was_reset_is_no_longer_skipped() -> None:
    state = fold(
        {"type": "step_skipped", "step": "b", "approval": True, "reason": "r"},
        {"type": "step_reset", "step": "b"},
    )
    assert state.skipped_approvals == []
    assert state.steps["b"].status == "pending"


def test_not_applicable_interrupted_reset_and_confirmed() -> None:
    state = fold(
        {"type": "step_not_applicable", "step": "c", "reason": "option A chosen"},
        {"type": "step_started", "step": "a"},
        {"type": "step_interrupted", "step": "a", "reason": "SIGHUP"},
        {"type": "step_waiting", "step": "b"},
        {"type": "step_interrupted", "step": "b"},
        {"type": "step_confirmed", "step": "a"},
        {"type": "step_not_applicable", "step": "r"},
    )
    assert (state.steps["c"].status, state.steps["c"].message) == (
        "not_applicable",
        "option A chosen",
    )
    assert (state.steps["a"].status, state.steps["a"].message) == ("interrupted", "SIGHUP")
    assert (state.steps["b"].status, state.steps["b"].message) == ("interrupted", "interrupted")
    assert state.confirmed == {"a"}
    assert state.steps["r"].message == ""
    reset = fold(
        {"type": "step_started", "step": "a"},
        {"type": "step_finished", "step": "a", "status": "failed", "message": "exit 2"},
        {"type": "step_reset", "step": "a"},
    )
    assert (reset.steps["a"].status, reset.steps["a"].message) == ("pending", "")


def test_a_failure_decision_is_kept_with_its_reason() -> None:
    state = fold(
        {"type": "step_finished", "step": "a", "status": "failed"},
        {"type": "failure_decision", "step": "a", "decision": "continue", "reason": "known flake"},
        {"type": "failure_decision", "step": "b"},
    )
    assert (state.steps["a"].decision, state.steps["a"].decision_reason) == (
        "continue",
        "known flake",
    )
    assert (state.steps["b"].decision, state.steps["b"].decision_reason) == ("", "")


# -- answers ticked ahead ------------------------------------------------------------------------------


def test_an_answer_ticked_ahead_waits_then_is_used() -> None:
    ahead = {
        "type": "step_ticked_ahead",
        "step": "b",
        "action": "pass",
        "by": "bob",
        "note": "n",
        "reason": "r",
        "role": "devops",
        "signed": {"signer": "bob"},
        "at": T1,
        "other": 1,
    }
    waiting = fold(ahead)
    assert waiting.ahead == {
        "b": {
            "action": "pass",
            "by": "bob",
            "note": "n",
            "reason": "r",
            "role": "devops",
            "at": T1,
            "signed": {"signer": "bob"},
            "checklist_sha256": "c0ffee",  # the version it answered (the run's, at the record)
        }
    }
    assert waiting.steps["b"].ahead == "pass by bob"
    changed = fold(ahead, {"type": "checklist_changed", "decision": "use-new", "sha256_new": "beef"})
    assert changed.checklist_sha256 == "beef" and changed.ahead["b"]["checklist_sha256"] == "c0ffee"
    used = fold(ahead, {"type": "step_ticked", "step": "b", "by": "bob", "ahead_at": T1, "at": T2})
    assert used.ahead == {} and used.steps["b"].ahead == ""
    assert used.steps["b"].ticked_ahead_at == T1
    skipped = fold(ahead, {"type": "step_skipped", "step": "b", "by": "bob", "ahead_at": T1})
    assert skipped.ahead == {} and skipped.steps["b"].ticked_ahead_at == T1
    direct = fold(ahead, {"type": "step_ticked", "step": "b", "by": "bob"})
    assert direct.ahead == {} and direct.steps["b"].ticked_ahead_at == ""


def test_an_answer_ticked_ahead_without_action_or_name() -> None:
    state = fold({"type": "step_ticked_ahead", "step": "b"})
    assert state.ahead == {"b": {"at": T1, "checklist_sha256": "c0ffee"}}
    assert state.steps["b"].ahead == " by "


def test_a_dropped_answer_ahead_is_forgotten() -> None:
    state = fold(
        {"type": "step_ticked_ahead", "step": "b", "action": "pass", "by": "ann"},
        {"type": "step_ticked_ahead", "step": "a", "action": "skip", "by": "ann"},
        {"type": "step_ahead_dropped", "step": "b", "reason": "four eyes"},
        {"type": "step_ahead_dropped", "step": "c"},
    )
    assert list(state.ahead) == ["a"]
    assert state.steps["b"].ahead == "" and state.steps["a"].ahead == "skip by ann"


# -- what is derived ---------------------------------------------------------------------------------


def test_progress_counts_the_steps_that_can_still_matter() -> None:
    state = fold(
        {"type": "step_finished", "step": "a", "status": "passed"},
        {"type": "step_not_applicable", "step": "c"},
    )
    assert state.progress() == (1, 2)  # b, a; c does not apply, r is for a rollback
    failed_on = fold(
        {"type": "step_finished", "step": "a", "status": "failed"},
        {"type": "failure_decision", "step": "a", "decision": "continue"},
        {"type": "step_skipped", "step": "b", "reason": "x"},
        {"type": "step_finished", "step": "c", "status": "failed"},
        {"type": "failure_decision", "step": "c", "decision": "retry"},
        {"type": "rollback_started"},
        {"type": "step_finished", "step": "r", "status": "passed"},
    )
    assert failed_on.progress() == (3, 4)
    assert fold({"type": "step_finished", "step": "a", "status": "failed"}).progress() == (0, 3)


def test_counts_per_status() -> None:
    state = fold(
        {"type": "step_finished", "step": "a", "status": "passed"},
        {"type": "step_finished", "step": "b", "status": "passed"},
        {"type": "step_not_applicable", "step": "c"},
    )
    assert state.counts() == {"passed": 2, "not_applicable": 1, "pending": 1}


def test_to_toml_leaves_out_empty_fields_and_gives_times_as_datetimes() -> None:
    state = fold(
        {"type": "step_waiting", "step": "b", "at": T1},
        {"type": "step_ticked", "step": "b", "by": "bob", "at": T3},
        {"type": "step_ticked_ahead", "step": "a", "action": "skip", "by": "x"},
        {"type": "step_skipped", "step": "a", "by": "x", "reason": "r", "ahead_at": T2, "at": T3},
    )
    assert state.steps["b"].to_toml() == {
        "id": "b",
        "phase": "p",
        "kind": "manual",
        "rollback": False,
        "status": "passed",
        "attempts": 0,
        "started_at": datetime.fromisoformat(T1),
        "finished_at": datetime.fromisoformat(T3),
        "duration": 5.873,
        "ticked_by": "bob",
        "ticked_at": datetime.fromisoformat(T3),
        "approval_skipped": False,
    }
    a = state.steps["a"].to_toml()
    assert a["ticked_ahead_at"] == datetime.fromisoformat(T2)
    assert a["finished_at"] == datetime.fromisoformat(T3) and "started_at" not in a
    assert a["title"] == "Step A" and "ahead" not in a and "captures" not in a


def test_durations_are_seconds_to_the_millisecond() -> None:
    state = fold(
        {"type": "step_waiting", "step": "b", "at": "2025-11-17T14:00:00.000400+00:00"},
        {"type": "step_ticked", "step": "b", "at": "2025-11-17T14:00:02.000900+00:00"},
    )
    assert state.steps["b"].duration == 2.001
    empty = fold(
        {"type": "step_waiting", "step": "b", "at": T1},
        {"type": "step_ticked", "step": "b", "at": ""},
    )
    assert empty.steps["b"].duration == 0.0


@pytest.mark.parametrize("value", [None, ""])
def test_no_time_is_no_datetime(value: str | None) -> None:
    assert parse_time(value) is None


def test_parse_time_reads_iso_times() -> None:
    assert parse_time(T1) == datetime.fromisoformat(T1)


def test_reduce_of_nothing_is_an_empty_running_state() -> None:
    assert reduce([]) == RunState()
    assert RunState().status == "running"
