"""Ticks behaviour that mutation testing (issue 10) found untested, in-process: every refusal with
its exact sentence, what each kind of answer records (skip, pass, fail, confirm, ahead, signed),
answers ticked ahead applied or dropped, the line the person is told, and the inbox protocol that
`iact-tui tick` uses while another process drives the run (requests, answers, rejections)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from iact_tui.engine.checklist.load import parse_checklist
from iact_tui.engine.checklist.model import Checklist
from iact_tui.engine.errors import IactError
from iact_tui.engine.record.store import RunStore
from iact_tui.engine.record.ticks import (
    MAX_REQUEST_BYTES,
    BadRequest,
    Tick,
    TickRefused,
    answer_request,
    apply_ahead,
    check_tick,
    describe,
    needs_signature,
    pending_requests,
    post_request,
    read_request,
    read_result,
    record_tick,
    reject_request,
)
from tests.helpers import HEADER
from tests.runfactory import plan_of

FLOW = (
    HEADER
    + """
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
id = "plain-approve"
kind = "manual"
four_eyes = true

[[phases.steps]]
id = "tell"
kind = "notify"
message = "hello"

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
)

# what a record says besides its chain fields and time
CHAIN = ("seq", "at", "hash", "prev")


def body(rec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in rec.items() if k not in CHAIN}


@pytest.fixture
def checklist() -> Checklist:
    return parse_checklist(FLOW.encode()).checklist


def make_store(tmp_path: Path, **created: Any) -> RunStore:
    info = {"operator": "alice", "plan": plan_of(FLOW)} | created
    return RunStore.create(tmp_path / "runs", "r1", FLOW, info)


@pytest.fixture
def store(tmp_path: Path) -> Any:
    s = make_store(tmp_path)
    s.append("step_started", step="hello", attempt=1, command="echo hello")
    s.append("step_finished", step="hello", status="passed", duration=0.1)
    s.append("step_waiting", step="gate")
    yield s
    s.lock.release()


def refusal(store: RunStore, checklist: Checklist, tick: Tick) -> str:
    before = len(store.records)
    with pytest.raises(TickRefused) as caught:
        record_tick(store, checklist, tick)
    assert len(store.records) == before  # a refused tick records nothing
    return str(caught.value)


# -- refusals, each with its sentence ------------------------------------------------------------


def test_an_unknown_action_is_refused_by_name(store: RunStore, checklist: Checklist) -> None:
    assert refusal(store, checklist, Tick("gate", "approve", "bob")) == (
        "unknown tick action 'approve'"
    )


def test_an_unknown_step_is_refused_with_the_closest_name_if_any(
    store: RunStore, checklist: Checklist
) -> None:
    assert refusal(store, checklist, Tick("gte", "pass", "bob")) == (
        "run r1 has no step 'gte'; did you mean 'gate'?"
    )
    assert refusal(store, checklist, Tick("zzzzzz", "pass", "bob")) == (
        "run r1 has no step 'zzzzzz'"
    )


@pytest.mark.parametrize(
    ("status", "said"), [("succeeded", "succeeded"), ("rolled_back", "rolled back")]
)
def test_a_finished_run_takes_no_more_ticks(
    store: RunStore, checklist: Checklist, status: str, said: str
) -> None:
    store.append("run_finished", status=status)
    assert refusal(store, checklist, Tick("gate", "pass", "bob")) == (
        f"run r1 is {said}; it takes no more ticks"
    )


def test_a_paused_or_failed_run_still_takes_ticks(store: RunStore, checklist: Checklist) -> None:
    store.append("run_finished", status="failed")
    rec = record_tick(store, checklist, Tick("gate", "pass", "bob"))
    assert rec["type"] == "step_ticked"


@pytest.mark.parametrize("by", ["", "   "])
def test_a_tick_needs_a_name(store: RunStore, checklist: Checklist, by: str) -> None:
    assert refusal(store, checklist, Tick("gate", "pass", by)) == (
        "a tick needs the name of the person giving it"
    )


@pytest.mark.parametrize("reason", ["", "  \t"])
def test_a_skip_needs_a_reason(store: RunStore, checklist: Checklist, reason: str) -> None:
    assert refusal(store, checklist, Tick("gate", "skip", "bob", reason=reason)) == (
        "skipping a step needs a reason (--reason)"
    )


def test_a_done_step_is_refused_with_its_status_in_words(
    store: RunStore, checklist: Checklist
) -> None:
    assert refusal(store, checklist, Tick("hello", "pass", "bob")) == (
        "step 'hello' is passed already"
    )
    store.append("step_not_applicable", step="after", reason="not chosen")
    assert refusal(store, checklist, Tick("after", "skip", "bob", reason="r", ahead=True)) == (
        "step 'after' is not applicable already"
    )


