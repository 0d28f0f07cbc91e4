"""Defects an outside tester found in the TUI (the operator's and ``iact-tui watch``):

A. sibling step titles collapsed into one at 80×24; B. the exact ``tick`` command was cut off;
C. a watcher's tick on a paused run waited 15 s for nobody; D. a failed automatic step offered
p / f; E. Esc did not leave the watch while a tick waited for its answer; F. the status bar's
activity ran into the clock, a flood's line count was missing, Enter in a prompt sent at once.

Every wait is bounded and waits on a condition, never a fixed sleep."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Input

from iact_tui.engine.executors.base import LogWriter
from iact_tui.engine.record.state import reduce
from iact_tui.engine.record.store import read_records
from iact_tui.engine.record.ticks import answer_request, pending_requests
from iact_tui.tui import format as fmt
from iact_tui.tui.dialogs.text_prompt import TextPrompt
from iact_tui.tui.screens.watch import WatchScreen
from iact_tui.tui.watching import WatchApp
from iact_tui.tui.widgets.output_view import OutputView
from iact_tui.tui.widgets.step_detail import StepDetail
from iact_tui.tui.widgets.step_tree import StepTree
from tests import runfactory
from tests.helpers import cli
from tests.tui.harness import Recorder, make_app, question, until, write_checklist
from tests.tui.test_sessions import HEADER, start_from_form
from tests.tui.test_snapshots import asked, frozen, settle, start_run  # noqa: F401 (a fixture)

WAIT = 20.0
SOON = 5.0  # "at once": well under the 15 s a driving process gets to answer a tick

PRIMARY = "3.2 Migrate the database of the primary app server then restart it"
REPLICA = "3.2 Migrate the database of the replica app server then restart it"
DATABASE = "4.1 Health checks: Database connection"
CACHE = "4.1 Health checks: Cache connection"

SIBLINGS = (
    HEADER
    + f"""
[[phases]]
id = "deploy"
title = "PASO 3: Deploy de la aplicación en los servidores de la aplicación"

[[phases.steps]]
id = "migrate-primary"
title = "{PRIMARY}"
kind = "local"
run = "echo primary"

[[phases.steps]]
id = "migrate-replica"
title = "{REPLICA}"
kind = "local"
run = "echo replica"

[[phases]]
id = "verify"
title = "PASO 4: Verificación post-deployment"

[[phases.steps]]
id = "health-db"
title = "{DATABASE}"
kind = "local"
run = "echo db"

[[phases.steps]]
id = "health-cache"
title = "{CACHE}"
kind = "local"
run = "echo cache"

[[phases.steps]]
id = "ui-check"
title = "4.2 Verificar la interfaz a mano"
kind = "manual"
role = "devops"
"""
)


async def _until(pilot: Pilot[Any], condition: Any, within: float = WAIT) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "not on screen in time"
        await pilot.pause(0.02)


def _screen_lines(app: Any) -> list[str]:
    return [strip.text for strip in app.screen._compositor.render_strips()]


def _shown_in(app: Any, selector: str, text: str) -> bool:
    """``text`` is on screen, whole, in the widget's part of it (wrapped over its lines)."""
    region = app.screen.query_one(selector).region
    rows = _screen_lines(app)[region.y : region.bottom]
    shown = "".join(row[region.x : region.right] for row in rows)
    return "".join(text.split()) in "".join(shown.split())


def _notices(app: Any) -> list[tuple[str, str, str]]:
    return [(n.title, n.message, n.severity) for n in app._notifications]


def _state(folder: Path) -> Any:
    return reduce(read_records(folder))


# -- A: sibling titles stay distinct --------------------------------------------------------------


def test_shortened_siblings_keep_what_tells_them_apart() -> None:
    titles = [PRIMARY, REPLICA]
    for room in range(8, len(PRIMARY) + 2):
        shown = fmt.fit_siblings(titles, room)
        assert all(len(s) <= room for s in shown), (room, shown)
        assert shown[0] != shown[1], (room, shown)
        assert "prim" in shown[0] and "repl" in shown[1], (room, shown)
    shown = fmt.fit_siblings([DATABASE, CACHE], 16)
    assert shown[0] != shown[1] and "Datab" in shown[0] and "Cache" in shown[1], shown
    assert fmt.fit_siblings([DATABASE, CACHE], 80) == [DATABASE, CACHE]  # room: unchanged


async def _at_the_manual_step(pilot, recorder: Recorder) -> None:  # type: ignore[no-untyped-def]
    """Start the run from its form and let it go on to the manual step ui-check."""
    await start_from_form(pilot, recorder)
    await recorder.wait(question("pace"))
    await pilot.press("n")
    await recorder.wait(question("manual", "ui-check"))
    await pilot.pause()


