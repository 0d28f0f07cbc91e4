"""The demo in the TUI, driven under Pilot like a person: the sandbox runs in its own thread, as
`iact-tui demo` runs it, and the app shows staging.toml's run against it."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from textual.widgets import Static

from iact_tui.cli.demo import demo_launch
from iact_tui.demo import BackgroundSandbox
from iact_tui.demo.checklist import demo_checklist_path
from iact_tui.engine import events as ev
from iact_tui.engine.checklist.load import load_checklist
from iact_tui.tui.app import IactApp
from iact_tui.tui.screens.setup import SetupScreen
from tests.tui.harness import Recorder, event, question, state_of

pytestmark = pytest.mark.timeout(90)


async def test_demo_in_the_tui_reaches_the_first_manual_step_and_ticks_it(tmp_path: Path) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    checklist = demo_checklist_path()
    declared = set(load_checklist(checklist).checklist.vars)
    background = BackgroundSandbox(temp_root=temp)
    sandbox = await asyncio.to_thread(background.__enter__)
    try:
        launch = demo_launch(
            sandbox,
            checklist=str(checklist),
            declared=declared,
            runs_dir=tmp_path / "runs",
            operator="ana",
            headless=False,
            auto_tick=False,
            faults=[],
        )
        recorder = Recorder()
        app = IactApp(launch, clock=lambda: 0.0)
        async with app.run_test(size=(120, 40), message_hook=recorder) as pilot:
            await pilot.pause()
            assert isinstance(
                app.screen, SetupScreen
            )  # nothing to ask: the sandbox gave every value
            await pilot.click("#setup-start-button")
            await recorder.wait(event(ev.RunOpened))
            await recorder.wait(question("manual", "ci-green"))
            await pilot.pause()
            banner = str(app.screen.query_one("#banner", Static).render())
            assert banner.startswith("Sandbox:") and "127.0.0.1" in banner
            ticked = recorder.mark()
            await pilot.click("#manual-pass")
            await recorder.wait(
                event(ev.StepChanged, step_id="ci-green", status="passed"), since=ticked
            )
            await recorder.wait(
                question("manual", "changelog-questions"), since=ticked
            )  # it went on
            assert app.run_view is not None
            folder = app.run_view.folder
            await pilot.press("ctrl+q")  # quits cleanly: the run waits for a person
            await app.workers.wait_for_complete()
    finally:
        await asyncio.to_thread(background.__exit__)
    state = state_of(folder)
    assert state.steps["ci-green"].status == "passed"
    assert state.steps["ci-green"].ticked_by == "ana"
    for step in ("staging-health", "changelog-review", "commit-summary"):
        assert state.steps[step].status == "passed"
    assert os.listdir(temp) == []