def test_a_running_step_is_refused_until_it_waits(store: RunStore, checklist: Checklist) -> None:
    store.append("step_started", step="after", attempt=1)
    assert refusal(store, checklist, Tick("after", "skip", "bob", reason="r", ahead=True)) == (
        "step 'after' is running now; it can be ticked when it waits for a person"
    )


def test_a_rollback_step_takes_no_tick_before_a_rollback_starts(
    store: RunStore, checklist: Checklist
) -> None:
    text = (
        "step 'undo-check' is a rollback step and no rollback has started; it cannot be ticked "
        "(not even ahead) before one starts"
    )
    assert refusal(store, checklist, Tick("undo-check", "pass", "bob", ahead=True)) == text
    store.append("rollback_started", reason="bad")
    rec = record_tick(store, checklist, Tick("undo-check", "pass", "bob", ahead=True))
    assert rec["type"] == "step_ticked_ahead"


def test_a_step_not_reached_needs_ahead(store: RunStore, checklist: Checklist) -> None:
    assert refusal(store, checklist, Tick("approve", "pass", "bob")) == (
        "step 'approve' does not wait for a person now (it is pending); to answer it before the "
        "run gets there, tick it ahead with --ahead"
    )


def test_a_step_is_ticked_ahead_once(store: RunStore, checklist: Checklist) -> None:
    first = record_tick(store, checklist, Tick("approve", "pass", "bob", ahead=True))
    assert refusal(store, checklist, Tick("approve", "fail", "carol", ahead=True)) == (
        f"step 'approve' was ticked ahead already (pass by bob at {first['at']})"
    )


def test_an_automatic_step_ahead_can_only_be_skipped(store: RunStore, checklist: Checklist) -> None:
    for action in ("pass", "fail"):
        assert refusal(store, checklist, Tick("after", action, "bob", ahead=True)) == (
            "step 'after' is automatic (local); ahead of the run it can only be skipped "
            "(--ahead --skip --reason)"
        )
    rec = record_tick(store, checklist, Tick("after", "skip", "bob", reason="by hand", ahead=True))
    assert body(rec) == {
        "type": "step_ticked_ahead",
        "step": "after",
        "action": "skip",
        "by": "bob",
        "reason": "by hand",
    }


def test_a_notice_is_answered_by_hand_ahead(store: RunStore, checklist: Checklist) -> None:
    rec = record_tick(store, checklist, Tick("tell", "pass", "bob", note="sent", ahead=True))
    assert body(rec) == {
        "type": "step_ticked_ahead",
        "step": "tell",
        "action": "pass",
        "by": "bob",
        "note": "sent",
    }


def test_a_failed_automatic_step_is_retried_or_skipped_not_passed(
    store: RunStore, checklist: Checklist
) -> None:
    store.append("step_started", step="after", attempt=1)
    store.append("step_finished", step="after", status="failed", message="exit 1")
    assert refusal(store, checklist, Tick("after", "pass", "bob")) == (
        "step 'after' failed; retry it with `resume`, or skip it with --skip --reason"
    )
    rec = record_tick(store, checklist, Tick("after", "fail", "bob"))
    assert body(rec) == {"type": "step_ticked", "step": "after", "result": "failed", "by": "bob"}


def test_a_failed_manual_step_can_be_passed_again(store: RunStore, checklist: Checklist) -> None:
    record_tick(store, checklist, Tick("gate", "fail", "bob", note="broken"))
    assert store.state.steps["gate"].status == "failed"
    rec = record_tick(store, checklist, Tick("gate", "pass", "bob"))
    assert body(rec) == {"type": "step_ticked", "step": "gate", "result": "passed", "by": "bob"}


def test_an_interrupted_automatic_step_is_confirmed_done(
    store: RunStore, checklist: Checklist
) -> None:
    store.append("step_started", step="after", attempt=1)
    store.append("step_interrupted", step="after", reason="driver stopped")
    rec = record_tick(store, checklist, Tick("after", "pass", "bob", note="it finished"))
    assert body(rec) == {
        "type": "step_ticked",
        "step": "after",
        "result": "passed",
        "by": "bob",
        "note": "it finished",
        "how": "confirmed done",
    }
    assert describe(store, Tick("after", "pass", "bob"), rec) == "recorded: after passed by bob"


# -- four eyes ------------------------------------------------------------------------------------