async def test_sibling_titles_stay_distinct_in_the_tree_at_80x24(
    tmp_path: Path, recorder: Recorder
) -> None:
    checklist = write_checklist(tmp_path, SIBLINGS)
    app = make_app(tmp_path, checklist)
    async with app.run_test(size=(80, 24), message_hook=recorder) as pilot:
        await _at_the_manual_step(pilot, recorder)
        tree = app.screen.query_one(StepTree)
        width = tree.scrollable_content_region.width
        labels = {step: str(node.label) for step, node in tree._steps.items()}
        assert labels["migrate-primary"] != labels["migrate-replica"], labels
        assert "prim" in labels["migrate-primary"] and "repl" in labels["migrate-replica"]
        assert labels["health-db"] != labels["health-cache"], labels
        assert "Datab" in labels["health-db"] and "Cache" in labels["health-cache"]
        for step in ("migrate-primary", "migrate-replica", "health-db", "health-cache"):
            assert labels[step].endswith("<1s"), labels[step]  # the duration is whole
            node = tree._steps[step]
            assert node.label.cell_len + tree.guide_depth <= width, labels[step]
        assert str(tree._phases["verify"].label).endswith("2/3")  # the count is whole


SNAP_SIZES = {"80x24": (80, 24), "160x45": (160, 45)}


@pytest.mark.parametrize("size", list(SNAP_SIZES))
def test_sibling_titles_snapshot(frozen: Path, snap_compare: Any, size: str) -> None:  # noqa: F811
    write_checklist(frozen / "checklists", SIBLINGS, "siblings.toml")

    async def run_before(pilot: Pilot[Any]) -> None:
        screen = await start_run(pilot)
        await until(screen, lambda: asked(screen, "pace", "migrate-primary"))
        await pilot.press("n")
        await until(screen, lambda: asked(screen, "manual", "ui-check"))
        await settle(pilot)

    app = make_app(frozen, Path("checklists/siblings.toml"))
    assert snap_compare(app, terminal_size=SNAP_SIZES[size], run_before=run_before)


# -- B: the exact tick command, whole, at 80×24 ----------------------------------------------------


async def test_the_watch_shows_the_whole_tick_command_at_80x24(tmp_path: Path) -> None:
    b = runfactory.RunBuilder(tmp_path / "runs")
    b.run_step("staging-health", "ok\n")
    b.wait("ci-green")
    app = WatchApp(tmp_path / "runs", b.folder)
    command = f"iact-tui tick {b.store.state.run_id} ci-green"
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, WatchScreen)
        await _until(pilot, lambda: screen.query_one("#watch-hint").display)
        await pilot.pause()
        command += f" --runs-dir {tmp_path / 'runs'}"
        assert _shown_in(app, "#watch-hint", command), "\n".join(_screen_lines(app))
    b.close()


async def test_the_operator_screen_shows_the_whole_tick_command_at_80x24(
    tmp_path: Path, recorder: Recorder
) -> None:
    checklist = write_checklist(tmp_path, SIBLINGS)
    app = make_app(tmp_path, checklist)
    async with app.run_test(size=(80, 24), message_hook=recorder) as pilot:
        await _at_the_manual_step(pilot, recorder)
        run_id = app.run_view.run_id if app.run_view else ""
        command = f"iact-tui tick {run_id} ui-check --runs-dir {tmp_path / 'runs'}"
        lines = _screen_lines(app)
        assert _shown_in(app, "#manual-prompt", command), "\n".join(lines)
        state = app.screen.query_one("#run-state")
        bar = lines[state.region.y][state.region.x : state.region.right]
        assert "waits for devops" in bar
        assert "iact-tui" not in bar, bar  # the status bar cut it: it is said whole elsewhere


# -- C: a watcher's tick works as `iact-tui tick` does ---------------------------------------------


async def test_a_watchers_tick_on_a_paused_run_is_recorded_at_once(tmp_path: Path) -> None:
    b = runfactory.RunBuilder(tmp_path)
    b.run_step("staging-health", "ok\n")
    b.wait("ci-green")
    b.pause("step 'ci-green' waits for a person")
    folder = b.close()  # no process drives the run now (a headless run that exited 3)
    app = WatchApp(tmp_path, folder, name_as="bea")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("p")
        await _until(pilot, lambda: app.screen.query("#prompt-input"))
        await pilot.press(*"looks fine", "enter", "enter")
        await _until(pilot, lambda: any(t == "Recorded" for t, _m, _s in _notices(app)), SOON)
        message = next(m for t, m, _s in _notices(app) if t == "Recorded")
        assert "recorded: ci-green passed by bea" in message
        assert "continue with: iact-tui resume" in message
    rec = _state(folder).steps["ci-green"]
    assert (rec.status, rec.ticked_by, rec.note) == ("passed", "bea", "looks fine")


