"""A watching screen keeps up with a run whose steps go by by the dozen without redrawing for each:
the step pane moves to the newest step at a readable pace (a step that waits for a person at
once), and a phase's count moving repaints its own line, not every step under it."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widgets import Label

from iact_tui.engine.record.follow import Update
from iact_tui.engine.record.state import RunState
from iact_tui.tui.screens import following, watch
from iact_tui.tui.screens.watch import WatchScreen
from iact_tui.tui.watching import WatchApp
from iact_tui.tui.widgets.status_bar import RunStatusBar
from iact_tui.tui.widgets.step_detail import StepDetail
from iact_tui.tui.widgets.step_tree import StepTree
from tests import runfactory
from tests.tui.test_watch import WAIT, _label, _until


def _cursor(screen: WatchScreen) -> str:
    node = screen.query_one(StepTree).cursor_node
    return str(node.data) if node is not None else ""


def _step(n: int) -> str:
    return f"step-{n:04d}"


@contextlib.asynccontextmanager
async def _watching(
    tmp_path: Path,
) -> AsyncIterator[tuple[runfactory.RunBuilder, WatchScreen, Pilot[int]]]:
    """A run of 40 steps being written (by the returned builder) and a watch screen on it."""
    b = runfactory.RunBuilder(tmp_path, runfactory.big_checklist(40, 40))
    app = WatchApp(tmp_path, b.folder)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, WatchScreen)
        yield b, screen, pilot
    b.close()


async def test_fast_steps_move_the_step_pane_at_a_readable_pace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(following, "FOLLOW_GAP", 60.0)  # the whole test is inside one gap
    async with _watching(tmp_path) as (b, screen, pilot):
        detail = screen.query_one(StepDetail)
        b.start(_step(2))  # one record after a quiet spell (however the looks fall)
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


async def test_after_a_burst_the_step_pane_ends_on_the_newest_step(tmp_path: Path) -> None:
    async with _watching(tmp_path) as (b, screen, pilot):
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


async def test_a_phase_count_repaints_its_own_line_not_its_steps(tmp_path: Path) -> None:
    async with _watching(tmp_path) as (b, screen, pilot):
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


async def test_a_handful_of_records_after_a_quiet_spell_moves_the_pane_a_gap_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The start of a burst: the first look already brings records by the handful, and the steps
    after them come as fast; a new step pane (the costliest thing to draw) waits a whole gap."""
    monkeypatch.setattr(following, "FOLLOW_GAP", 60.0)
    async with _watching(tmp_path) as (_b, screen, pilot):
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


def _steps_done(b: runfactory.RunBuilder, first: int, last: int) -> None:
    for n in range(first, last + 1):
        b.run_step(_step(n), "ok\n", duration=0.01)


async def test_the_first_look_at_a_burst_is_drawn_with_the_next_one(tmp_path: Path) -> None:
    """Records by the handful after a quiet spell: the look that brings them is taken in but not
    drawn (the records after them come as fast); the next look, when the oldest is HOLD_AGE old,
    draws both. A record or two after a quiet spell is drawn at once."""
    async with _watching(tmp_path) as (b, screen, pilot):
        screen._stop.set()  # the looks are this test's own
        await pilot.pause()
        b.start(_step(40))  # one record after a quiet spell: drawn at once
        screen._apply(screen.follower.look(), None)
        await pilot.pause()
        assert "▶" in _label(screen, _step(40))
        b.append("step_finished", step=_step(40), status="passed", attempt=1, duration=0.01)
        _steps_done(b, 1, 3)  # seven records
        update = screen.follower.look()
        assert len(update.records) >= watch.BUSY_RECORDS
        screen._apply(update, None)
        await pilot.pause()
        assert screen.view.state.steps[_step(1)].status == "passed"  # taken in ...
        assert "✔" not in _label(screen, _step(1))  # ... not drawn
        assert watch.POLL <= screen._look_gap <= watch.HOLD_AGE  # the next look: when it is due
        _steps_done(b, 4, 5)
        screen._apply(screen.follower.look(), None)  # the next look draws both (a render gap on)
        assert not screen._holding
        await _until(pilot, lambda: "✔" in _label(screen, _step(1)))
        assert "✔" in _label(screen, _step(5))
        assert screen._look_gap == watch.BUSY_GAP  # records still come by the handful ...
        _steps_done(b, 6, 7)
        screen._apply(screen.follower.look(), None)  # ... the next handful is not held again:
        assert not screen._holding  # drawn at the drawing's pace
        await _until(pilot, lambda: "✔" in _label(screen, _step(7)))
        b.start(_step(8))  # the records slow down: looks every poll again
        screen._apply(screen.follower.look(), None)
        assert screen._look_gap == watch.POLL
        await _until(pilot, lambda: "▶" in _label(screen, _step(8)))


