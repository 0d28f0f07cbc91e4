"""Rolling batches: the plan, the max_fail accounting, and the per-host records (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from iact_tui.engine.checklist.rollout import (
    FailBudget,
    RolloutError,
    batch_size,
    check_serial,
    exceeded,
    fail_limit,
    plan_batches,
    roll,
)
from iact_tui.engine.record.hosts import HostRecords, host_log_name
from iact_tui.engine.run.rollout import rollback_order

HOSTS = [f"h{i:02d}" for i in range(1, 11)]  # ten hosts


@pytest.mark.parametrize(
    ("serial", "sizes"),
    [
        (None, [10]),
        (1, [1] * 10),
        (3, [3, 3, 3, 1]),
        (10, [10]),
        (50, [10]),  # more than the group: one batch
        ("30%", [3, 3, 3, 1]),
        ("25%", [2, 2, 2, 2, 2]),  # 2.5 rounded down
        ("5%", [1] * 10),  # less than one host: one host
        ("100%", [10]),
        ([1, "50%"], [1, 5, 4]),  # a canary, then halves
        ([1, 2, 3], [1, 2, 3, 3, 1]),  # the last size repeats
        ("4", [4, 4, 2]),
    ],
)
def test_plan_batches(serial: Any, sizes: list[int]) -> None:
    batches = plan_batches(HOSTS, serial)
    assert [len(b) for b in batches] == sizes
    assert [h for b in batches for h in b] == HOSTS  # every host once, in order


def test_plan_of_no_hosts_and_bad_sizes() -> None:
    assert plan_batches([], 2) == []
    for bad in (0, -1, "0%", "150%", "x", "", True, [], 1.5):
        with pytest.raises(RolloutError):
            check_serial(bad)  # type: ignore[arg-type]
    assert batch_size("1%", 1000) == 10


@pytest.mark.parametrize(
    ("max_fail", "total", "limit"),
    [(None, 10, 0), (0, 10, 0), (2, 10, 2), ("10%", 10, 1), ("19%", 10, 1), ("50%", 3, 1), ("0%", 10, 0), ("100%", 4, 4)],
)
def test_fail_limit(max_fail: Any, total: int, limit: int) -> None:
    assert fail_limit(max_fail, total) == limit
    assert not exceeded(limit, total, max_fail)
    assert exceeded(limit + 1, total, max_fail)


def test_fail_budget_counts_each_host_once() -> None:
    budget = FailBudget(5, 1)
    assert not budget.add({"a": True, "b": False})
    assert not budget.add({"b": False})  # the same host again (a retry) is not a second failure
    assert budget.add({"c": False})
    assert budget.failed == ["b", "c"]
    assert budget.describe() == "2 of 5 hosts failed (b, c); max_fail allows at most 1 failed host(s)"
    with pytest.raises(RolloutError):
        fail_limit(-1, 3)


async def test_roll_stops_after_the_batch_past_max_fail() -> None:
    ran: list[tuple[int, list[str]]] = []

    async def run_batch(index: int, hosts: list[str]) -> dict[str, bool]:
        ran.append((index, hosts))
        return {h: h != "h04" for h in hosts}

    result = await roll(HOSTS, 3, 0, run_batch)
    assert ran == [(0, ["h01", "h02", "h03"]), (1, ["h04", "h05", "h06"])]
    assert result.stopped and result.failed == ["h04"] and not result.ok
    assert result.untouched == ["h07", "h08", "h09", "h10"]
    assert "1 of 10 hosts failed (h04)" in result.reason


async def test_roll_within_max_fail_goes_on_and_reports_failures() -> None:
    async def run_batch(index: int, hosts: list[str]) -> dict[str, bool]:
        return {h: h not in ("h02", "h09") for h in hosts}

    result = await roll(HOSTS, "50%", "20%", run_batch)
    assert not result.stopped and result.failed == ["h02", "h09"] and result.untouched == []
    assert len(result.done) == 2


async def test_roll_skips_finished_hosts_but_keeps_the_plan() -> None:
    """A resume goes on host by host: finished hosts are not run again, batches stay the same."""
    ran: list[tuple[int, list[str]]] = []

    async def run_batch(index: int, hosts: list[str]) -> dict[str, bool]:
        ran.append((index, hosts))
        return dict.fromkeys(hosts, True)

    done = {"h01", "h02", "h03", "h04"}
    result = await roll(HOSTS, 3, 0, run_batch, skip=done.__contains__)
    assert ran == [(1, ["h05", "h06"]), (2, ["h07", "h08", "h09"]), (3, ["h10"])]
    assert result.ok


def test_rollback_order_is_last_batch_first() -> None:
    started = [(0, "a"), (1, "b"), (1, "c"), (2, "d"), (0, "a")]
    assert rollback_order(started) == ["d", "c", "b", "a"]


# -- the per-host records --------------------------------------------------------------------


def _recs(*records: dict[str, Any]) -> HostRecords:
    hr = HostRecords()
    for seq, r in enumerate(records, 1):
        assert hr.apply({"seq": seq, "at": f"2026-01-01T00:00:{seq:02d}+00:00", **r})
    return hr


def test_host_records_fold_status_attempts_logs_and_summary() -> None:
    hr = _recs(
        {"type": "host_started", "step": "restart", "host": "web1", "attempt": 1, "batch": 0},
        {"type": "host_finished", "step": "restart", "host": "web1", "attempt": 1, "status": "passed",
         "exit_status": 0, "duration": 0.5, "log_sha256": "ab", "log_bytes": 3, "changed": True},
        {"type": "host_started", "step": "restart", "host": "web2", "attempt": 1, "batch": 1},
        {"type": "host_finished", "step": "restart", "host": "web2", "attempt": 1, "status": "failed",
         "exit_status": 1, "duration": 0.2, "message": "exit 1"},
        {"type": "host_started", "step": "restart", "host": "web2", "attempt": 2, "batch": 1},
    )
    assert not hr.apply({"type": "step_started", "step": "x"})
    web1, web2 = hr.get("restart", "web1"), hr.get("restart", "web2")
    assert web1 is not None and web2 is not None
    assert web1.log == host_log_name("restart", "web1") == "logs/restart@web1.log"
    assert web1.log_sha256 == "ab" and web1.duration == 0.5 and web1.exit_status == 0
    assert web2.status == "running" and web2.attempts == 2 and web2.message == ""
    assert hr.step_status("restart", 3) == "running"
    hr.apply({"type": "host_finished", "step": "restart", "host": "web2", "status": "passed", "at": "x"})
    assert hr.step_status("restart", 3) == "pending"  # web3 has not run
    assert hr.summary("restart", 3) == "2/3 passed"
    assert hr.finished("restart") == {"web1", "web2"}
    hr.apply({"type": "host_started", "step": "restart", "host": "web3", "batch": 2, "at": "y"})
    hr.apply({"type": "host_finished", "step": "restart", "host": "web3", "status": "failed", "at": "z"})
    assert hr.step_status("restart", 3) == "failed"
    assert hr.summary("restart", 3) == "2/3 passed, 1 failed"
    assert hr.changed_hosts() == ["web3", "web2", "web1"]  # last batch first


def test_host_records_reset_interrupt_and_grid() -> None:
    hr = _recs(
        {"type": "host_started", "step": "deploy", "host": "a", "batch": 0},
        {"type": "host_finished", "step": "deploy", "host": "a", "status": "passed", "result": "changed"},
        {"type": "host_started", "step": "deploy", "host": "b", "batch": 0},
        {"type": "host_interrupted", "step": "deploy", "host": "b", "reason": "driver stopped"},
        {"type": "host_started", "step": "check", "host": "a", "batch": 0},
        {"type": "host_finished", "step": "check", "host": "a", "status": "passed", "changed": False},
        {"type": "rollout_stopped", "step": "deploy", "failed": ["b"], "limit": 0},
    )
    assert hr.get("deploy", "b").status == "interrupted"  # type: ignore[union-attr]
    assert hr.step_status("deploy", 2) == "interrupted"
    assert hr.stopped == [{"step": "deploy", "failed": ["b"], "limit": 0, "at": "2026-01-01T00:00:07+00:00"}]
    assert hr.grid(["deploy", "check"]) == (["a", "b"], [["changed", "passed"], ["interrupted", ""]])
    assert hr.changed_hosts(["check"]) == []  # a read-only check changed nothing
    hr.apply({"type": "host_reset", "step": "deploy", "host": "b"})
    assert hr.get("deploy", "b").status == "pending"  # type: ignore[union-attr]
    hr.apply({"type": "host_reset", "step": "deploy"})
    assert {r.status for r in hr.for_step("deploy")} == {"pending"}
    assert [(t["step"], t["host"]) for t in hr.to_toml()] == [("deploy", "a"), ("deploy", "b"), ("check", "a")]
