"""Whole sessions driven through the TUI with Pilot, against real steps: local commands, a
loopback HTTP server and the in-process asyncssh server. Each asserts on the run's report as
well as on the screen."""

from __future__ import annotations

from pathlib import Path

from textual import events
from textual.pilot import Pilot
from textual.widgets import Input, Label

from iact_tui.engine import events as ev
from iact_tui.tui.dialogs.failure import FailureDialog
from iact_tui.tui.dialogs.interrupted import InterruptedDialog
from iact_tui.tui.screens.run import RunScreen
from iact_tui.tui.screens.setup import SetupScreen
from iact_tui.tui.widgets.output_view import OutputView
from iact_tui.tui.widgets.status_bar import RunStatusBar
from tests.tui.harness import (
    Recorder,
    event,
    make_app,
    question,
    report_of,
    run_folder,
    state_of,
    until,
    write_checklist,
)

HEADER = """
schema_version = 1

[checklist]
id = "TUI-TEST"
title = "TUI test"
version = "1.0.0"
roles = ["devops", "tech-lead"]
"""

ROLLBACK_PHASE = """
[[phases]]
id = "rollback"
title = "Rollback"
rollback = true

[[phases.steps]]
id = "restore"
kind = "local"
run = "echo restoring"
"""


async def type_text(pilot: Pilot[int], text: str) -> None:
    await pilot.press(*["space" if c == " " else c for c in text])


async def start_from_form(pilot: Pilot[int], recorder: Recorder) -> None:
    """The start-of-run form: accept it as it is."""
    # the form is on screen: the setup screen was made the active one (it got its ScreenResume)
    await recorder.wait(
        lambda m: isinstance(m, events.ScreenResume) and isinstance(pilot.app.screen, SetupScreen)
    )
    await pilot.pause()
    assert isinstance(pilot.app.screen, SetupScreen)
    await pilot.click("#setup-start-button")
    await recorder.wait(event(ev.RunOpened))
    await pilot.pause()


async def finished(pilot: Pilot[int], recorder: Recorder) -> ev.RunFinished:
    message = await recorder.wait(event(ev.RunFinished))
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    return message.event  # type: ignore[attr-defined,no-any-return]


async def test_manual_tick_to_success(
    tmp_path: Path, recorder: Recorder, http_server, asyncssh_server
) -> None:
    http_server.route("GET", "/api/health", (200, {"status": "healthy", "version": "1.2.3"}))
    server = asyncssh_server
    checklist = write_checklist(
        tmp_path,
        HEADER
        + f"""
        [hosts.staging]
        address = "127.0.0.1"
        port = {server.port}
        user = "{server.user}"
        identity = "{server.client_key_path}"
        known_hosts = "{server.known_hosts}"

        [[phases]]
        id = "pre"
        title = "Pre-deployment"

        [[phases.steps]]
        id = "health"
        kind = "http"
        url = "{http_server.url}/api/health"
        expect_json = {{ status = "healthy" }}
        capture_json = {{ prev_version = "version" }}

        [[phases.steps]]
        id = "uptime"
        kind = "ssh"
        host = "staging"
        run = "echo remote says [ok]; echo done"
        expect_output = "done"

        [[phases.steps]]
        id = "ui-check"
        kind = "manual"
        title = "Check the UI"
        instructions = "Open the site and **look**."
    """,
    )
    app = make_app(tmp_path, checklist)
    async with app.run_test(size=(120, 40), message_hook=recorder) as pilot:
        await start_from_form(pilot, recorder)
        assert isinstance(app.screen, RunScreen)
        await recorder.wait(question("pace", "health"))
        await pilot.press("n")  # run on to the next manual step
        await recorder.wait(question("manual", "ui-check"))
        await pilot.pause()
        assert app.screen.query_one("#manual").display
        await pilot.click("#manual-note")
        await type_text(pilot, "looks fine")
        await pilot.click("#manual-pass")
        done = await finished(pilot, recorder)
        assert done.status == "succeeded"
        status_text = str(app.screen.query_one("#run-state", Label).render())
        assert "succeeded" in status_text
        # the ssh step's output reached the screen as plain text: "[ok]" is not eaten as markup
        app.screen.query_one("#steps").focus()
        app.screen._select("uptime")  # type: ignore[attr-defined]
        await pilot.pause()
        assert any("remote says [ok]" in line for line in app.screen.query_one(OutputView).lines)
        await pilot.press("q")
    assert app.return_code == 0
    folder = run_folder(app)
    state = state_of(folder)
    assert state.status == "succeeded"
    assert state.steps["ui-check"].ticked_by == "ana"
    assert state.steps["ui-check"].note == "looks fine"
    assert state.steps["uptime"].status == "passed"
    assert state.captures["prev_version"] == "1.2.3"
    assert state.hosts["staging"]["fingerprint"].startswith("SHA256:")