async def test_a_held_look_is_drawn_even_when_the_run_then_writes_nothing(tmp_path: Path) -> None:
    """A burst that ends within one look: the next look brings nothing, and still draws it."""
    async with _watching(tmp_path) as (b, screen, pilot):
        await pilot.pause()
        held: list[bool] = []
        apply = screen._apply

        def recording_apply(update: Update, fresh: RunState | None) -> None:
            apply(update, fresh)
            held.append(screen._holding)

        screen._apply = recording_apply  # type: ignore[method-assign]
        writing = threading.Lock()
        look = screen.follower.look

        def look_between_writes() -> Update:
            with writing:
                return look()

        screen.follower.look = look_between_writes  # type: ignore[method-assign]
        with writing:  # ten records, all seen by one look; after it, the run writes nothing
            _steps_done(b, 1, 5)
        await _until(pilot, lambda: "✔" in _label(screen, _step(5)))
        assert "✔" in _label(screen, _step(1))
        assert held[0] is True  # the first look was held (drawn by a later one)


async def test_the_step_count_grows_without_a_new_layout_until_it_outgrows_its_label(
    tmp_path: Path,
) -> None:
    """'9/40' to '10/40' fits the count's label: only the label is drawn again (a new layout is a
    frame of the whole screen). A count longer than the label makes it grow: never cut."""
    async with _watching(tmp_path) as (b, screen, pilot):
        bar = screen.query_one(RunStatusBar)
        count = bar.query_one("#run-count", Label)
        await pilot.pause()
        layouts: list[bool] = []
        refresh = count.refresh

        def counting_refresh(*regions: Region, **kwargs: bool):  # type: ignore[no-untyped-def]
            layouts.append(bool(kwargs.get("layout")))
            return refresh(*regions, **kwargs)

        count.refresh = counting_refresh  # type: ignore[method-assign]
        _steps_done(b, 1, 10)
        await _until(pilot, lambda: str(count.render()).strip() == "10/40")
        assert layouts and not any(layouts)
        layouts.clear()
        bar._shown["#run-count"] = ""
        bar.view.state.progress = lambda: (1000, 1000)  # type: ignore[method-assign]  # 9 cells
        bar.update_state()
        await pilot.pause()
        assert layouts and all(layouts)
        assert count.content_region.width >= len("1000/1000")
        assert str(count.render()).strip() == "1000/1000"


async def test_a_drawing_due_while_a_look_is_held_waits_for_the_next_look(tmp_path: Path) -> None:
    """A drawing timer that comes due while a burst's first look is held draws nothing: the look
    that ends the hold draws it all."""
    async with _watching(tmp_path) as (b, screen, pilot):
        screen._stop.set()  # the looks are this test's own
        await pilot.pause()
        b.start(_step(40))
        screen._apply(screen.follower.look(), None)  # drawn: the render gap starts
        b.append("step_finished", step=_step(40), status="passed", attempt=1, duration=0.01)
        _steps_done(b, 1, 3)
        screen._apply(screen.follower.look(), None)  # held
        assert screen._holding
        screen._flush()  # what a timer due now would do
        await pilot.pause()
        assert "✔" not in _label(screen, _step(1))  # still held
        screen._apply(screen.follower.look(), None)  # the look after: drawn
        await _until(pilot, lambda: "✔" in _label(screen, _step(1)))