def waiting_approval(store: RunStore, step: str = "approve") -> None:
    store.append("step_waiting", step=step)


@pytest.mark.parametrize(
    ("by", "alike"), [("alice", ""), (" ALICE ", ""), ("\u0430lice", " reads as alice, and")]
)
def test_four_eyes_refuses_the_operator_by_any_spelling(
    store: RunStore, checklist: Checklist, by: str, alike: str
) -> None:
    waiting_approval(store)
    assert refusal(store, checklist, Tick("approve", "pass", by)) == (
        f"step 'approve' needs four eyes: {by}{alike} is an operator of the run, so another "
        "person (tech-lead) must approve it"
    )
    assert refusal(store, checklist, Tick("approve", "skip", by, reason="no time")) == (
        f"step 'approve' needs four eyes: {by}{alike} is an operator of the run, so another "
        "person (tech-lead) must skip it"
    )


def test_four_eyes_names_an_approver_when_the_step_has_no_role(
    store: RunStore, checklist: Checklist
) -> None:
    waiting_approval(store, "plain-approve")
    assert refusal(store, checklist, Tick("plain-approve", "pass", "alice")) == (
        "step 'plain-approve' needs four eyes: alice is an operator of the run, so another "
        "person (an approver) must approve it"
    )


def test_four_eyes_covers_whoever_resumed_and_lets_anyone_fail_it(
    store: RunStore, checklist: Checklist
) -> None:
    store.append("run_paused", reason="waits")
    store.append("run_resumed", by="carol")
    waiting_approval(store)
    assert "carol is an operator" in refusal(store, checklist, Tick("approve", "pass", "carol"))
    assert "alice is an operator" in refusal(store, checklist, Tick("approve", "pass", "alice"))
    rec = record_tick(store, checklist, Tick("approve", "fail", "carol", note="not ready"))
    assert body(rec) == {
        "type": "step_ticked",
        "step": "approve",
        "result": "failed",
        "by": "carol",
        "note": "not ready",
        "role": "tech-lead",
    }


def test_four_eyes_is_only_for_its_steps(store: RunStore, checklist: Checklist) -> None:
    rec = record_tick(store, checklist, Tick("gate", "pass", "alice"))
    assert body(rec) == {"type": "step_ticked", "step": "gate", "result": "passed", "by": "alice"}


def test_a_run_without_an_operator_name_refuses_nobody(
    tmp_path: Path, checklist: Checklist
) -> None:
    store = make_store(tmp_path, operator="")
    try:
        waiting_approval(store)
        rec = record_tick(store, checklist, Tick("approve", "pass", "bob"))
        assert rec["by"] == "bob"
    finally:
        store.lock.release()


# -- what an answer records -------------------------------------------------------------------------


def test_a_skipped_approval_is_recorded_as_an_approval(
    store: RunStore, checklist: Checklist
) -> None:
    waiting_approval(store)
    rec = record_tick(store, checklist, Tick("approve", "skip", "bob", note="n", reason="later"))
    assert body(rec) == {
        "type": "step_skipped",
        "step": "approve",
        "reason": "later",
        "by": "bob",
        "note": "n",
        "approval": True,
    }
    assert describe(store, Tick("approve", "skip", "bob"), rec) == (
        "recorded: approve skipped by bob"
    )


def test_a_skipped_plain_step_is_no_approval(store: RunStore, checklist: Checklist) -> None:
    rec = record_tick(store, checklist, Tick("gate", "skip", "bob", reason="not needed"))
    assert body(rec) == {
        "type": "step_skipped",
        "step": "gate",
        "reason": "not needed",
        "by": "bob",
    }


def test_an_approval_records_its_role(store: RunStore, checklist: Checklist) -> None:
    waiting_approval(store)
    rec = record_tick(store, checklist, Tick("approve", "pass", "bob", ahead=True))
    assert body(rec) == {
        "type": "step_ticked",
        "step": "approve",
        "result": "passed",
        "by": "bob",
        "role": "tech-lead",
    }


def test_a_step_the_checklist_no_longer_has_is_answered_without_a_role(
    store: RunStore, checklist: Checklist
) -> None:
    store.append("step_waiting", step="gone", phase="one", kind="manual")
    rec = record_tick(store, checklist, Tick("gone", "pass", "bob"))
    assert body(rec) == {"type": "step_ticked", "step": "gone", "result": "passed", "by": "bob"}
    store.append("step_started", step="gone2", phase="one", kind="local")
    store.append("step_finished", step="gone2", status="failed", message="x")
    skipped = record_tick(store, checklist, Tick("gone2", "skip", "bob", reason="r"))
    assert body(skipped) == {"type": "step_skipped", "step": "gone2", "reason": "r", "by": "bob"}