async def test_a_watcher_is_refused_as_the_tick_command_is(tmp_path: Path) -> None:
    """Four eyes on the paused run: the operator's own approval is refused, with the words
    `iact-tui tick` prints, and nothing is recorded."""
    b = runfactory.RunBuilder(tmp_path)
    b.run_step("staging-health", "ok\n")
    b.tick("ci-green", "bea")
    b.run_step("changelog-review", "diff\n")
    b.wait("approval")
    b.pause("step 'approval' waits for a person")
    folder = b.close()
    by_cli = await asyncio.to_thread(
        cli, "tick", runfactory.RUN_ID, "approval", "--as", "alice", "--runs-dir", str(tmp_path)
    )
    assert by_cli.returncode == 2, by_cli.stderr
    app = WatchApp(tmp_path, folder, name_as="alice")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("p")
        await _until(pilot, lambda: app.screen.query("#prompt-input"))
        await pilot.press("enter", "enter")
        await _until(pilot, lambda: any(t == "Not recorded" for t, _m, _s in _notices(app)), SOON)
        message = next(m for t, m, _s in _notices(app) if t == "Not recorded")
    assert "needs four eyes" in message
    assert f"iact-tui: {message}" == by_cli.stderr.strip()
    assert _state(folder).steps["approval"].status == "waiting"


async def test_the_tick_command_still_goes_through_the_inbox_of_a_driven_run(
    tmp_path: Path,
) -> None:
    b = runfactory.RunBuilder(tmp_path)
    b.wait("ci-green")
    inbox = b.store.inbox()
    stop = asyncio.Event()

    async def driver() -> None:
        deadline = time.monotonic() + WAIT
        while not stop.is_set() and time.monotonic() < deadline:
            for path, tick, _why in pending_requests(inbox):
                answer_request(path, True, f"recorded: {tick.step} passed by {tick.by}")
            await asyncio.sleep(0.02)

    task = asyncio.create_task(driver())
    done = await asyncio.to_thread(
        cli, "tick", runfactory.RUN_ID, "ci-green", "--as", "bea", "--runs-dir", str(tmp_path)
    )
    stop.set()
    await task
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "recorded: ci-green passed by bea"
    b.close()


# -- D: a failed automatic step ----------------------------------------------------------------------


async def test_a_failed_automatic_step_offers_skip_or_resume_and_refuses_p_and_f(
    tmp_path: Path,
) -> None:
    b = runfactory.RunBuilder(tmp_path)
    b.run_step("staging-health", "ok\n")
    b.tick("ci-green", "bea")
    b.run_step("changelog-review", "boom\n", status="failed", exit_status=4)
    b.append("run_finished", status="failed")  # as headless --on-failure stop leaves it
    folder = b.close()
    app = WatchApp(tmp_path, folder, name_as="bea")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        hint = screen.query_one("#watch-hint")
        await _until(pilot, lambda: hint.display)
        text = str(hint.render())
        assert "p pass" not in text and "f fail" not in text, text
        assert f"iact-tui tick {runfactory.RUN_ID} changelog-review --skip --reason TEXT" in text
        assert "iact-tui resume" in text, text
        started = time.monotonic()
        await pilot.press("p")
        await _until(pilot, lambda: _notices(app), SOON)
        await pilot.press("f")
        await _until(pilot, lambda: len(_notices(app)) >= 2, SOON)
        assert time.monotonic() - started < SOON
        assert not app.screen.query("#prompt-input")  # refused before anything is asked
        for _title, message, severity in _notices(app):
            assert severity == "error"
            assert "changelog-review failed" in message and "skip" in message, message
            assert "resume" in message
    assert not list((folder / "inbox").glob("*.json"))


# -- E: Esc leaves the watch, also while a tick waits for its answer ----------------------------------


async def test_escape_leaves_the_watch(tmp_path: Path) -> None:
    b = runfactory.RunBuilder(tmp_path)
    b.wait("ci-green")
    app = WatchApp(tmp_path, b.folder)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("escape")
        await _until(pilot, lambda: app.return_code is not None, SOON)
    b.close()


