"""Snapshots of the key screens (pytest-textual-snapshot; SVGs under __snapshots__/).

Made deterministic: every run id and timestamp comes from a fixed clock, the elapsed clock is
frozen, the tests run in their tmp folder so that only relative paths reach the screen, no step
talks to a port, the cursor does not blink and toasts are cleared before the picture.
Update after a deliberate change with ``--snapshot-update`` and look at the SVGs.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from iact_tui.engine.record import asks, store
from iact_tui.engine.run import plan
from iact_tui.tui.screens.run import RunScreen
from iact_tui.tui.widgets.output_view import OutputView
from tests.tui.harness import make_app, until, write_checklist
from tests.tui.runs import interrupted_run, recorded_run

SMALL = (80, 24)
LARGE = (200, 60)

CHECKLIST = """
schema_version = 1

[checklist]
id = "SNAP-001"
title = "Deploy a Staging (snapshot)"
version = "1.0.0"
roles = ["devops", "tech-lead", "developer"]

[vars.branch]
default = "develop"
prompt = "Branch to deploy"

[vars.smoke_password]
secret = true
prompt = "Smoke test password"
default = ""

[[phases]]
id = "pre"
title = "Pre-deployment checks"

[[phases.steps]]
id = "changelog-review"
title = "1.3 Revisar cambios"
kind = "local"
run = "for i in 1 2 3 4 5 6; do echo \\"commit $i: change [x] number $i\\"; done"
reference = "PASO 1.3"

[[phases.steps]]
id = "tech-lead-approval"
title = "Tech Lead approval"
kind = "manual"
role = "tech-lead"
four_eyes = true
instructions = "The Tech Lead approves deployments of **major changes**. Check the changelog first."
checks = ["the changelog was reviewed", "no breaking migrations"]
reference = "PASO 1.3"

[[phases]]
id = "deploy"
title = "Deploy"

[[phases.steps]]
id = "build"
title = "3.2 Build and copy"
kind = "local"
run = "for i in $(seq 1 40); do echo \\"copying static/file-$i.css [ok]\\"; done; cat gate"

[[phases.steps]]
id = "migrate"
title = "3.2 Migrate the database"
kind = "local"
run = "echo 'Applying inventory.0042_auto... ERROR: relation \\"items\\" already exists'; exit 1"
on_failure = "rollback"

[[phases]]
id = "rollback"
title = "Rollback"
rollback = true

[[phases.steps]]
id = "restore"
title = "6.1 Restore the code"
kind = "local"
run = "echo restored"