def test_an_ahead_tick_records_who_why_and_the_role(store: RunStore, checklist: Checklist) -> None:
    rec = record_tick(
        store, checklist, Tick("approve", "skip", "bob", note="n", reason="r", ahead=True)
    )
    assert body(rec) == {
        "type": "step_ticked_ahead",
        "step": "approve",
        "action": "skip",
        "by": "bob",
        "note": "n",
        "reason": "r",
        "role": "tech-lead",
    }
    assert describe(store, Tick("approve", "skip", "bob"), rec) == (
        f"recorded ahead: approve skip by bob at {rec['at']}; it is applied when the run "
        "reaches the step"
    )
    assert store.state.steps["approve"].status == "pending"


# -- signed answers ---------------------------------------------------------------------------------

SIGNED = {"signer": "Bea", "fingerprint": "SHA256:abc", "key_type": "ssh-ed25519"}


class FakeCheck:
    """A check_approval that records its arguments and answers as told."""

    def __init__(self, answer: dict[str, str] | None = None, error: str = "") -> None:
        self.answer, self.error = answer, error
        self.calls: list[tuple[Any, ...]] = []

    def __call__(self, state: Any, hashes: set[str], step: Any, tick: Tick) -> Any:
        self.calls.append((state, hashes, step, tick))
        if self.error:
            raise IactError(self.error)
        return self.answer


def test_a_signed_answer_is_recorded_under_its_signer(
    store: RunStore, checklist: Checklist
) -> None:
    waiting_approval(store)
    check = FakeCheck(SIGNED)
    tick = Tick("approve", "pass", "someone", signature="SIG")
    hashes = {r["hash"] for r in store.records}
    rec = record_tick(store, checklist, tick, check)
    assert body(rec) == {
        "type": "step_ticked",
        "step": "approve",
        "result": "passed",
        "by": "Bea",
        "role": "tech-lead",
        "signed": SIGNED,
    }
    ((state, seen, step, given),) = check.calls
    assert state is store.state and seen == hashes and step.id == "approve" and given == tick
    assert describe(store, tick, rec) == "recorded: approve passed by Bea, signed with SHA256:abc"


def test_a_signed_ahead_answer_keeps_its_signature(store: RunStore, checklist: Checklist) -> None:
    rec = record_tick(
        store,
        checklist,
        Tick("approve", "pass", "x", signature="SIG", ahead=True),
        FakeCheck(SIGNED),
    )
    assert rec["signed"] == SIGNED and rec["by"] == "Bea"
    assert store.state.ahead["approve"]["signed"] == SIGNED


def test_a_signed_skip_keeps_its_signature(store: RunStore, checklist: Checklist) -> None:
    waiting_approval(store)
    tick = Tick("approve", "skip", "x", reason="not today", signature="SIG")
    rec = record_tick(store, checklist, tick, FakeCheck(SIGNED))
    assert body(rec) == {
        "type": "step_skipped",
        "step": "approve",
        "reason": "not today",
        "by": "Bea",
        "approval": True,
        "signed": SIGNED,
    }
    assert store.state.steps["approve"].approval_signer == "Bea"


def test_a_signed_skip_ticked_ahead_is_used_signed(store: RunStore, checklist: Checklist) -> None:
    tick = Tick("approve", "skip", "x", reason="later", signature="SIG", ahead=True)
    record_tick(store, checklist, tick, FakeCheck(SIGNED))
    waiting_approval(store)
    rec = apply_ahead(store, checklist, "approve")
    assert rec["type"] == "step_skipped" and rec["signed"] == SIGNED and rec["by"] == "Bea"


def test_an_answer_ahead_whose_signature_is_no_table_is_used_unsigned(
    store: RunStore, checklist: Checklist
) -> None:
    store.append("step_ticked_ahead", step="gate", action="pass", by="bob", signed="forged")
    rec = apply_ahead(store, checklist, "gate")
    assert "signed" not in rec and rec["by"] == "bob"


def test_a_signature_on_a_step_the_checklist_lost_is_not_checked(
    store: RunStore, checklist: Checklist
) -> None:
    store.append("step_waiting", step="gone", phase="one", kind="manual")
    check = FakeCheck(SIGNED)
    rec = record_tick(store, checklist, Tick("gone", "pass", "bob", signature="S"), check)
    assert check.calls == [] and rec["by"] == "bob" and "signed" not in rec
    store.append("step_waiting", step="gone2", phase="one", kind="manual")
    rec = record_tick(store, checklist, Tick("gone2", "pass", "bob", signature="S"))
    assert rec["by"] == "bob"