async def test_failing_step_retried_to_success(tmp_path: Path, recorder: Recorder) -> None:
    marker = tmp_path / "tried-once"
    checklist = write_checklist(
        tmp_path,
        HEADER
        + f"""
        [[phases]]
        id = "deploy"
        title = "Deploy"

        [[phases.steps]]
        id = "flaky"
        kind = "local"
        run = "if [ -e '{marker}' ]; then echo second time lucky; else touch '{marker}'; echo 'ERROR: database is locked'; exit 3; fi"

        [[phases.steps]]
        id = "after"
        kind = "local"
        run = "echo after"

        [[troubleshooting]]
        id = "locked"
        title = "The database is locked"
        pattern = "database is locked"
        advice = "Wait for the other migration to finish, then **retry**."
    """,
    )
    app = make_app(tmp_path, checklist)
    async with app.run_test(size=(100, 32), message_hook=recorder) as pilot:
        await start_from_form(pilot, recorder)
        await recorder.wait(question("pace"))
        await pilot.press("n")
        await recorder.wait(question("failure", "flaky"))
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, FailureDialog)
        tail = str(dialog.query_one("#failure-tail").render())
        assert "ERROR: database is locked" in tail
        assert any("database is locked" in title for title, _ in dialog.failure.hints)
        await pilot.click("#retry")
        done = await finished(pilot, recorder)
        assert done.status == "succeeded"
        await pilot.press("q")
    assert app.return_code == 0
    state = state_of(run_folder(app))
    assert state.steps["flaky"].attempts == 2
    assert state.steps["flaky"].status == "passed"
    assert state.steps["after"].status == "passed"
    decisions = [r for r in report_of(run_folder(app))["events"] if r["type"] == "failure_decision"]
    assert [d["decision"] for d in decisions] == ["retry"]


async def test_skip_with_a_reason(tmp_path: Path, recorder: Recorder) -> None:
    checklist = write_checklist(
        tmp_path,
        HEADER
        + """
        [[phases]]
        id = "deploy"
        title = "Deploy"

        [[phases.steps]]
        id = "broken"
        kind = "local"
        run = "echo nope; exit 1"

        [[phases.steps]]
        id = "after"
        kind = "local"
        run = "echo after"
    """,
    )
    app = make_app(tmp_path, checklist)
    async with app.run_test(size=(100, 32), message_hook=recorder) as pilot:
        await start_from_form(pilot, recorder)
        await recorder.wait(question("pace"))
        await pilot.press("r")  # one step
        await recorder.wait(question("failure", "broken"))
        await pilot.pause()
        await pilot.click("#skip")  # without a reason: refused on the dialog
        await pilot.pause()
        assert isinstance(app.screen, FailureDialog)
        assert app.screen.query_one("#failure-error").display
        await type_text(pilot, "done by hand")
        await pilot.click("#skip")
        await recorder.wait(question("pace", "after"))
        await pilot.press("r")
        done = await finished(pilot, recorder)
        assert done.status == "succeeded"
    report = report_of(run_folder(app))
    broken = next(s for s in report["steps"] if s["id"] == "broken")
    assert broken["status"] == "skipped"
    assert broken["skip_reason"] == "done by hand"
    assert broken["skipped_by"] == "ana"


