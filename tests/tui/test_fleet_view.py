"""A step on a host group in the TUI: counts on its row in the tree, a host table in the detail
pane, both from the durable ``host_*`` records, brought up to date by ``HostStepChanged``."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Static

from iact_tui.engine import events as ev
from iact_tui.engine.record import store
from iact_tui.engine.record.store import RunStore, opened
from iact_tui.tui.bridge import RunBridge
from iact_tui.tui.screens.run import RunScreen
from iact_tui.tui.widgets.step_detail import StepDetail
from iact_tui.tui.widgets.step_tree import StepTree
from tests.tui.harness import make_app, until
from tests.tui.runs import new_run

SIZE = (100, 30)

FLEET_CHECKLIST = """
schema_version = 1

[checklist]
id = "FLEET-VIEW"
title = "Rolling restart"
version = "1.0.0"

[hosts.web1]
address = "10.0.1.11"
[hosts.web2]
address = "10.0.1.12"
[hosts.web3]
address = "10.0.1.13"
[hosts.web]
members = ["web1", "web2", "web3"]

[[phases]]
id = "restart"
title = "PASO 3.2 + PASO 4, host by host"
serial = 1

[[phases.steps]]
id = "restart-app"
title = "3.2 Restart the app"
kind = "ssh"
host = "web"
run = "sudo systemctl restart app"

[[phases.steps]]
id = "health"
title = "4 Health check"
kind = "ssh"
host = "web"
run = "curl -fsS localhost:8000/health"
expect_output = "^healthy$"
changes_target = false
"""


def host_run(store_: RunStore, step: str, host: str, batch: int, *, ok: bool, message: str = "") -> None:
    store_.append("host_started", step=step, host=host, attempt=1, batch=batch)
    store_.append("host_finished", step=step, host=host, attempt=1,
                  status="passed" if ok else "failed", exit_status=0, duration=0.25 + batch,
                  message=message or None)


def fleet_run(tmp_path: Path) -> Path:
    """web1 and web2 restarted and checked; web2's health check failed; web3 never started."""
    s = new_run(tmp_path, FLEET_CHECKLIST, "fleet.toml", "20260302T090000Z-fleet-view")
    s.append("step_started", step="restart-app", attempt=1, command="sudo systemctl restart app")
    host_run(s, "restart-app", "web1", 0, ok=True)
    s.append("step_started", step="health", attempt=1, command="curl -fsS localhost:8000/health")
    host_run(s, "health", "web1", 0, ok=True)
    host_run(s, "restart-app", "web2", 1, ok=True)
    host_run(s, "health", "web2", 1, ok=False, message="no line of the output matches '^healthy$'")
    s.append("step_finished", step="health", attempt=1, status="failed", duration=2.5,
             message="on web2: no line of the output matches '^healthy$'")
    s.append("run_paused", reason="the operator quit")
    s.compact()
    s.lock.release()
    return s.folder


@pytest.fixture
def frozen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    ticks = itertools.count()
    base = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    monkeypatch.setattr(
        store, "now", lambda: (base + timedelta(seconds=next(ticks))).isoformat(timespec="milliseconds")
    )
    (tmp_path / "checklists").mkdir()
    yield Path(".")
    monkeypatch.delenv("TZ")
    time.tzset()


async def open_record(pilot: Any, folder: Path, step: str) -> RunScreen:
    app: Any = pilot.app
    app.show_run_record(folder)
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, RunScreen)
    screen.query_one(StepTree).select_step(step)
    await until(screen, lambda: screen.query_one(StepDetail).step_id == step)
    await pilot.pause()
    return screen


def labels(screen: RunScreen) -> dict[str, str]:
    tree = screen.query_one(StepTree)
    return {sid: str(tree._steps[sid].label) for sid in tree.step_ids}


def facts(screen: RunScreen) -> str:
    return str(screen.query_one("#step-facts", Static).render())


async def test_counts_on_the_rows_and_a_host_table_in_the_detail(frozen: Path) -> None:
    folder = fleet_run(frozen)
    app = make_app(frozen)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_record(pilot, folder, "health")
        rows = labels(screen)
        assert rows["restart-app"].endswith("web 2/3")
        assert rows["health"].endswith("web 1/3 ✘ 1")
        table = facts(screen).splitlines()
        start = table.index("hosts")
        assert table[start + 1].split() == ["host", "status", "batch", "tries", "time", "exit", "result"]
        web1, web2, web3 = (line.split() for line in table[start + 2:start + 5])
        assert web1[:5] == ["web1", "✔", "passed", "1", "1"]
        assert web2[:3] == ["web2", "✘", "failed"] and "'^healthy$'" in web2
        assert web3 == ["web3", "○", "pending"]


async def test_a_host_step_changed_event_updates_the_row_and_the_table(frozen: Path) -> None:
    """The screen's copy catches up with the records when the event arrives (durable first)."""
    folder = fleet_run(frozen)
    app = make_app(frozen)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_record(pilot, folder, "restart-app")
        with opened(folder) as s:  # as the runner would: the record first, then the event
            s.append("host_started", step="restart-app", host="web3", attempt=1, batch=2)
        screen.post_message(RunBridge.EngineEvent(ev.HostStepChanged("restart-app", "web3", "running", 2)))
        await until(screen, lambda: "▶ 1" in labels(screen)["restart-app"])
        assert labels(screen)["restart-app"].endswith("web 2/3 ▶ 1")
        web3 = next(line for line in facts(screen).splitlines() if line.startswith("web3"))
        assert web3.split()[:5] == ["web3", "▶", "running", "3", "1"]


def test_a_group_step_at_100x30(frozen: Path, snap_compare: Any) -> None:
    folder = fleet_run(frozen)

    async def run_before(pilot: Any) -> None:
        await open_record(pilot, folder, "health")
        await pilot.pause()
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(make_app(frozen), terminal_size=SIZE, run_before=run_before)