def test_the_operator_may_skip_or_answer_a_step_without_four_eyes(
    store: RunStore, checklist: Checklist
) -> None:
    store.append("step_started", step="after", attempt=1)
    store.append("step_finished", step="after", status="failed", message="exit 1")
    rec = record_tick(store, checklist, Tick("after", "skip", "alice", reason="done by hand"))
    assert rec["type"] == "step_skipped" and rec["by"] == "alice"
    store.append("step_waiting", step="tell")
    rec = record_tick(store, checklist, Tick("tell", "pass", "alice", note="sent by hand"))
    assert rec["type"] == "step_ticked" and rec["by"] == "alice"


def test_a_refused_signature_is_a_refused_tick(store: RunStore, checklist: Checklist) -> None:
    waiting_approval(store)
    before = len(store.records)
    with pytest.raises(TickRefused) as caught:
        record_tick(
            store,
            checklist,
            Tick("approve", "pass", "x", signature="S"),
            FakeCheck(error="bad key"),
        )
    assert str(caught.value) == "bad key" and caught.value.__cause__ is None
    assert len(store.records) == before


def test_a_signature_without_a_checker_fails_closed(store: RunStore, checklist: Checklist) -> None:
    assert refusal(store, checklist, Tick("gate", "pass", "bob", signature="S")) == (
        "step 'gate' takes a signed answer, and signatures cannot be checked here"
    )


def test_a_role_with_approvers_takes_only_signed_answers(
    tmp_path: Path, checklist: Checklist
) -> None:
    store = make_store(tmp_path, approver_keys={"tech-lead": ["ssh-ed25519 AAAA"]})
    try:
        state = store.state
        assert needs_signature(state, checklist.step("approve"))
        assert not needs_signature(state, checklist.step("gate"))  # no role
        assert not needs_signature(state, checklist.step("undo-check"))
        waiting_approval(store)
        assert refusal(store, checklist, Tick("approve", "pass", "bob")) == (
            "step 'approve' takes a signed answer, and signatures cannot be checked here"
        )
        check = FakeCheck(None)  # the checker says: this role takes no signature after all
        rec = record_tick(store, checklist, Tick("approve", "pass", "bob"), check)
        assert len(check.calls) == 1 and rec["by"] == "bob" and "signed" not in rec
    finally:
        store.lock.release()


def test_approver_keys_that_are_not_a_table_ask_for_no_signature(
    tmp_path: Path, checklist: Checklist
) -> None:
    store = make_store(tmp_path, approver_keys=["tech-lead"])
    try:
        assert not needs_signature(store.state, checklist.step("approve"))
    finally:
        store.lock.release()


def test_an_unsigned_plain_step_never_asks_the_checker(
    store: RunStore, checklist: Checklist
) -> None:
    check = FakeCheck(SIGNED)
    rec = record_tick(store, checklist, Tick("gate", "pass", "bob"), check)
    assert check.calls == [] and rec["by"] == "bob"


# -- answers ticked ahead, when the run gets there ------------------------------------------------


def test_an_answer_ticked_ahead_is_used_when_the_run_gets_there(
    store: RunStore, checklist: Checklist
) -> None:
    ahead = record_tick(store, checklist, Tick("approve", "pass", "bob", note="fine", ahead=True))
    waiting_approval(store)
    rec = apply_ahead(store, checklist, "approve")
    assert body(rec) == {
        "type": "step_ticked",
        "step": "approve",
        "result": "passed",
        "by": "bob",
        "note": "fine",
        "role": "tech-lead",
        "how": "ticked ahead",
        "ahead_at": ahead["at"],
    }
    assert store.state.steps["approve"].status == "passed"
    assert "approve" not in store.state.ahead


def test_a_skip_ticked_ahead_is_used_with_its_reason(store: RunStore, checklist: Checklist) -> None:
    ahead = record_tick(
        store, checklist, Tick("after", "skip", "bob", reason="by hand", ahead=True)
    )
    rec = apply_ahead(store, checklist, "after")
    assert body(rec) == {
        "type": "step_skipped",
        "step": "after",
        "reason": "by hand",
        "by": "bob",
        "ahead_at": ahead["at"],
    }


def test_a_signed_answer_ticked_ahead_is_used_signed(store: RunStore, checklist: Checklist) -> None:
    record_tick(
        store, checklist, Tick("approve", "pass", "x", signature="S", ahead=True), FakeCheck(SIGNED)
    )
    waiting_approval(store)
    rec = apply_ahead(store, checklist, "approve")
    assert rec["signed"] == SIGNED and rec["by"] == "Bea"