async def test_failure_leads_to_rollback(tmp_path: Path, recorder: Recorder) -> None:
    checklist = write_checklist(
        tmp_path,
        HEADER
        + """
        [[phases]]
        id = "deploy"
        title = "Deploy"

        [[phases.steps]]
        id = "migrate"
        kind = "local"
        run = "echo 'migration 0042 failed'; exit 1"
        on_failure = "rollback"

        [[phases.steps]]
        id = "restart"
        kind = "local"
        run = "echo restart"
    """
        + ROLLBACK_PHASE,
    )
    app = make_app(tmp_path, checklist)
    async with app.run_test(size=(100, 32), message_hook=recorder) as pilot:
        await start_from_form(pilot, recorder)
        await recorder.wait(question("pace"))
        await pilot.press("n")
        await recorder.wait(question("failure", "migrate"))
        await pilot.pause()
        assert (
            app.screen.focused is not None and app.screen.focused.id == "rollback"
        )  # the checklist's advice
        await pilot.click("#rollback")
        await pilot.pause()
        await pilot.click("#yes")  # the confirmation
        done = await finished(pilot, recorder)
        assert done.status == "rolled_back"
        await pilot.press("q")
    assert app.return_code == 1
    state = state_of(run_folder(app))
    assert state.rollback_started
    assert state.steps["restore"].status == "passed"
    assert state.steps["restart"].status == "not_applicable"
    assert state.steps["migrate"].decision == "rollback"


async def test_rollback_and_abort_from_the_keys_ask_first(
    tmp_path: Path, recorder: Recorder
) -> None:
    checklist = write_checklist(
        tmp_path,
        HEADER
        + """
        [[phases]]
        id = "deploy"
        title = "Deploy"

        [[phases.steps]]
        id = "one"
        kind = "local"
        run = "echo one"

        [[phases.steps]]
        id = "two"
        kind = "local"
        run = "echo two"
    """
        + ROLLBACK_PHASE,
    )
    app = make_app(tmp_path, checklist)
    async with app.run_test(size=(100, 32), message_hook=recorder) as pilot:
        await start_from_form(pilot, recorder)
        await recorder.wait(question("pace", "one"))
        await pilot.press("a")  # abort asks first; "No" leaves the run as it was
        await pilot.pause()
        await pilot.click("#no")
        await pilot.pause()
        assert app.run_view is not None and app.run_view.state.status == "running"
        # a rollback undoes what the run changed: let step one change the target first
        await pilot.press("r")
        await recorder.wait(question("pace", "two"))
        await pilot.press("b")
        await pilot.pause()
        await pilot.click("#yes")
        await recorder.wait(question("pace", "restore"))
        await pilot.press("r")
        done = await finished(pilot, recorder)
        assert done.status == "rolled_back"
    state = state_of(run_folder(app))
    assert state.steps["one"].status == "passed"
    assert state.steps["two"].status == "not_applicable"
    assert state.steps["restore"].status == "passed"
    assert "requested by ana" in state.rollback_reason


async def test_four_eyes_refusal(tmp_path: Path, recorder: Recorder) -> None:
    checklist = write_checklist(
        tmp_path,
        HEADER
        + """
        [[phases]]
        id = "pre"
        title = "Pre-deployment"

        [[phases.steps]]
        id = "tech-lead-approval"
        kind = "manual"
        title = "Tech Lead approval"
        role = "tech-lead"
        four_eyes = true
    """,
    )
    app = make_app(tmp_path, checklist)
    async with app.run_test(size=(100, 32), message_hook=recorder) as pilot:
        await start_from_form(pilot, recorder)
        await recorder.wait(question("pace"))
        await pilot.press("n")
        await recorder.wait(question("manual", "tech-lead-approval"))
        await pilot.pause()
        await pilot.press("p")  # nobody typed an approver: the operator would approve their own run
        refusal = app.screen.query_one("#manual-refusal", Label)
        await until(app.screen, lambda: bool(refusal.display))  # said on the panel, not sent
        assert "four eyes" in str(refusal.render())
        prompt = str(app.screen.query_one("#manual-prompt", Label).render())
        assert "iact-tui tick" in prompt  # how another person answers it
        assert all(n.level != "error" for n in recorder.events(ev.Notice))  # the runner was not asked
        assert app.run_view is not None
        assert app.run_view.state.steps["tech-lead-approval"].status == "waiting"
        await pilot.click("#manual-approver")
        await type_text(pilot, "bea")
        await pilot.click("#manual-pass")
        done = await finished(pilot, recorder)
        assert done.status == "succeeded"
    state = state_of(run_folder(app))
    assert state.steps["tech-lead-approval"].ticked_by == "bea"
    assert state.approvers["tech-lead-approval"] == "bea (tech-lead)"


