"""The metrics screen: the engine's DORA numbers for a recorded history (tests/test_metrics.py
builds it and works the numbers out by hand), their marks, the runs left out, the bars per
week; opened with `m` from the start and runs screens and from the command palette, closed
with Esc; one snapshot at 100x30.

What is asserted is read off the screen as a person sees it (the app's own rendering, as text).
"""

from __future__ import annotations

import io
import os
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import DataTable, Label, Select

from iact_tui.engine.record.store import RunStore
from iact_tui.tui.app import IactApp
from iact_tui.tui.screens.help import HelpScreen
from iact_tui.tui.screens.metrics import MetricsScreen
from iact_tui.tui.screens.runs import RunsScreen
from iact_tui.tui.screens.start import StartScreen
from iact_tui.tui.widgets.week_chart import WeekBar, WeekChart, segment_lengths
from tests.test_metrics import NOW, Run, build_history, t
from tests.tui.harness import make_app, until
from tests.tui.test_sessions import type_text

SIZE = (100, 30)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with runs/ holding the recorded history (built once; every test only reads it)."""
    folder = tmp_path_factory.mktemp("metrics-screen")
    build_history(folder / "runs")
    return folder


def screen_text(app: App[Any]) -> str:
    """What the terminal shows now, as plain text (the app's own rendering of the screen)."""
    width, height = app.size
    console = Console(
        width=width, height=height, file=io.StringIO(), record=True, color_system=None
    )
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text()


def line_of(text: str, start: str) -> str:
    return next(line.strip() for line in text.splitlines() if line.strip().startswith(start))


def cells(line: str) -> list[str]:
    """A table line's cells (columns are two or more spaces apart)."""
    return re.split(r"\s{2,}", line.strip())


async def shown(pilot: Pilot[Any], screen: MetricsScreen) -> None:
    """Wait until the screen's computation has ended and its result is drawn."""
    body = screen.query_one("#metrics-body")
    await until(screen, lambda: screen.report is not None and not body.loading)
    await pilot.pause()


async def open_metrics(pilot: Pilot[Any], runs_dir: Path, **kwargs: Any) -> MetricsScreen:
    screen = MetricsScreen(runs_dir, now=NOW, **kwargs)
    await pilot.app.push_screen(screen)
    await shown(pilot, screen)
    return screen


async def test_the_screen_shows_the_engine_numbers_marks_exclusions_and_weeks(
    workdir: Path,
) -> None:
    app = make_app(workdir)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_metrics(pilot, workdir / "runs")
        text = screen_text(app)

        # the numbers tests/test_metrics.py works out by hand, with their marks
        assert cells(line_of(text, "deployment frequency"))[:4] == [
            "deployment frequency",
            "1/week",
            "≥ 5/week",
            "✘ missed",
        ]
        assert cells(line_of(text, "lead time (median)"))[:4] == [
            "lead time (median)",
            "13.25 h",
            "< 24 h",
            "✔ met",
        ]
        assert cells(line_of(text, "change failure rate"))[:4] == [
            "change failure rate",
            "37.5 %",
            "< 10 %",
            "✘ missed",
        ]
        assert cells(line_of(text, "MTTR (mean)"))[:4] == [
            "MTTR (mean)",
            "10 min",
            "< 10 min",
            "✘ missed",
        ]
        assert "3 of 8 deployments needed a rollback" in line_of(text, "change failure rate")
        assert "12 runs from 2025-11-03 to 2025-11-23 (3 ISO weeks)" in text

        # the runs left out, and why
        assert line_of(text, "Excluded:").startswith("Excluded: 4 of 12 runs (1 failed before")
        assert "1 paused" in text and "1 interrupted" in text
        assert line_of(text, "Lead time unknown:") == (
            "Lead time unknown: r04 (the run did not capture deploy_commit_time)."
        )
        assert line_of(text, "Not counted, cannot be read:").endswith("r99-broken.")

        # a bar per week: W45 two succeeded; W46 one succeeded, one rolled back; W47 two rolled
        # back (r06 r11) and two failed without a rollback (r07 failed, r12 aborted)
        assert "█ succeeded" in text and "▓ rolled back" in text and "┆ target ≥ 5/week" in text
        weeks = {
            w: line_of(text, w) for w in ("2025-W45 03 Nov", "2025-W46 10 Nov", "2025-W47 17 Nov")
        }
        bars = {w: (line.count("█"), line.count("▓"), line.count("░")) for w, line in weeks.items()}
        w45, w46, w47 = bars.values()
        assert w45[0] > 0 and w45[1:] == (0, 0)
        assert w46[0] > 0 and w46[1] > 0 and w46[2] == 0 and abs(w46[0] - w46[1]) <= 1
        assert w47[0] == 0 and w47[1] > 0 and abs(w47[1] - w47[2]) <= 1
        assert sum(w46) == sum(w45) and abs(w47[1] - sum(w45)) <= 1  # one scale for every week
        assert weeks["2025-W45 03 Nov"].split()[-6:] == ["✔", "2", "↺", "0", "✘", "0"]
        assert weeks["2025-W46 10 Nov"].split()[-6:] == ["✔", "1", "↺", "1", "✘", "0"]
        assert weeks["2025-W47 17 Nov"].split()[-6:] == ["✔", "0", "↺", "2", "✘", "2"]
        assert all("┆" in line for line in weeks.values())  # no week reached 5 deployments

        # the selector: the other checklist, which sets no targets
        select = screen.query_one("#metrics-checklist", Select)
        assert select.display and select.value == "METRICS-001"
        await pilot.press("c")
        await pilot.pause()
        await pilot.press("down", "enter")
        await pilot.pause()
        assert select.value == "OTHER-001" and screen.checklist_id == "OTHER-001"
        text = screen_text(app)
        assert cells(line_of(text, "deployment frequency"))[:4] == [
            "deployment frequency",
            "1/week",
            "-",
            "· no target",
        ]
        assert cells(line_of(text, "lead time (median)"))[:2] == ["lead time (median)", "2 h"]
        assert cells(line_of(text, "MTTR (mean)"))[1:4] == ["-", "-", "– no data"]
        assert "Excluded: none of the 2 runs." in text
        assert "┆" not in line_of(text, "2025-W46 10 Nov")  # no target, no mark
        assert "2 runs from 2025-11-10 to 2025-11-23 (2 ISO weeks)" in text


async def test_keys_and_the_palette_open_and_close_it(workdir: Path) -> None:
    app = make_app(workdir)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, StartScreen)
        # from the start screen with m, back with Esc
        await pilot.press("m")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MetricsScreen)
        await shown(pilot, screen)
        assert screen.runs_dir == workdir / "runs"
        # these three do not depend on when "now" is (the frequency does: the window ends now)
        assert cells(line_of(screen_text(app), "change failure rate"))[1:4] == [
            "37.5 %",
            "< 10 %",
            "✘ missed",
        ]
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, StartScreen)

        # from the runs screen: the selected run's checklist is the one shown
        await pilot.press("l")
        await pilot.pause()
        runs = app.screen
        assert isinstance(runs, RunsScreen)
        table = runs.query_one(DataTable)
        row = next(i for i in range(table.row_count) if table.get_row_at(i)[0].plain == "o1")
        table.move_cursor(row=row)
        await pilot.press("m")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MetricsScreen)
        await shown(pilot, screen)
        assert screen.checklist_id == "OTHER-001"
        assert screen.query_one("#metrics-checklist", Select).value == "OTHER-001"
        assert "· no target" in line_of(screen_text(app), "deployment frequency")
        # its keys are in the help
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        rows = {what: why for _keys, what, why in app.screen.key_rows()}
        assert rows["Checklist"] == "Choose the checklist whose metrics are shown"
        assert rows["Back"] == "Back to the previous screen"
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is runs

        # the runs screen's m is in its help, though not in its (full) footer
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert "Metrics" in {what for _keys, what, _why in app.screen.key_rows()}
        await pilot.press("escape")
        await pilot.pause()

        # the command palette opens it, and closes it
        await pilot.press("ctrl+p")
        await pilot.pause()
        await type_text(pilot, "dora metrics")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MetricsScreen)
        await shown(pilot, screen)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await type_text(pilot, "close the metrics")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is runs