def test_an_answer_ahead_by_the_operator_is_dropped_with_the_reason(
    store: RunStore, checklist: Checklist
) -> None:
    store.append("step_ticked_ahead", step="approve", action="pass", by="alice")
    waiting_approval(store)
    with pytest.raises(TickRefused) as caught:
        apply_ahead(store, checklist, "approve")
    why = (
        "step 'approve' needs four eyes: alice is an operator of the run, so another person "
        "(tech-lead) must approve it"
    )
    assert str(caught.value) == why
    assert body(store.records[-1]) == {
        "type": "step_ahead_dropped",
        "step": "approve",
        "reason": why,
    }
    assert "approve" not in store.state.ahead


def test_an_answer_ahead_with_an_unknown_action_is_dropped(
    store: RunStore, checklist: Checklist
) -> None:
    store.append("step_ticked_ahead", step="gate", action="maybe", by="bob")
    with pytest.raises(TickRefused, match=r"^unknown tick action 'maybe'$"):
        apply_ahead(store, checklist, "gate")
    assert body(store.records[-1]) == {
        "type": "step_ahead_dropped",
        "step": "gate",
        "reason": "unknown tick action 'maybe'",
    }


def test_an_answer_ahead_without_action_or_name_is_dropped(
    store: RunStore, checklist: Checklist
) -> None:
    store.append("step_ticked_ahead", step="gate")
    with pytest.raises(TickRefused, match=r"^unknown tick action ''$"):
        apply_ahead(store, checklist, "gate")


def test_an_answer_ahead_for_a_step_the_checklist_lost_is_used(
    store: RunStore, checklist: Checklist
) -> None:
    ahead = store.append(
        "step_ticked_ahead", step="gone", phase="one", kind="manual", action="fail", by="b"
    )
    store.append("step_waiting", step="gone")
    rec = apply_ahead(store, checklist, "gone")
    assert body(rec) == {
        "type": "step_ticked",
        "step": "gone",
        "result": "failed",
        "by": "b",
        "how": "ticked ahead",
        "ahead_at": ahead["at"],
    }


# -- the inbox ------------------------------------------------------------------------------------


def test_a_request_left_in_the_inbox_reads_back_as_the_same_tick(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    tick = Tick(
        "gate", "skip", "bob", note="n", reason="r", ahead=True, signature="S", chain_head="h"
    )
    rid = post_request(inbox, tick)
    assert len(rid) == 32 and int(rid, 16) >= 0
    data = json.loads((inbox / f"{rid}.json").read_text())
    assert data["id"] == rid and data["step"] == "gate" and data["ahead"] is True
    assert data["at"].endswith("+00:00")
    assert read_request(inbox / f"{rid}.json") == Tick(
        "gate",
        "skip",
        "bob",
        note="n",
        reason="r",
        id=rid,
        ahead=True,
        signature="S",
        chain_head="h",
    )
    again = post_request(inbox, Tick("gate", "pass", "bob", id="mine"))  # the inbox exists now
    assert again == "mine" and (inbox / "mine.json").is_file()
    assert [(p.name, t.id if t else None, why) for p, t, why in pending_requests(inbox)] == sorted(
        [(f"{rid}.json", rid, ""), ("mine.json", "mine", "")]
    )


def test_the_answer_is_read_once_then_removed(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    assert read_result(inbox, "r1") is None
    request = inbox / "r1.json"
    request.write_text("{}")
    answer_request(request, True, "recorded: gate passed by bob")
    assert not request.exists()
    assert json.loads((inbox / "r1.result").read_text()) == {
        "id": "r1",
        "ok": True,
        "message": "recorded: gate passed by bob",
    }
    assert read_result(inbox, "r1") == {
        "id": "r1",
        "ok": True,
        "message": "recorded: gate passed by bob",
    }
    assert not (inbox / "r1.result").exists()
    answer_request(inbox / "gone.json", False, "no")  # the request went away meanwhile
    assert read_result(inbox, "gone") == {"id": "gone", "ok": False, "message": "no"}


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[1]",
        '{"ok": true}',
        '{"message": "m"}',
        '{"ok": 1, "message": "m"}',
        '{"ok": true, "message": 5}',
        "[" * 5000 + "]" * 5000,
    ],
)
def test_an_answer_that_cannot_be_read_is_said_and_kept(tmp_path: Path, text: str) -> None:
    (tmp_path / "a.result").write_text(text)
    assert read_result(tmp_path, "a") == {
        "id": "a",
        "ok": False,
        "message": "the answer a.result is not readable",
    }
    assert (tmp_path / "a.result").exists()


