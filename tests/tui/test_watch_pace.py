"""A watching screen keeps up with a run whose steps go by by the dozen without redrawing for each:
the step pane moves to the newest step at a readable pace (a step that waits for a person at
once), and a phase's count moving repaints its own line, not every step under it."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.geometry import Region

from iact_tui.tui.screens import following
from iact_tui.tui.screens.watch import WatchScreen
from iact_tui.tui.watching import WatchApp
from iact_tui.tui.widgets.step_detail import StepDetail
from iact_tui.tui.widgets.step_tree import StepTree
from tests import runfactory
from tests.tui.test_watch import WAIT, _label, _until


def _cursor(screen: WatchScreen) -> str:
    node = screen.query_one(StepTree).cursor_node
    return str(node.data) if node is not None else ""


def _step(n: int) -> str:
    return f"step-{n:04d}"


async def test_fast_steps_move_the_step_pane_at_a_readable_pace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(following, "FOLLOW_GAP", 60.0)  # the whole test is inside one gap
    b = runfactory.RunBuilder(tmp_path, runfactory.big_checklist(40, 40))
    app = WatchApp(tmp_path, b.folder)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, WatchScreen)
        detail = screen.query_one(StepDetail)
        b.run_step(_step(1), "ok\n", duration=0.01)
        b.start(_step(2))
        await _until(pilot, lambda: detail.step_id == _step(2))  # the first move: at once
        for n in range(2, 11):
            if n > 2:
                b.start(_step(n))
            b.append("step_finished", step=_step(n), status="passed", attempt=1, duration=0.01)
        b.start(_step(11))
        await _until(pilot, lambda: "✔" in _label(screen, _step(10)))
        # every record is drawn in the tree; the step pane stays until the gap ends
        assert "▶" in _label(screen, _step(11))
        assert screen.active_step == _step(11)
        assert detail.step_id == _step(2)
        assert _cursor(screen) == f"step:{_step(2)}"
        # a step that waits for a person is shown at once, gap or not
        b.append("step_finished", step=_step(11), status="passed", attempt=1, duration=0.01)
        b.wait(_step(12))
        await _until(pilot, lambda: detail.step_id == _step(12))
        assert _cursor(screen) == f"step:{_step(12)}"
    b.close()


async def test_after_a_burst_the_step_pane_ends_on_the_newest_step(tmp_path: Path) -> None:
    b = runfactory.RunBuilder(tmp_path, runfactory.big_checklist(40, 40))
    app = WatchApp(tmp_path, b.folder)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, WatchScreen)
        detail = screen.query_one(StepDetail)
        shown: list[str] = []
        show = detail.show

        def counting_show(step_id: str) -> None:
            shown.append(step_id)
            show(step_id)

        detail.show = counting_show  # type: ignore[method-assign]
        for n in range(1, 31):
            b.run_step(_step(n), "ok\n", duration=0.01)
        b.start(_step(31))
        await _until(pilot, lambda: detail.step_id == _step(31))
        assert _cursor(screen) == f"step:{_step(31)}"
        # a move per FOLLOW_GAP at most, however fast the records come
        assert len(dict.fromkeys(shown)) <= 2 + round(WAIT / following.FOLLOW_GAP)
    b.close()


async def test_a_phase_count_repaints_its_own_line_not_its_steps(tmp_path: Path) -> None:
    b = runfactory.RunBuilder(tmp_path, runfactory.big_checklist(40, 40))
    app = WatchApp(tmp_path, b.folder)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, WatchScreen)
        tree = screen.query_one(StepTree)
        b.start(_step(1))
        await _until(pilot, lambda: "▶" in _label(screen, _step(1)))
        await _until(pilot, lambda: _cursor(screen) == f"step:{_step(1)}")
        await pilot.pause()
        rows: list[int] = []
        refresh = tree.refresh

        def counting_refresh(*regions: Region, **kwargs: bool):  # type: ignore[no-untyped-def]
            rows.extend(y for r in regions for y in range(r.y, r.y + r.height))
            if not regions:
                rows.extend(range(tree.size.height))  # the whole tree
            return refresh(*regions, **kwargs)

        tree.refresh = counting_refresh  # type: ignore[method-assign]
        phase_before = str(tree._phases["phase-01"].label)
        b.append("step_finished", step=_step(1), status="passed", attempt=1, duration=0.01)
        await _until(pilot, lambda: "✔" in _label(screen, _step(1)))
        await _until(pilot, lambda: str(tree._phases["phase-01"].label) != phase_before)
        await pilot.pause()
        assert "1/40" in str(tree._phases["phase-01"].label)
        # the step's line and the phase's line: not the 40 lines of the phase's steps
        assert 1 <= len(set(rows)) <= 3, sorted(set(rows))
    b.close()


async def test_a_handful_of_records_after_a_quiet_spell_moves_the_pane_a_gap_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The start of a burst: the first look already brings records by the handful, and the steps
    after them come as fast; a new step pane (the costliest thing to draw) waits a whole gap."""
    monkeypatch.setattr(following, "FOLLOW_GAP", 60.0)
    b = runfactory.RunBuilder(tmp_path, runfactory.big_checklist(40, 40))
    app = WatchApp(tmp_path, b.folder)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, WatchScreen)
        detail = screen.query_one(StepDetail)
        await pilot.pause()
        before = detail.step_id
        screen._attend_soon(_step(7), busy=True)  # a quiet spell before: no gap to wait out
        await pilot.pause()
        assert screen.active_step == _step(7)
        assert detail.step_id == before  # held back a whole gap
        screen._attend_soon(_step(8))  # one record after the quiet spell would move it at once,
        await pilot.pause()  # but a move is already due: it shows the newest when it comes
        assert detail.step_id == before
        screen.action_follow()  # g: follow again, at once
        await pilot.pause()
        assert detail.step_id == _step(8)
    b.close()
