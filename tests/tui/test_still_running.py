"""On resume in the TUI: an interrupted step whose process still runs (its driver was killed) is
never started again beside it; the dialog offers to wait for it or to stop it."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from textual.widgets import Button

from iact_tui.engine import events as ev
from iact_tui.engine.executors.processes import ProcessRef, local_alive, local_identity
from iact_tui.engine.record.store import RunStore
from iact_tui.tui.dialogs.interrupted import InterruptedDialog
from tests.tui.harness import Recorder, event, make_app, question, state_of
from tests.tui.runs import INTERRUPTED_CHECKLIST, new_run


async def test_a_still_running_step_is_stopped_not_started_twice(tmp_path: Path, recorder: Recorder) -> None:
    # what a killed driver leaves: its step's command, in a session of its own, still running
    orphan = subprocess.Popen(["sleep", "4501"], start_new_session=True)  # noqa: ASYNC220
    try:
        start, boot = local_identity(orphan.pid)
        store: RunStore = new_run(tmp_path, INTERRUPTED_CHECKLIST, "resume.toml")
        store.append("step_started", step="migrate", attempt=1, command="echo migrated")
        store.append("step_process", step="migrate", attempt=1, pid=orphan.pid, start=start, boot_id=boot)
        store.compact()
        store.lock.release()
        ref = ProcessRef(orphan.pid, start=start, boot_id=boot)
        app = make_app(tmp_path, run_ref=str(store.folder))
        async with app.run_test(size=(100, 32), message_hook=recorder) as pilot:
            await recorder.wait(question("interrupted", "migrate"))
            await pilot.pause()
            dialog = app.screen
            assert isinstance(dialog, InterruptedDialog)
            assert dialog.running == f"process group {orphan.pid} on this machine"
            assert not dialog.query("#rerun")  # no re-run beside the running one
            assert dialog.query_one("#wait", Button) and dialog.query_one("#stop", Button)
            asked = recorder.mark()
            dialog.query_one("#stop", Button).press()
            await recorder.wait(event(ev.StepChanged, step_id="migrate"), since=asked)
            # then the usual question: it may or may not have completed
            await recorder.wait(question("interrupted", "migrate"), since=asked)
            assert not local_alive(ref)
            await pilot.pause()
            assert isinstance(app.screen, InterruptedDialog) and not app.screen.running
            app.screen.query_one("#rerun", Button).press()
            await recorder.wait(question("pace", "migrate"))
            await pilot.pause()
            await pilot.press("n")  # run on: to the end
            await recorder.wait(event(ev.RunFinished))
            await app.workers.wait_for_complete()
        state = state_of(store.folder)
        assert state.steps["migrate"].status == "passed"
        assert state.status == "succeeded"
    finally:
        if orphan.poll() is None:
            os.killpg(orphan.pid, signal.SIGKILL)
        orphan.wait(timeout=10)