def test_an_answer_that_is_a_folder_is_said(tmp_path: Path) -> None:
    (tmp_path / "a.result").mkdir()
    assert read_result(tmp_path, "a") == {
        "id": "a",
        "ok": False,
        "message": "the answer a.result cannot be read: Is a directory",
    }


def bad(path: Path) -> str:
    with pytest.raises(BadRequest) as caught:
        read_request(path)
    return str(caught.value)


def test_requests_that_are_no_regular_file_are_refused(tmp_path: Path) -> None:
    (tmp_path / "real.json").write_text('{"step": "a", "action": "pass", "by": "b"}')
    os.symlink(tmp_path / "real.json", tmp_path / "link.json")
    assert bad(tmp_path / "link.json") == "is a symbolic link"
    assert bad(tmp_path / "missing.json") == "cannot be read (No such file or directory)"
    (tmp_path / "dir.json").mkdir()
    assert bad(tmp_path / "dir.json") == "is a directory"
    os.mkfifo(tmp_path / "fifo.json")
    assert bad(tmp_path / "fifo.json") == "is not a regular file"


def request_of(size: int) -> bytes:
    head = b'{"step": "a", "action": "pass", "by": "b", "note": "'
    return head + b"x" * (size - len(head) - 2) + b'"}'


def test_a_request_of_64_kib_is_read_and_one_byte_more_is_refused(tmp_path: Path) -> None:
    (tmp_path / "ok.json").write_bytes(request_of(MAX_REQUEST_BYTES))
    tick = read_request(tmp_path / "ok.json")
    assert tick.step == "a" and len(request_of(MAX_REQUEST_BYTES)) == MAX_REQUEST_BYTES
    assert tick.note == "x" * (MAX_REQUEST_BYTES - len(request_of(0)))
    (tmp_path / "big.json").write_bytes(request_of(MAX_REQUEST_BYTES + 1))
    assert bad(tmp_path / "big.json") == "is 65537 bytes; a request is at most 64 KiB"


def test_a_request_that_grows_while_it_is_read_stops_past_64_kib(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "grows.json"
    path.write_bytes(request_of(3 * MAX_REQUEST_BYTES))
    real_fstat = os.fstat
    reads: list[int] = []
    real_read = os.read

    def small_fstat(fd: int) -> os.stat_result:
        st = real_fstat(fd)
        return os.stat_result((st.st_mode, *tuple(st)[1:6], 100, *tuple(st)[7:]))

    def counted_read(fd: int, n: int) -> bytes:
        reads.append(n)
        return real_read(fd, n)

    monkeypatch.setattr(os, "fstat", small_fstat)
    monkeypatch.setattr(os, "read", counted_read)
    assert bad(path) == "is over 64 KiB; a request is at most that"
    assert sum(reads) == MAX_REQUEST_BYTES + 1  # it never reads more than one byte past


@pytest.mark.parametrize("piece", [64, 100])
def test_a_request_that_grows_while_it_is_read_in_pieces_stops_one_byte_past_64_kib(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, piece: int
) -> None:
    path = tmp_path / "grows.json"
    path.write_bytes(request_of(3 * MAX_REQUEST_BYTES))
    real_fstat, real_read = os.fstat, os.read
    got: list[int] = []

    def small_fstat(fd: int) -> os.stat_result:
        st = real_fstat(fd)
        return os.stat_result((st.st_mode, *tuple(st)[1:6], 100, *tuple(st)[7:]))

    def in_pieces(fd: int, n: int) -> bytes:
        chunk = real_read(fd, min(n, piece))
        got.append(len(chunk))
        return chunk

    monkeypatch.setattr(os, "fstat", small_fstat)
    monkeypatch.setattr(os, "read", in_pieces)
    assert bad(path) == "is over 64 KiB; a request is at most that"
    assert sum(got) == MAX_REQUEST_BYTES + 1


def test_a_request_read_in_pieces_is_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "r.json"
    path.write_bytes(request_of(1000))
    real_read = os.read
    monkeypatch.setattr(os, "read", lambda fd, n: real_read(fd, min(n, 100)))
    assert read_request(path).note == "x" * (1000 - len(request_of(0)))


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"\xff\xfe{}", "is not UTF-8 text"),
        (b"{nope", "is not JSON"),
        (b"[" * 20000 + b"]" * 20000, "is not JSON"),
        (b"[1, 2]", "holds a JSON list, not an object with step, action and by"),
        (b'"text"', "holds a JSON str, not an object with step, action and by"),
        (b'{"step": "a"}', "has no action, by"),
        (b'{"action": "pass", "by": "b"}', "has no step"),
        (b'{"step": "a", "action": "pass", "by": 5}', "has a by that is not text (int)"),
        (
            b'{"step": "a", "action": "pass", "by": "b", "chain_head": []}',
            "has a chain_head that is not text (list)",
        ),
        (
            b'{"step": "a", "action": "pass", "by": "b", "ahead": "yes"}',
            "has an ahead that is not true or false (str)",
        ),
        (
            b'{"step": "a", "action": "pass", "by": "b", "ahead": null}',
            "has an ahead that is not true or false (NoneType)",
        ),
    ],
)
def test_a_request_that_is_no_tick_says_why(tmp_path: Path, raw: bytes, why: str) -> None:
    (tmp_path / "r.json").write_bytes(raw)
    assert bad(tmp_path / "r.json") == why