async def test_escape_leaves_the_watch_while_a_tick_waits_for_the_driver(tmp_path: Path) -> None:
    """The driving process does not answer: the tick's wait must not hold the watch open (it
    held the app's exit for up to 15 s: Textual's exit waits for its worker threads)."""
    b = runfactory.RunBuilder(tmp_path)  # holds the lock: the run is driven, and never answers
    b.wait("ci-green")
    app = WatchApp(tmp_path, b.folder, name_as="bea")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("p")
        await _until(pilot, lambda: app.screen.query("#prompt-input"))
        await pilot.press(*"ok", "enter", "enter")
        await _until(pilot, lambda: list((b.folder / "inbox").glob("*.json")))
        assert _waiting_for_an_answer()
        await pilot.press("escape")
        await _until(pilot, lambda: app.return_code is not None, SOON)
    deadline = time.monotonic() + SOON
    while _waiting_for_an_answer():  # (a worker thread: the app's exit waits for it to end)
        assert time.monotonic() < deadline, "the tick's wait held the exit"
        await asyncio.sleep(0.02)
    b.close()


def _waiting_for_an_answer() -> bool:
    """Some thread is inside the watch's wait for the driving process's answer."""
    for frame in sys._current_frames().values():
        at: Any = frame
        while at is not None:
            if at.f_code.co_name == "send_tick" and "iact_tui" in at.f_code.co_filename:
                return True
            at = at.f_back
    return False


# -- F: the status bar, a flood's count, Enter in a prompt ------------------------------------------


async def test_the_status_bars_activity_never_runs_into_the_clock_at_80x24(
    tmp_path: Path, recorder: Recorder
) -> None:
    checklist = write_checklist(tmp_path, SIBLINGS)
    app = make_app(tmp_path, checklist)
    async with app.run_test(size=(80, 24), message_hook=recorder) as pilot:
        await start_from_form(pilot, recorder)
        await recorder.wait(question("pace", "migrate-primary"))
        await pilot.pause()
        state = app.screen.query_one("#run-state")
        elapsed = app.screen.query_one("#run-elapsed")
        row = _screen_lines(app)[state.region.y]
        assert row[elapsed.region.x - 1] == " ", row
        assert row[state.region.x : elapsed.region.x].rstrip().endswith("…"), row
        assert "00:00" in row[elapsed.region.x : elapsed.region.right]


async def test_the_watch_counts_the_lines_of_a_flood(tmp_path: Path) -> None:
    """A burst of 100,000 lines while the watcher looks, and the same step looked at later."""
    b = runfactory.RunBuilder(tmp_path)
    app = WatchApp(tmp_path, b.folder)
    lines = "".join(f"line {i}\n" for i in range(100_000))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        output = screen.query_one(OutputView)
        b.start("changelog-review", command="git log")
        await _until(pilot, lambda: screen.query_one(StepDetail).step_id == "changelog-review")
        log = LogWriter(b.store.log_path("changelog-review"))
        log.write(lines)
        log.close()
        b.append(
            "step_finished",
            step="changelog-review",
            status="passed",
            attempt=1,
            duration=0.4,
            exit_status=0,
            lines=100_000,
            log_sha256=log.sha256,
            log_bytes=log.size,
        )
        await _until(
            pilot, lambda: "✔" in str(screen.query_one(StepTree)._steps["changelog-review"].label)
        )
        await _until(pilot, lambda: "100,000 lines" in str(output.border_title))
    b.close()
    later = WatchApp(tmp_path, b.folder)  # a watcher that comes after the flood
    async with later.run_test(size=(120, 40)) as pilot:
        screen = later.screen
        screen._select("changelog-review")
        output = screen.query_one(OutputView)
        await _until(pilot, lambda: "100,000 lines" in str(output.border_title))


async def test_enter_in_a_prompt_moves_to_ok_and_a_second_enter_sends(tmp_path: Path) -> None:
    b = runfactory.RunBuilder(tmp_path)
    b.wait("ci-green")
    app = WatchApp(tmp_path, b.folder, name_as="bea")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("p")
        await _until(pilot, lambda: isinstance(app.screen, TextPrompt))
        prompt = app.screen
        await pilot.press(*"checked", "enter")
        await pilot.pause()
        assert app.screen is prompt  # still asked: Enter never ticks
        assert isinstance(app.focused, Button) and app.focused.id == "ok"
        assert not list((b.folder / "inbox").glob("*.json"))
        await pilot.press("enter")
        await _until(pilot, lambda: not isinstance(app.screen, TextPrompt))
        await _until(pilot, lambda: list((b.folder / "inbox").glob("*.json")))
        await pilot.press("escape")
    b.close()


async def test_enter_on_an_empty_required_prompt_says_so_and_stays(tmp_path: Path) -> None:
    b = runfactory.RunBuilder(tmp_path)
    b.wait("ci-green")
    app = WatchApp(tmp_path, b.folder, name_as="bea")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")  # a skip needs a reason
        await _until(pilot, lambda: isinstance(app.screen, TextPrompt))
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, TextPrompt)
        assert app.screen.query_one("#prompt-error").display
        assert isinstance(app.focused, Input)  # on the input still, to type the reason
        await pilot.press("escape")
    b.close()