async def test_resume_of_an_interrupted_run(tmp_path: Path, recorder: Recorder) -> None:
    from tests.tui.runs import interrupted_run

    folder = interrupted_run(tmp_path)
    app = make_app(tmp_path, run_ref=str(folder))
    async with app.run_test(size=(100, 32), message_hook=recorder) as pilot:
        await recorder.wait(question("interrupted", "migrate"))
        await pilot.pause()
        assert isinstance(app.screen, InterruptedDialog)
        await pilot.click("#interrupted-note")
        await type_text(pilot, "checked showmigrations")
        await pilot.click("#done")
        await recorder.wait(question("pace", "restart"))
        await pilot.press("n")
        done = await finished(pilot, recorder)
        assert done.status == "succeeded"
    state = state_of(folder)
    assert state.steps["migrate"].status == "passed"
    assert state.steps["migrate"].note == "checked showmigrations"
    assert state.steps["restart"].status == "passed"
    types = [r["type"] for r in report_of(folder)["events"]]
    assert "run_resumed" in types and "step_interrupted" in types


async def test_resume_of_a_changed_checklist_asks_and_records(
    tmp_path: Path, recorder: Recorder
) -> None:
    from tests.tui.runs import change_step, interrupted_run

    folder = interrupted_run(tmp_path)
    change_step(folder, "echo restarted", "echo restarted twice")
    app = make_app(tmp_path, run_ref=str(folder))
    async with app.run_test(size=(100, 32), message_hook=recorder) as pilot:
        await pilot.pause()
        changes = str(app.screen.query_one("#changes-list").render())
        assert "step 'restart': run changed" in changes
        await pilot.click("#use-new")
        await recorder.wait(question("interrupted", "migrate"))
        await pilot.pause()
        await pilot.click("#rerun")
        await recorder.wait(question("pace"))
        await pilot.press("n")
        await finished(pilot, recorder)
    records = report_of(folder)["events"]
    changed = [r for r in records if r["type"] == "checklist_changed"]
    assert changed and changed[0]["decision"] == "use-new"
    assert any(
        "echo restarted twice" in r.get("command", "")
        for r in records
        if r["type"] == "step_started"
    )


async def test_quit_while_waiting_pauses_the_run(tmp_path: Path, recorder: Recorder) -> None:
    checklist = write_checklist(
        tmp_path,
        HEADER
        + """
        [[phases]]
        id = "pre"
        title = "Pre-deployment"

        [[phases.steps]]
        id = "look"
        kind = "manual"
    """,
    )
    app = make_app(tmp_path, checklist)
    async with app.run_test(size=(100, 32), message_hook=recorder) as pilot:
        await start_from_form(pilot, recorder)
        await recorder.wait(question("pace"))
        await pilot.press("n")
        await recorder.wait(question("manual", "look"))
        await pilot.press("q")
        await recorder.wait(event(ev.RunPaused))
        await app.workers.wait_for_complete()
        await pilot.pause()
    assert app.return_code == 3
    state = state_of(run_folder(app))
    assert state.status == "paused"
    assert "iact-tui tick" in state.pause_reason
    assert any("iact-tui resume" in text for text, _ in app.final_lines)


