"""The screens around a run: start screen, runs screen (read-only view, resume), help, command
palette, search, alternatives, notes, the demo's banner."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable, Input, OptionList

from iact_tui.engine import events as ev
from iact_tui.tui.dialogs.choice import ChoiceDialog
from iact_tui.tui.screens.help import HelpScreen
from iact_tui.tui.screens.run import RunScreen
from iact_tui.tui.screens.runs import RunsScreen
from iact_tui.tui.screens.setup import SetupScreen
from iact_tui.tui.screens.start import StartScreen
from iact_tui.tui.widgets.output_view import OutputView
from iact_tui.tui.widgets.step_tree import StepTree
from tests.tui.harness import (
    Recorder,
    event,
    make_app,
    question,
    report_of,
    state_of,
    write_checklist,
)
from tests.tui.runs import interrupted_run, recorded_run
from tests.tui.test_sessions import HEADER, finished, start_from_form, type_text

SIMPLE = (
    HEADER
    + """
[[phases]]
id = "pre"
title = "Pre-deployment"

[[phases.steps]]
id = "hello"
kind = "local"
run = "printf 'alpha\\nbeta [x]\\ngamma\\nbeta again\\n'"
"""
)


async def test_start_screen_lists_checklists_and_unfinished_runs_and_starts_one(
    tmp_path: Path, recorder: Recorder
) -> None:
    (tmp_path / "checklists").mkdir()
    write_checklist(tmp_path / "checklists", SIMPLE, "simple.toml")
    write_checklist(tmp_path / "checklists", "not = [valid", "broken.toml")
    interrupted_run(tmp_path, run_id="20260301T080000Z-older")
    interrupted_run(tmp_path, run_id="20260301T090000Z-newer")
    recorded_run(tmp_path, "20260301T100000Z-finished", "succeeded")
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30), message_hook=recorder) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, StartScreen)
        ids = [
            o.id
            for o in screen.query_one(OptionList)._options
            if o.id  # type: ignore[attr-defined]
        ]
        runs = [i.split("/")[-1] for i in ids if i.startswith("run:")]
        assert runs == ["20260301T090000Z-newer", "20260301T080000Z-older"]  # finished: not listed
        # the cursor starts on the loadable checklist, not on the broken one
        highlighted = screen.query_one(OptionList).highlighted_option
        assert highlighted is not None and highlighted.id is not None
        assert highlighted.id.endswith("simple.toml")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, SetupScreen)
        await pilot.click("#setup-start-button")
        await recorder.wait(question("pace", "hello"))
        await pilot.press("r")
        await finished(pilot, recorder)
    assert app.run_view is not None
    assert state_of(app.run_view.folder).status == "succeeded"


async def test_start_screen_resumes_a_run_with_one_key(tmp_path: Path, recorder: Recorder) -> None:
    folder = interrupted_run(tmp_path, run_id="20260301T080000Z-only")
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30), message_hook=recorder) as pilot:
        await pilot.pause()
        await pilot.press("enter")  # no checklists: the cursor is on the run
        await recorder.wait(question("interrupted", "migrate"))
        await pilot.pause()
        await pilot.click("#rerun")
        await recorder.wait(question("pace"))
        await pilot.press("n")
        await finished(pilot, recorder)
    state = state_of(folder)
    assert state.status == "succeeded"
    assert state.steps["migrate"].attempts == 2


async def test_runs_screen_opens_a_run_read_only_and_resumes_another(
    tmp_path: Path, recorder: Recorder
) -> None:
    done = recorded_run(tmp_path, "20260301T070000Z-done", "rolled_back", operator="bea")
    paused = recorded_run(tmp_path, "20260301T080000Z-paused", "paused")
    app = make_app(tmp_path)
    async with app.run_test(size=(120, 30), message_hook=recorder) as pilot:
        await pilot.pause()
        await pilot.press("l")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)
        table = app.screen.query_one(DataTable)
        assert table.row_count == 2
        row = [str(c) for c in table.get_row_at(1)]
        assert row[:4] == [done.name, "rolled back", "TUI-RESUME", "bea"]
        await pilot.press("down", "enter")  # open the rolled-back run
        await pilot.pause()
        view_screen = app.screen
        assert isinstance(view_screen, RunScreen) and view_screen.view.read_only
        assert "read-only" in (view_screen.sub_title or "")
        assert view_screen.check_action("retry", ()) is False
        assert view_screen.check_action("rollback", ()) is False
        failed = str(view_screen.query_one(StepTree)._steps["migrate"].label)
        assert failed.startswith("✘")
        await pilot.press("escape")  # back to the list
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)
        await pilot.press("up", "u")  # resume the paused run
        await recorder.wait(question("pace", "restart"))
        await pilot.press("r")
        await finished(pilot, recorder)
    assert state_of(paused).status == "succeeded"


async def test_help_palette_search_and_note(tmp_path: Path, recorder: Recorder) -> None:
    checklist = write_checklist(tmp_path, SIMPLE)
    app = make_app(tmp_path, checklist)
    async with app.run_test(size=(100, 30), message_hook=recorder) as pilot:
        await start_from_form(pilot, recorder)
        await recorder.wait(question("pace", "hello"))
        # a note on the selected step goes into the record, with who wrote it
        await pilot.press("o")
        await pilot.pause()
        await type_text(pilot, "looked first")
        await pilot.press("enter", "enter")  # Enter: on to OK, then OK
        await recorder.wait(event(ev.StepChanged, step_id="hello", detail="note added"))
        # help lists every key with its tooltip
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        rows = {what: why for _keys, what, why in app.screen.key_rows()}
        assert rows["Run on"].startswith("Run on to the next step that needs a person")
        assert rows["Search"] == "Search the output shown"
        assert len(rows) >= 17
        await pilot.press("escape")
        await pilot.pause()
        # the command palette offers what applies now, and runs it
        await pilot.press("ctrl+p")
        await pilot.pause()
        await type_text(pilot, "run step")
        await pilot.pause()
        await pilot.press("enter")
        await finished(pilot, recorder)
        assert isinstance(app.screen, RunScreen)
        output = app.screen.query_one(OutputView)
        assert "beta [x]" in output.lines  # raw output, never markup
        # search the output: the first match, then the next
        await pilot.press("slash")
        await pilot.pause()
        await type_text(pilot, "beta")
        await pilot.press("enter", "enter")  # Enter: on to OK, then OK
        await pilot.pause()
        first = output._match
        await pilot.press("slash", "enter", "enter")
        await pilot.pause()
        assert output.lines[first].startswith("beta")
        assert output.lines[output._match] == "beta again"
        assert app.screen.check_action("note", ()) is False  # the run is over: nothing to add to
    assert app.run_view is not None
    state = state_of(app.run_view.folder)
    assert state.steps["hello"].note == "looked first"
    assert any(
        r["type"] == "note_added" and r["by"] == "ana"
        for r in report_of(app.run_view.folder)["events"]
    )


async def test_choosing_an_alternative(tmp_path: Path, recorder: Recorder) -> None:
    checklist = write_checklist(
        tmp_path,
        HEADER
        + """
        [[phases]]
        id = "deploy"
        title = "Deploy"

        [[phases.alternatives]]
        id = "ci-cd"
        title = "Option A: CI/CD"

        [[phases.alternatives.steps]]
        id = "dispatch"
        kind = "local"
        run = "echo dispatched"

        [[phases.alternatives]]
        id = "manual"
        title = "Option B: by hand"

        [[phases.alternatives.steps]]
        id = "pull"
        kind = "local"
        run = "echo pulled"
    """,
    )
    app = make_app(tmp_path, checklist)
    async with app.run_test(size=(100, 30), message_hook=recorder) as pilot:
        await start_from_form(pilot, recorder)
        await recorder.wait(question("choice"))
        await pilot.pause()
        assert isinstance(app.screen, ChoiceDialog)
        await pilot.press("escape")  # later: the run keeps waiting, c opens the choice again
        await pilot.pause()
        assert isinstance(app.screen, RunScreen)
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, ChoiceDialog)
        await pilot.press("down", "space")  # Option B
        await pilot.click("#choose")
        await recorder.wait(question("pace", "pull"))
        await pilot.press("r")
        await finished(pilot, recorder)
    assert app.run_view is not None
    state = state_of(app.run_view.folder)
    assert state.choices == {"deploy": ["manual"]}
    assert state.steps["dispatch"].status == "not_applicable"
    assert state.steps["pull"].status == "passed"


async def test_the_banner_stays_on_screen_and_clicks_work(
    tmp_path: Path, recorder: Recorder
) -> None:
    checklist = write_checklist(tmp_path, SIMPLE)
    banner = "Sandbox: nothing here touches a real host [really]."
    app = make_app(tmp_path, checklist, banner=banner)
    async with app.run_test(size=(80, 24), message_hook=recorder) as pilot:
        await start_from_form(pilot, recorder)
        await recorder.wait(question("pace", "hello"))
        text = app.screen.query_one("#banner")
        assert str(text.render()) == banner  # brackets kept: not markup
        assert text.region.height >= 1 and text.region.y < 3
        # the footer's key is a button too: clicking "Run step" runs the step
        footer_key = next(
            k for k in app.screen.query("FooterKey") if getattr(k, "action", "") == "run_step"
        )
        await pilot.click(footer_key)
        await finished(pilot, recorder)
        assert app.screen.query_one("#banner").region.height >= 1
        # clicking a step in the tree shows it
        tree = app.screen.query_one(StepTree)
        node = tree._steps["hello"]
        await pilot.click(tree, offset=(4, node.line))
        await pilot.pause()
        assert app.screen.query_one("#step-heading").render()


async def test_setup_cancel_exits_without_a_run(tmp_path: Path) -> None:
    checklist = write_checklist(tmp_path, SIMPLE)
    app = make_app(tmp_path, checklist)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, SetupScreen)
        app.screen.query_one("#setup-operator", Input).value = ""
        await pilot.click("#setup-start-button")
        await pilot.pause()
        assert "operator" in str(app.screen.query_one("#setup-error").render())
        await pilot.press("escape")
        await pilot.pause()
    assert app.return_code == 130
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
