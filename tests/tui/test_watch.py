"""`iact-tui watch`: a run driven by another process (here: a RunBuilder writing through the real
RunStore, as the runner does) is followed live, read-only; p / f / s tick through the inbox."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from iact_tui.engine.executors.base import LogWriter
from iact_tui.engine.record.state import reduce
from iact_tui.engine.record.store import read_records
from iact_tui.engine.record.ticks import answer_request, pending_requests
from iact_tui.tui.screens.watch import WatchScreen, waiting_step
from iact_tui.tui.watching import WatchApp
from iact_tui.tui.widgets.output_view import OutputView
from iact_tui.tui.widgets.step_tree import StepTree
from tests import runfactory

WAIT = 20.0


async def _until(pilot, condition, within: float = WAIT) -> None:  # type: ignore[no-untyped-def]
    """Bounded: look after each screen update, up to ``within`` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "the watch screen did not show it in time"
        await pilot.pause(0.02)


def _label(screen: WatchScreen, step_id: str) -> str:
    tree = screen.query_one(StepTree)
    return str(tree._steps[step_id].label)


async def test_watch_follows_statuses_and_output_of_a_live_run(tmp_path: Path) -> None:
    b = runfactory.RunBuilder(tmp_path)
    app = WatchApp(tmp_path, b.folder)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, WatchScreen)
        assert "(read-only)" in screen.sub_title
        b.start("staging-health", command="GET https://staging/api/health")
        log = LogWriter(b.store.log_path("staging-health"))
        log.write("HTTP 200 OK\nlatency 12 ms\n")
        log.flush()
        await _until(pilot, lambda: "▶" in _label(screen, "staging-health"))
        output = screen.query_one(OutputView)
        await _until(pilot, lambda: output.line_count >= 2)
        assert "latency 12 ms" in "\n".join(screen.view.output_lines("staging-health"))
        log.close()
        b.append("step_finished", step="staging-health", status="passed", attempt=1, duration=0.2)
        await _until(pilot, lambda: "✔" in _label(screen, "staging-health"))
        b.wait("ci-green")
        await _until(pilot, lambda: waiting_step(screen.view.state) == "ci-green")
        hint = screen.query_one("#watch-hint")
        await _until(pilot, lambda: f"iact-tui tick {b.store.state.run_id} ci-green" in str(hint.render()))
        assert screen.query_one(StepTree).cursor_node.data == "step:ci-green"  # followed
    b.close()


async def test_watch_survives_the_drivers_compaction_and_sees_the_end(tmp_path: Path) -> None:
    b = runfactory.RunBuilder(tmp_path)
    app = WatchApp(tmp_path, b.folder)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        b.run_step("staging-health", "ok\n")
        b.pause("waits for a person")
        b.store.compact()  # what a pause does: report rewritten, journal emptied
        await _until(pilot, lambda: screen.view.state.status == "paused")
        b.append("run_resumed", by="alice", mode="headless")
        b.run_step("changelog-review", "diff\n")
        await _until(pilot, lambda: "✔" in _label(screen, "changelog-review"))
        assert screen.view.state.status == "running"
    b.close()


async def test_a_watcher_ticks_through_the_inbox(tmp_path: Path) -> None:
    b = runfactory.RunBuilder(tmp_path)
    b.run_step("staging-health", "ok\n")
    b.wait("ci-green")
    inbox = b.store.inbox()
    app = WatchApp(tmp_path, b.folder, name_as="Bea")
    stop = threading.Event()
    received: list[object] = []

    def driver() -> None:  # the process driving the run: answers what arrives in its inbox
        deadline = time.monotonic() + WAIT
        while not stop.is_set() and time.monotonic() < deadline:
            for path, tick, _why in pending_requests(inbox):
                received.append(tick)
                answer_request(path, True, f"recorded: {tick.step} passed by {tick.by}")
            stop.wait(0.02)

    thread = threading.Thread(target=driver)
    thread.start()
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("p")
            await _until(pilot, lambda: app.screen.query("#prompt-input"))
            await pilot.press(*"all five green", "enter", "enter")  # Enter: on to OK, then OK
            await _until(pilot, lambda: bool(received))
    finally:
        stop.set()
        thread.join(WAIT)
    tick = received[0]
    assert (tick.step, tick.action, tick.by, tick.note) == ("ci-green", "pass", "Bea", "all five green")
    b.close()


async def test_a_served_watch_does_not_tick(tmp_path: Path) -> None:
    b = runfactory.RunBuilder(tmp_path)
    b.wait("ci-green")
    app = WatchApp(tmp_path, b.folder, acts=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("p")
        await pilot.pause()
        assert not app.screen.query("#prompt-input")
        assert not list((b.folder / "inbox").glob("*.json"))
    b.close()


async def test_the_picker_lists_live_runs_first_and_opens_one(tmp_path: Path) -> None:
    finished = runfactory.staging_run(tmp_path)
    live = runfactory.RunBuilder(tmp_path, run_id="20261201T000000Z-proced-devops-001-live")
    app = WatchApp(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one("DataTable")
        await _until(pilot, lambda: table.row_count == 2)
        assert "live" in str(table.get_row_at(0)[1])
        await pilot.press("enter")
        await _until(pilot, lambda: isinstance(app.screen, WatchScreen))
        assert app.screen.folder == live.folder
        await pilot.press("escape")
        await _until(pilot, lambda: not isinstance(app.screen, WatchScreen))
    live.close()
    assert finished.exists()


async def test_a_watch_opened_mid_step_counts_all_of_its_lines(tmp_path: Path) -> None:
    """Attached while a step runs and has printed 20,000 lines: the count is 20,000, and the
    newest lines are on screen."""
    b = runfactory.RunBuilder(tmp_path)
    b.start("staging-health")
    log = LogWriter(b.store.log_path("staging-health"))
    log.write("".join(f"line {n}\n" for n in range(20_000)))
    log.close()
    app = WatchApp(tmp_path, b.folder)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, WatchScreen)
        assert screen.view.lines_printed("staging-health") == 20_000
        assert screen.view.output_lines("staging-health")[-1] == "line 19999"
        more = LogWriter(b.store.log_path("staging-health"))
        more.write("one more\n")
        more.close()
        await _until(pilot, lambda: screen.view.lines_printed("staging-health") == 20_001)
    b.close()


def test_a_watchers_tick_looks_up_a_local_process_as_tick_does(tmp_path: Path) -> None:
    """An interrupted step whose local process is gone: a watcher's answer is taken, as
    `iact-tui tick`'s is (the same lookup), not refused until a resume."""
    import subprocess

    from iact_tui.tui.screens.watch import send_tick

    gone = subprocess.Popen(["true"])
    gone.wait()  # a process that has ended (its pid not in use now, bar reuse)
    b = runfactory.RunBuilder(tmp_path)
    b.start("staging-health")
    b.append("step_process", step="staging-health", pid=gone.pid, host="", start="1")
    b.append("step_interrupted", step="staging-health", reason="the driver was killed")
    b.pause("interrupted")
    b.close()
    message, ok = send_tick(b.folder, reduce(read_records(b.folder)), "staging-health", "pass",
                            "bob", "done by hand", "")
    assert ok, message
