"""The operator's TUI with the team (issue 12 item 2): a tick from another terminal is applied at
once, also while the run waits for four eyes, and the status bar names who is awaited and the
exact tick command."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.widgets import Label

from iact_tui.engine import events as ev
from iact_tui.tui.widgets.status_bar import RunStatusBar
from tests.helpers import cli
from tests.tui.harness import (
    Recorder,
    event,
    make_app,
    question,
    run_folder,
    state_of,
    until,
    write_checklist,
)
from tests.tui.test_sessions import HEADER, finished, start_from_form

FOUR_EYES = HEADER + """
[[phases]]
id = "pre"
title = "Pre-deployment"

[[phases.steps]]
id = "tech-lead-approval"
kind = "manual"
title = "Tech Lead approval"
role = "tech-lead"
four_eyes = true
"""


async def test_a_tick_from_another_terminal_moves_the_operators_screen_at_once(
    tmp_path: Path, recorder: Recorder
) -> None:
    checklist = write_checklist(tmp_path, FOUR_EYES)
    app = make_app(tmp_path, checklist)
    async with app.run_test(size=(160, 40), message_hook=recorder) as pilot:
        await start_from_form(pilot, recorder)
        await recorder.wait(question("pace"))
        await pilot.press("n")
        await recorder.wait(question("manual", "tech-lead-approval"))
        await pilot.pause()
        run_id = app.run_view.run_id if app.run_view else ""
        status = app.screen.query_one(RunStatusBar)
        shown = str(app.screen.query_one("#run-state", Label).render())
        assert "waits for tech-lead" in status.activity, status.activity
        # (the command is whole on the panel, below; the status bar cut it: test_tui_fixes.py)
        assert "waits for tech-lead" in shown
        prompt = str(app.screen.query_one("#manual-prompt", Label).render())
        assert f"Or from any terminal: iact-tui tick {run_id} tech-lead-approval" in prompt
        await pilot.press("p")  # the operator's own approval: refused on the panel, still asked
        refusal = app.screen.query_one("#manual-refusal", Label)
        await until(app.screen, lambda: bool(refusal.display))
        # the Tech Lead answers from their own terminal, through the run's inbox
        done = await asyncio.to_thread(
            cli, "tick", run_id, "tech-lead-approval", "--as", "bea", "--note", "go",
            "--runs-dir", str(tmp_path / "runs"),
        )
        assert done.returncode == 0, done.stderr
        assert "passed by bea" in done.stdout
        await recorder.wait(event(ev.StepChanged, step_id="tech-lead-approval"))
        finished_run = await finished(pilot, recorder)  # no quit, no resume
        assert finished_run.status == "succeeded"
    state = state_of(run_folder(app))
    assert state.steps["tech-lead-approval"].ticked_by == "bea"
    assert not any(s == "paused" for s in [state.status])