async def test_cancel_a_running_step(tmp_path: Path, recorder: Recorder) -> None:
    checklist = write_checklist(
        tmp_path,
        HEADER
        + """
        [[phases]]
        id = "deploy"
        title = "Deploy"

        [[phases.steps]]
        id = "slow"
        kind = "local"
        run = "echo started; exec sleep 60"
    """,
    )
    app = make_app(tmp_path, checklist)
    async with app.run_test(size=(100, 32), message_hook=recorder) as pilot:
        await start_from_form(pilot, recorder)
        await recorder.wait(question("pace"))
        await pilot.press("r")
        # the command runs once its first line is on screen
        await recorder.wait(
            lambda _m: any("started" == line for line in app.screen.query_one(OutputView).lines)
        )
        await pilot.press("x")
        await recorder.wait(question("failure", "slow"))
        await pilot.pause()
        assert "cancelled" in str(app.screen.query_one("#failure-message").render())
        await pilot.press("escape")  # decide later: the run keeps waiting, the keys answer
        await pilot.pause()
        assert isinstance(app.screen, RunScreen)
        await pilot.press("a")
        await pilot.pause()
        await pilot.click("#yes")
        done = await finished(pilot, recorder)
        assert done.status == "aborted"
        assert "aborted" in str(app.screen.query_one(RunStatusBar).query_one("#run-state").render())
    state = state_of(run_folder(app))
    assert state.status == "aborted"
    assert "cancelled" in state.steps["slow"].message


async def test_setup_form_masks_secrets_and_requires_values(
    tmp_path: Path, recorder: Recorder
) -> None:
    checklist = write_checklist(
        tmp_path,
        HEADER
        + """
        [vars.branch]
        default = "develop"
        prompt = "Branch to deploy"

        [vars.password]
        secret = true
        prompt = "Smoke test password"

        [[phases]]
        id = "pre"
        title = "Pre-deployment"

        [[phases.steps]]
        id = "show"
        kind = "local"
        run = "echo branch={branch} password={password}"
    """,
    )
    app = make_app(tmp_path, checklist)
    async with app.run_test(size=(100, 32), message_hook=recorder) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, SetupScreen)
        secret = app.screen.query_one("#var-password", Input)
        assert secret.password
        await pilot.click("#setup-start-button")  # the secret is still empty: refused on the form
        await pilot.pause()
        assert isinstance(app.screen, SetupScreen)
        assert "needs a value" in str(app.screen.query_one("#setup-error", Label).render())
        await pilot.click("#var-branch")
        await pilot.press("ctrl+a", "backspace")  # clear the default, then type another branch
        app.screen.query_one("#var-branch", Input).value = ""
        await type_text(pilot, "release")
        await pilot.click("#var-password")
        await type_text(pilot, "hunter2")
        await pilot.click("#setup-start-button")
        await recorder.wait(question("pace"))
        await pilot.press("r")
        await finished(pilot, recorder)
        shown = "\n".join(app.screen.query_one(OutputView).lines)
        assert "branch=release password=***" in shown
    folder = run_folder(app)
    assert "hunter2" not in (folder / "report.toml").read_text()
    assert "hunter2" not in (folder / "logs" / "show.log").read_text()
    assert state_of(folder).info["variables"]["branch"] == "release"


async def test_quit_while_a_step_runs_asks_then_records_it_interrupted(
    tmp_path: Path, recorder: Recorder
) -> None:
    checklist = write_checklist(
        tmp_path,
        HEADER
        + """
        [[phases]]
        id = "deploy"
        title = "Deploy"

        [[phases.steps]]
        id = "slow"
        kind = "local"
        run = "echo started; exec sleep 60"
    """,
    )
    app = make_app(tmp_path, checklist)
    async with app.run_test(size=(100, 32), message_hook=recorder) as pilot:
        await start_from_form(pilot, recorder)
        await recorder.wait(question("pace"))
        await pilot.press("r")
        await recorder.wait(
            lambda _m: any("started" == line for line in app.screen.query_one(OutputView).lines)
        )
        await pilot.press("q")
        await pilot.pause()
        await pilot.click("#yes")  # "Stop it and quit"
        await recorder.wait(event(ev.RunPaused))
        await app.workers.wait_for_complete()
        await pilot.pause()
    assert app.return_code == 130
    state = state_of(run_folder(app))
    assert state.status == "paused"
    assert state.steps["slow"].status == "interrupted"
