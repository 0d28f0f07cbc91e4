"""Group commit (RunStore.append_soon): the records of a batch of hosts that arrive together are
written with one write and one fdatasync, and each is durable before it is announced."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from iact_tui.engine.record import store as store_module
from iact_tui.engine.record.store import JOURNAL, RunStore, check_chain, read_records


def new_store(tmp_path: Path) -> RunStore:
    return RunStore.create(tmp_path / "runs", "20260302T090000Z-group", "[checklist]\n", {"operator": "ana"})


@pytest.fixture
def syncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = os.fdatasync

    def counting(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(store_module.os, "fdatasync", counting)
    return calls


def test_a_batch_is_one_write_and_each_record_is_durable_before_it_is_announced(
    tmp_path: Path, syncs: list[int]
) -> None:
    s = new_store(tmp_path)
    announced: list[tuple[str, bool]] = []

    def on_durable(rec: dict[str, Any]) -> None:
        on_disk = (s.folder / JOURNAL).read_text()
        announced.append((rec["host"], f'"hash": "{rec["hash"]}"' in on_disk))

    async def batch() -> list[dict[str, Any]]:
        futures = [s.append_soon("host_started", on_durable, step="fan", host=f"web{i}", attempt=1, batch=0)
                   for i in range(50)]
        assert s.state.fleet.get("fan", "web0") is None  # not folded before it is written
        return list(await asyncio.gather(*futures))

    before = len(syncs)
    records = asyncio.run(batch())
    assert len(syncs) - before == 1  # fifty records, one fdatasync
    assert announced == [(f"web{i}", True) for i in range(50)]
    assert [r["seq"] for r in records] == list(range(records[0]["seq"], records[0]["seq"] + 50))
    assert s.state.fleet.get("fan", "web49") is not None
    assert check_chain(read_records(s.folder)) == []
    s.close()


def test_an_append_writes_what_waits_first_in_order(tmp_path: Path, syncs: list[int]) -> None:
    s = new_store(tmp_path)

    async def run() -> None:
        s.append_soon("host_finished", None, step="fan", host="web1", attempt=1, status="passed")
        s.append_soon("host_finished", None, step="fan", host="web2", attempt=1, status="passed")
        s.append("step_finished", step="fan", attempt=1, status="passed")  # the step's end: after its hosts

    before = len(syncs)
    asyncio.run(run())
    assert len(syncs) - before == 1
    records = read_records(s.folder)
    assert [r["type"] for r in records[-3:]] == ["host_finished", "host_finished", "step_finished"]
    assert check_chain(records) == []
    s.close()


def test_without_a_loop_a_record_is_written_at_once(tmp_path: Path) -> None:
    s = new_store(tmp_path)
    seen: list[str] = []
    assert s.append_soon("host_started", lambda r: seen.append(r["host"]), step="x", host="a", attempt=1) is None
    assert seen == ["a"] and read_records(s.folder)[-1]["host"] == "a"
    s.close()


def test_a_failed_group_write_is_never_announced_and_the_next_append_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = new_store(tmp_path)
    real = os.fdatasync
    full = {"on": True}

    def disk_full(fd: int) -> None:
        if full["on"]:
            raise OSError(28, "No space left on device")
        real(fd)

    monkeypatch.setattr(store_module.os, "fdatasync", disk_full)
    announced: list[str] = []

    async def run() -> BaseException | None:
        future = s.append_soon("host_started", lambda r: announced.append(r["host"]), step="x", host="a", attempt=1)
        assert future is not None
        try:
            await future
        except OSError as exc:
            return exc
        return None

    error = asyncio.run(run())
    assert isinstance(error, OSError) and announced == []
    assert s.state.fleet.get("x", "a") is None
    full["on"] = False
    with pytest.raises(OSError, match="No space"):  # kept for the next append (the step's end)
        s.append("step_finished", step="x", attempt=1, status="failed")
    rec = s.append("run_paused", reason="the disk was full")  # then the store goes on
    assert check_chain(read_records(s.folder)) == [] and rec["seq"] == s.state.last_seq
    s.close()


def test_an_append_while_a_group_is_in_flight_folds_both_in_order(tmp_path: Path) -> None:
    s = new_store(tmp_path)

    async def run() -> dict[str, Any]:
        s.append_soon("host_started", None, step="fan", host="web1", attempt=1)
        await asyncio.sleep(0)  # one turn of the loop: the group goes to the journal's thread
        s.append_soon("host_started", None, step="fan", host="web2", attempt=1)  # waits for it
        return s.append("step_reset", step="fan", reason="batch 2")  # folded when it returns

    rec = asyncio.run(run())
    assert s.state.last_seq == rec["seq"]
    assert [r["type"] for r in s.records[-3:]] == ["host_started", "host_started", "step_reset"]
    assert check_chain(read_records(s.folder)) == []
    s.close()
