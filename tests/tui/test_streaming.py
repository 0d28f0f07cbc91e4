"""Streaming output in the TUI: the bridge keeps only what a screen update shows, a flood of
output is counted and drawn now and then (the newest lines), the whole tail when the step ends;
the output view measures lines like Log does; the runs screen fits the terminal's width."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from textual.app import App, ComposeResult
from textual.widgets import DataTable, Label

from iact_tui.engine import events as ev
from iact_tui.tui.bridge import RunBridge
from iact_tui.tui.screens.run import RunScreen
from iact_tui.tui.screens.runs import RunsScreen
from iact_tui.tui.widgets.output_view import OutputView
from iact_tui.tui.widgets.status_bar import RunStatusBar
from tests.tui.harness import Recorder, event, make_app, question, until, write_checklist
from tests.tui.runs import recorded_run
from tests.tui.test_sessions import HEADER, finished, start_from_form

LINES = 100_000


def line(i: int) -> str:
    return f"{i:06d} INFO copying static/file-{i}.css [ok]"


def test_the_bridge_keeps_the_newest_lines_and_counts_all_of_them() -> None:
    bridge = RunBridge()  # no screen: the output is only buffered
    bridge.emit(ev.StepStarted("build", 1, "make all"))
    for start in range(0, LINES, 250):  # chunks of 250 lines, as a command's reads come
        bridge.emit(
            ev.StepOutput("build", "".join(line(i) + "\n" for i in range(start, start + 250)))
        )
    assert bridge.lines_printed("build") == LINES  # the attempt's marker is not the command's
    assert bridge.buffered_lines == LINES + 1
    # what waits for the screen is bounded: a batch and a chunk, not the 100,000 lines
    kept = sum(count for _text, count in bridge._pending["build"].chunks)
    assert bridge.batch_lines <= kept <= bridge.batch_lines + 250
    lines = bridge.take_output(200)["build"]
    assert lines[0] == f"… {LINES + 1 - 200:,} lines not shown here (all are in logs/build.log) …"
    assert lines[1:] == [line(i) for i in range(LINES - 200, LINES)]
    assert bridge.buffered_lines == 0 and not bridge.has_output
    assert bridge.lines_of("build") == lines  # kept to show the step again


async def test_the_output_view_measures_lines_like_log() -> None:
    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield OutputView(id="output")

    app = One()
    async with app.run_test(size=(40, 12)) as pilot:
        output = app.query_one(OutputView)
        output.show("s", ["abc", "日本語のテキスト", "tab\there", "bell\x07"])
        await pilot.pause()
        assert output.line_count == 4
        # 16 cells for the 8 wide characters; the tab expands to 8 columns
        assert output.virtual_size.width == 16
        assert output.virtual_size.height == 4
        output.add([f"line {i}" for i in range(30)])
        await pilot.pause()
        assert output.virtual_size.height == 34
        assert output.is_vertical_scroll_end  # it follows the newest line
        assert output.max_scroll_y > 0
        output.show("t", [])
        await pilot.pause()
        assert output.virtual_size.height == 0 and output.border_title == "output of t"


async def test_a_flood_of_output_is_counted_then_its_newest_lines_shown(
    tmp_path: Path, recorder: Recorder
) -> None:
    gate = tmp_path / "gate"
    os.mkfifo(gate)  # the step waits on it after its flood: the test looks in between
    (tmp_path / "flood.py").write_text(
        "import sys\n"
        f"for i in range({LINES}):\n"
        "    sys.stdout.write(f'{i:06d} INFO copying static/file-{i}.css [ok]\\n')\n"
    )
    checklist = write_checklist(
        tmp_path,
        HEADER
        + f"""
[[phases]]
id = "deploy"
title = "Deploy"

[[phases.steps]]
id = "flood"
kind = "local"
run = "{sys.executable} {tmp_path / "flood.py"}; cat {gate}"
""",
    )
    app = make_app(tmp_path, checklist)
    async with app.run_test(size=(120, 40), message_hook=recorder) as pilot:
        await start_from_form(pilot, recorder)
        await recorder.wait(question("pace", "flood"))
        await pilot.press("r")
        screen = app.screen
        assert isinstance(screen, RunScreen)
        status = screen.query_one(RunStatusBar)
        output = screen.query_one(OutputView)
        # during the flood: the status bar counts the lines
        await until(screen, lambda: status.note.endswith("lines so far"))
        # then the newest lines are drawn, while the step still runs (it waits on the gate)
        await until(screen, lambda: bool(output.lines) and output.lines[-1] == line(LINES - 1))
        assert screen.view.running_step == "flood"
        shown = list(output.lines)
        assert len(shown) <= output.max_lines
        markers = [s for s in shown if s.startswith("… ") and "not shown here" in s]
        assert markers and all("logs/flood.log" in m for m in markers)
        assert output.border_title == f"output of flood · {LINES:,} lines so far…"
        with open(gate, "w") as opened:  # noqa: ASYNC230 - a fifo: this open lets the step end
            opened.write("")
        await recorder.wait(event(ev.StepFinished, step_id="flood"))
        await finished(pilot, recorder)
        assert status.note == ""
        assert output.border_title == f"output of flood · {LINES:,} lines"
        assert output.lines[-1] == line(LINES - 1)
    assert app.run_view is not None
    log = (app.run_view.folder / "logs" / "flood.log").read_text().splitlines()
    assert log[1] == line(0) and log[LINES] == line(LINES - 1)  # all of it, after its header


async def test_the_runs_screen_fits_80_columns_and_shows_every_column_at_200(
    tmp_path: Path,
) -> None:
    for hour in range(6, 10):
        recorded_run(tmp_path, f"20260301T0{hour}0000Z-a-long-checklist-id-ab12", "succeeded")
    for size, id_column in (((80, 24), False), ((200, 60), True)):
        app = make_app(tmp_path)
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            await pilot.press("l")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, RunsScreen)
            table = screen.query_one(DataTable)
            labels = [str(column.label) for column in table.columns.values()]
            assert labels[-4:] == ["checklist", "operator", "took", "started"]
            assert ("run" in labels) is id_column
            # nothing to scroll sideways: every column is on screen
            assert table.virtual_size.width <= table.scrollable_content_region.width
            selected = screen.query_one("#runs-selected", Label)
            assert selected.display is not id_column
            if not id_column:  # the highlighted run's id, above the table
                assert "20260301T090000Z-a-long-checklist-id-ab12" in str(selected.render())
                await pilot.press("down")
                await pilot.pause()
                assert "20260301T080000Z-a-long-checklist-id-ab12" in str(selected.render())