async def test_reload_counts_a_run_recorded_since(tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    (
        Run(runs_dir, "a1", t(17, "10:00"))
        .step(t(17, "10:01"), t(17, "10:02"), "pull")
        .finish(t(17, "10:05"), "succeeded")
    )
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_metrics(pilot, runs_dir)
        assert not screen.query_one("#metrics-checklist", Select).display  # one checklist
        text = screen_text(app)
        assert "METRICS-001 · Deploy to staging" in text
        assert cells(line_of(text, "change failure rate"))[1:4] == ["0 %", "< 10 %", "✔ met"]
        assert "Excluded: none of the 1 run." in text
        (
            Run(runs_dir, "a2", t(18, "10:00"))
            .step(t(18, "10:01"), t(18, "10:02"), "pull")
            .add(t(18, "10:03"), "rollback_started", reason="broken", by="ana")
            .finish(t(18, "10:09"), "rolled_back")
        )
        await pilot.press("ctrl+r")
        await shown(pilot, screen)
        text = screen_text(app)
        assert cells(line_of(text, "change failure rate"))[1:4] == ["50 %", "< 10 %", "✘ missed"]
        assert cells(line_of(text, "MTTR (mean)"))[1:4] == ["6 min", "< 10 min", "✔ met"]
        assert line_of(text, "2025-W47 17 Nov").split()[-6:] == ["✔", "1", "↺", "1", "✘", "0"]


async def test_no_runs_says_so(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_metrics(pilot, tmp_path / "runs")
        # the sentence wraps when the path is long: the label says it whole, the screen shows it
        said = str(screen.query_one("#metrics-where", Label).render())
        assert said == f"No runs in {tmp_path / 'runs'}; nothing to measure."
        words = " ".join(screen_text(app).split())  # the screen's lines, as one line
        assert "No runs in" in words and "nothing to measure." in words, words
        assert "deployment frequency" not in words and "week" not in words
        assert not screen.query_one(WeekChart).display


async def test_a_run_still_driven_is_excluded_and_said_why(tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    live: RunStore = Run(runs_dir, "live", t(19, "10:00")).store
    try:
        app = make_app(tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await open_metrics(pilot, runs_dir)
            text = screen_text(app)
            assert "Excluded: 1 of 1 run (1 still running)." in text
            assert cells(line_of(text, "change failure rate"))[1:4] == ["-", "< 10 %", "– no data"]
    finally:
        live.close()


async def test_a_failed_computation_is_one_sentence_and_reload_recovers(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import iact_tui.tui.screens.metrics as screen_module

    real = screen_module.compute_metrics

    def refused(runs_dir: Path, **kwargs: Any) -> Any:
        # as root a real folder cannot be made unreadable: the refusal is what the OS would say
        raise PermissionError(13, "Permission denied", str(runs_dir))

    monkeypatch.setattr(screen_module, "compute_metrics", refused)
    app = make_app(workdir)
    async with app.run_test(size=SIZE) as pilot:
        screen = MetricsScreen(workdir / "runs", now=NOW)
        await app.push_screen(screen)
        body = screen.query_one("#metrics-body")
        await until(screen, lambda: not body.loading)
        await pilot.pause()
        text = screen_text(app)
        assert (
            f"The metrics cannot be computed: cannot read the runs folder {workdir / 'runs'}: "
            "Permission denied." in " ".join(text.split())
        )
        assert "Traceback" not in text and "deployment frequency" not in text
        monkeypatch.setattr(screen_module, "compute_metrics", real)
        await pilot.press("ctrl+r")
        await shown(pilot, screen)
        text = screen_text(app)
        assert "37.5 %" in line_of(text, "change failure rate")
        assert not screen.query_one("#metrics-where").has_class("-error")


# -- the chart on its own ---------------------------------------------------------------------


def test_segments_are_proportional_and_never_lose_a_nonzero_count() -> None:
    assert segment_lengths([2, 0, 0], 5, 50) == [20, 0, 0]
    assert segment_lengths([1, 1, 0], 5, 62) == [12, 13, 0]  # cumulative ends: no drift
    assert segment_lengths([100, 1, 1], 102, 10) == [8, 1, 1]  # one cell at least, within 10
    assert segment_lengths([0, 0, 0], 1, 10) == [0, 0, 0]


class ChartApp(App[None]):
    def compose(self) -> ComposeResult:
        yield WeekChart(target_text=lambda v: f"≥ {v:g}/week")


@pytest.mark.parametrize(("width", "extras"), [(80, False), (200, True)])
async def test_chart_fits_the_width_and_a_week_at_target_hides_the_mark(
    width: int, extras: bool
) -> None:
    weeks = [
        WeekBar("2025-W46", date(2025, 11, 10), 6, 0, 0, lead_time="2 h"),
        WeekBar("2025-W47", date(2025, 11, 17), 1, 0, 1, mttr="6 min"),
    ]
    app = ChartApp()
    async with app.run_test(size=(width, 10)) as pilot:
        chart = app.query_one(WeekChart)
        chart.show(weeks, 5)
        await pilot.pause()
        text = screen_text(app)
        full, partial = line_of(text, "2025-W46 10 Nov"), line_of(text, "2025-W47 17 Nov")
        assert "┆" not in full  # six deployments: past the target
        assert "┆" in partial
        assert full.count("█") > partial.count("█") * 5  # the scale is the busiest week
        assert ("lead time" in text and "MTTR" in text) is extras
        assert ("6 min" in partial) is extras
        assert all(len(line.rstrip()) <= width for line in text.splitlines())


# -- the picture ------------------------------------------------------------------------------


def test_metrics_screen_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, snap_compare: Any
) -> None:
    monkeypatch.chdir(tmp_path)  # only relative paths reach the screen
    build_history(Path("runs"))
    app: IactApp = make_app(Path("."))

    async def run_before(pilot: Pilot[Any]) -> None:
        await open_metrics(pilot, Path("runs"))
        await pilot.wait_for_scheduled_animations()
        pilot.app.clear_notifications()
        await pilot.pause()

    assert os.path.isdir("runs")
    assert NOW == datetime(2025, 11, 23, 12, 0, tzinfo=UTC)  # the picture's window ends then
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