def test_a_request_with_empty_fields_and_extras_is_a_plain_tick(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text(
        json.dumps({"step": "a", "action": "pass", "by": "b", "note": None, "extra": 1, "at": "t"})
    )
    assert read_request(tmp_path / "r.json") == Tick("a", "pass", "b")


def test_pending_requests_lists_ticks_and_says_why_the_others_are_not(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    assert pending_requests(inbox) == []
    inbox.write_text("a file")
    assert pending_requests(inbox) == []
    inbox.unlink()
    inbox.mkdir()
    (inbox / "b.json").write_text("nope")
    (inbox / "a.json").write_text('{"step": "s", "action": "pass", "by": "x"}')
    (inbox / "c.result").write_text("{}")
    (inbox / "rejected").mkdir()
    (inbox / "rejected" / "old.json").write_text("nope")
    assert pending_requests(inbox) == [
        (inbox / "a.json", Tick("s", "pass", "x"), ""),
        (inbox / "b.json", None, "is not JSON"),
    ]


def test_a_request_that_goes_away_while_it_is_read_is_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.json").write_text("{}")

    def gone(fd: int) -> os.stat_result:
        raise FileNotFoundError(2, "No such file or directory")

    monkeypatch.setattr(os, "fstat", gone)
    assert pending_requests(inbox) == [
        (inbox / "a.json", None, "cannot be read (No such file or directory)")
    ]


def test_a_rejected_request_is_moved_aside_and_answered(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "r1.json").write_text("nope")
    message = reject_request(inbox / "r1.json", "is not JSON")
    assert message == "the request r1.json is not JSON; moved to inbox/rejected/r1.json"
    assert (inbox / "rejected" / "r1.json").read_text() == "nope"
    assert not (inbox / "r1.json").exists()
    assert read_result(inbox, "r1") == {"id": "r1", "ok": False, "message": message}
    (inbox / "r1.json").write_text("again")  # the same name again: kept beside the first
    second = reject_request(inbox / "r1.json", "is not JSON")
    moved = sorted(p.name for p in (inbox / "rejected").iterdir())
    assert len(moved) == 2 and "r1.json" in moved
    other = next(n for n in moved if n != "r1.json")
    assert other.startswith("r1-") and other.endswith(".json") and len(other) == len("r1-") + 8 + 5
    assert second == f"the request r1.json is not JSON; moved to inbox/rejected/{other}"
    assert (inbox / "rejected" / "r1.json").read_text() == "nope"


def test_a_request_that_cannot_be_moved_aside_is_still_answered(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "rejected").write_text("a file where the folder goes")
    (inbox / "r2.json").write_text("nope")
    message = reject_request(inbox / "r2.json", "is not JSON")
    assert message == "the request r2.json is not JSON; it could not be moved aside"
    assert json.loads((inbox / "r2.result").read_text()) == {
        "id": "r2",
        "ok": False,
        "message": message,
    }


def test_a_rejection_whose_answer_cannot_be_written_still_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from iact_tui.engine.record import ticks

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "r3.json").write_text("nope")

    def disk_full(path: Path, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ticks, "atomic_write", disk_full)
    assert reject_request(inbox / "r3.json", "is not JSON") == (
        "the request r3.json is not JSON; moved to inbox/rejected/r3.json"
    )
    assert not (inbox / "r3.result").exists()


def test_check_tick_alone_needs_no_store(store: RunStore, checklist: Checklist) -> None:
    check_tick(store.state, checklist, Tick("gate", "pass", "bob"))  # allowed: no exception
    with pytest.raises(TickRefused):
        check_tick(store.state, checklist, Tick("gate", "pass", " "))
