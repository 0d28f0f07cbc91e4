"""The operator's screen keeps its copy of the run by reading only the records written since the
last event: a run of many steps does not make it parse report.toml again at every event (on a run
of 1,000 steps that was a tenth of a second per event), and the copy ends equal to the run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from iact_tui.engine import events as ev
from iact_tui.engine.record import follow, store
from iact_tui.engine.record.state import reduce
from iact_tui.engine.record.store import read_records
from tests.tui.harness import Recorder, make_app, question, write_checklist
from tests.tui.test_sessions import HEADER, finished, start_from_form

STEPS = 30


async def test_each_event_reads_only_the_new_records(
    tmp_path: Path, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps = "".join(
        f'\n[[phases.steps]]\nid = "s{n:02d}"\ntitle = "Step {n}"\nkind = "local"\nrun = "true"\n'
        for n in range(1, STEPS + 1)
    )
    checklist = write_checklist(
        tmp_path, HEADER + '\n[[phases]]\nid = "deploy"\ntitle = "Deploy"\n' + steps
    )
    parsed: list[Path] = []
    real = store._report_events

    def counting(report: Path) -> list[dict[str, Any]]:
        parsed.append(report)
        return real(report)

    monkeypatch.setattr(store, "_report_events", counting)
    monkeypatch.setattr(follow, "_report_events", counting)
    app = make_app(tmp_path, checklist)
    async with app.run_test(size=(120, 40), message_hook=recorder) as pilot:
        await start_from_form(pilot, recorder)
        await recorder.wait(question("pace", "s01"))
        parsed.clear()  # from here on: the run itself
        await pilot.press("n")  # run on: every step, none needs a person
        done = await finished(pilot, recorder)
        assert done.status == "succeeded"
        events = [
            m for m in recorder.messages if isinstance(getattr(m, "event", None), ev.StepFinished)
        ]
        assert len(events) == STEPS
        during = len(parsed)
        view = app.run_view
        assert view is not None
        # the screen's copy is the run as recorded
        truth = reduce(read_records(view.folder))
        assert view.state.last_seq == truth.last_seq
        assert view.state.status == truth.status
        assert {k: s.status for k, s in view.state.steps.items()} == {
            k: s.status for k, s in truth.steps.items()
        }
    # 60 step events and more; report.toml read again only after the run's own rewrites of it
    assert during <= 5, f"report.toml parsed {during} times for {STEPS} steps"