[[troubleshooting]]
id = "migration-exists"
title = "Problema 2: migration conflicts"
pattern = "already exists"
advice = "Fake the migration that created it: `python manage.py migrate inventory 0042 --fake`, then retry."
"""


@pytest.fixture
def frozen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Fixed ids and timestamps; the test runs in its tmp folder (relative paths on screen)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    ticks = itertools.count()
    base = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    monkeypatch.setattr(
        store,
        "now",
        lambda: (base + timedelta(seconds=next(ticks))).isoformat(timespec="milliseconds"),
    )
    ids = itertools.count(1)
    monkeypatch.setattr(
        plan, "new_run_id", lambda checklist_id: f"20260302T0900{next(ids):02d}Z-snap"
    )
    # a tick command names the run's runs folder (its absolute path): the same on every machine
    monkeypatch.setattr(asks, "runs_dir_arg", lambda folder: " --runs-dir runs" if folder else "")
    (tmp_path / "checklists").mkdir()
    write_checklist(tmp_path / "checklists", CHECKLIST, "staging.toml")
    os.mkfifo(tmp_path / "gate")  # `cat gate` blocks the build step until the app ends
    yield Path(".")
    monkeypatch.delenv("TZ")
    time.tzset()


def steady(pilot: Pilot[Any]) -> None:
    """What moves between two pictures: blinking cursors and toasts."""
    for widget in pilot.app.query(Input):
        widget.cursor_blink = False
    for screen in pilot.app.screen_stack:
        for widget in screen.query(Input):
            widget.cursor_blink = False
    pilot.app.clear_notifications()


async def start_run(pilot: Pilot[Any]) -> RunScreen:
    app: Any = pilot.app
    await pilot.click("#setup-start-button")
    await pilot.pause()
    assert isinstance(app.run_screen, RunScreen)
    return app.run_screen  # type: ignore[no-any-return]


def asked(screen: RunScreen, kind: str, step: str) -> bool:
    q = screen.question
    return q is not None and q.kind == kind and q.step_id == step


async def settle(pilot: Pilot[Any]) -> None:
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    steady(pilot)
    await pilot.pause()


def test_start_screen(frozen: Path, snap_compare: Any) -> None:
    interrupted_run(frozen, run_id="20260301T080000Z-resume-test")
    recorded_run(frozen, "20260301T070000Z-resume-test", "paused", operator="bea")
    recorded_run(frozen, "20260301T060000Z-resume-test", "succeeded")  # finished: not listed
    write_checklist(frozen / "checklists", "this is = not [valid", "broken.toml")

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)

    assert snap_compare(make_app(frozen), terminal_size=SMALL, run_before=run_before)


def test_setup_form(frozen: Path, snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)

    app = make_app(frozen, Path("checklists/staging.toml"))
    assert snap_compare(app, terminal_size=SMALL, run_before=run_before)


def test_main_screen_mid_run_with_output(frozen: Path, snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        screen = await start_run(pilot)
        await until(screen, lambda: asked(screen, "pace", "changelog-review"))
        await pilot.press("n")
        await until(screen, lambda: asked(screen, "manual", "tech-lead-approval"))
        screen.query_one("#manual-approver", Input).value = "bea"
        await pilot.press("p")
        await until(screen, lambda: asked(screen, "pace", "build"))
        await pilot.press("r")  # the build prints 40 lines, then waits on the gate: it is running
        output = screen.query_one(OutputView)
        await until(screen, lambda: output.line_count >= 41)
        await settle(pilot)

    assert snap_compare(
        make_app(frozen, Path("checklists/staging.toml")),
        terminal_size=LARGE,
        run_before=run_before,
    )


def test_main_screen_small_terminal(frozen: Path, snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        screen = await start_run(pilot)
        await until(screen, lambda: asked(screen, "pace", "changelog-review"))
        await pilot.press("r")
        await until(screen, lambda: asked(screen, "pace", "tech-lead-approval"))
        await pilot.press("up")  # look back at the step that ran: its output
        await settle(pilot)

    assert snap_compare(
        make_app(frozen, Path("checklists/staging.toml")),
        terminal_size=SMALL,
        run_before=run_before,
    )


def test_manual_step(frozen: Path, snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        screen = await start_run(pilot)
        await until(screen, lambda: asked(screen, "pace", "changelog-review"))
        await pilot.press("n")
        await until(screen, lambda: asked(screen, "manual", "tech-lead-approval"))
        await pilot.press("p")  # the operator cannot approve: four eyes
        await until(
            screen,
            lambda: (
                asked(screen, "manual", "tech-lead-approval")
                and bool(screen.query_one("#manual-refusal").display)
            ),
        )
        await settle(pilot)

    assert snap_compare(
        make_app(frozen, Path("checklists/staging.toml")),
        terminal_size=SMALL,
        run_before=run_before,
    )


def test_failure_dialog(frozen: Path, snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        screen = await start_run(pilot)
        await until(screen, lambda: asked(screen, "pace", "changelog-review"))
        await pilot.press("n")
        await until(screen, lambda: asked(screen, "manual", "tech-lead-approval"))
        screen.query_one("#manual-approver", Input).value = "bea"
        await pilot.press("p")
        await until(screen, lambda: asked(screen, "pace", "build"))
        await pilot.press("n")
        await until(screen, lambda: screen.query_one(OutputView).line_count >= 41)
        with open("gate", "w") as gate:  # noqa: ASYNC230 - a fifo: this open lets the build finish
            gate.write("")
        await until(screen, lambda: asked(screen, "failure", "migrate"))
        await settle(pilot)

    assert snap_compare(
        make_app(frozen, Path("checklists/staging.toml")),
        terminal_size=SMALL,
        run_before=run_before,
    )


def test_resume_question(frozen: Path, snap_compare: Any) -> None:
    folder = interrupted_run(frozen, run_id="20260301T080000Z-resume-test")

    async def run_before(pilot: Pilot[Any]) -> None:
        app: Any = pilot.app
        await until(app.run_screen, lambda: asked(app.run_screen, "interrupted", "migrate"))
        await settle(pilot)

    assert snap_compare(
        make_app(frozen, run_ref=str(folder)), terminal_size=SMALL, run_before=run_before
    )


def test_runs_screen(frozen: Path, snap_compare: Any) -> None:
    recorded_run(frozen, "20260301T060000Z-resume-test", "succeeded")
    recorded_run(frozen, "20260301T070000Z-resume-test", "rolled_back", operator="bea")
    recorded_run(frozen, "20260301T080000Z-resume-test", "paused")
    interrupted_run(frozen, run_id="20260301T090000Z-resume-test")

    async def run_before(pilot: Pilot[Any]) -> None:
        await pilot.press("l")
        await settle(pilot)

    assert snap_compare(make_app(frozen), terminal_size=SMALL, run_before=run_before)


def test_help_screen_in_a_light_theme(frozen: Path, snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        pilot.app.theme = "textual-light"
        screen = await start_run(pilot)
        await until(screen, lambda: asked(screen, "pace", "changelog-review"))
        await pilot.press("question_mark")
        await settle(pilot)

    assert snap_compare(
        make_app(frozen, Path("checklists/staging.toml")),
        terminal_size=SMALL,
        run_before=run_before,
    )
