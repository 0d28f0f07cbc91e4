"""The rollback (issue 10, items 9-11): headless decisions persist across resumes, a rollback
undoes only what the run changed, `resume --rollback --reason`, and the shipped rollback acts
before it asks and restarts the app once, on the previous code and the previous schema."""

from __future__ import annotations

from pathlib import Path

from iact_tui.engine.checklist.load import load_checklist
from iact_tui.engine.record.store import read_records
from tests.helpers import HEADER, ROOT, cli, only_run, report_of, state_of, write_checklist

STAGING = ROOT / "checklists" / "staging.toml"

# pre (reads) -> gate (person) -> change (changes the target) -> flaky (fails) ; rollback: undo
CHECKLIST = HEADER + """
[vars.marker]
default = ""

[[phases]]
id = "pre"
title = "Pre-checks"

[[phases.steps]]
id = "precheck"
kind = "local"
run = "test -z '{marker}' || test -e {marker}"
changes_target = false

[[phases]]
id = "deploy"
title = "Deploy"

[[phases.steps]]
id = "gate"
kind = "manual"
instructions = "Go on?"

[[phases.steps]]
id = "change"
kind = "local"
run = "echo changed"
capture = { prev = "^(changed)$" }

[[phases.steps]]
id = "flaky"
kind = "local"
run = "echo nope; exit 3"

[[phases]]
id = "rb"
title = "Rollback"
rollback = true

[[phases.steps]]
id = "undo"
kind = "local"
run = "echo undoing {prev} because {rollback_reason}"
"""


def _start(tmp_path: Path, *args: str) -> tuple[Path, Path]:
    checklist = write_checklist(tmp_path, CHECKLIST)
    runs = tmp_path / "runs"
    first = cli("run", str(checklist), "--headless", "--runs-dir", str(runs), *args)
    assert first.returncode == 3, first.stdout + first.stderr  # at the gate
    folder = only_run(runs)
    assert cli("tick", folder.name, "gate", "--runs-dir", str(runs)).returncode == 0
    return runs, folder


def _types(folder: Path) -> list[str]:
    return [r["type"] for r in read_records(folder)]


# -- 9: --on-failure is remembered ------------------------------------------------------------


def test_on_failure_rollback_given_at_start_holds_on_a_later_resume(tmp_path: Path) -> None:
    runs, folder = _start(tmp_path, "--on-failure", "rollback")
    assert state_of(folder).on_failure == "rollback"
    resumed = cli("resume", folder.name, "--headless", "--runs-dir", str(runs))  # no option now
    assert resumed.returncode == 1, resumed.stdout + resumed.stderr
    state = state_of(folder)
    assert state.status == "rolled_back"  # before: failed, stopped without rolling back
    assert state.steps["undo"].status == "passed"
    assert "flaky" in state.rollback_reason
    created = report_of(folder)["events"][0]
    assert (created["type"], created["on_failure"]) == ("run_created", "rollback")


def test_an_explicit_on_failure_on_resume_overrides_and_is_remembered(tmp_path: Path) -> None:
    runs, folder = _start(tmp_path, "--on-failure", "rollback")
    stopped = cli("resume", folder.name, "--headless", "--runs-dir", str(runs), "--on-failure", "stop")
    assert stopped.returncode == 1
    state = state_of(folder)
    assert (state.status, state.rollback_started, state.on_failure) == ("failed", False, "stop")
    resumed = [r for r in read_records(folder) if r["type"] == "run_resumed"]
    assert resumed[-1]["on_failure"] == "stop"  # recorded
    again = cli("resume", folder.name, "--headless", "--runs-dir", str(runs))
    assert again.returncode == 1
    assert state_of(folder).status == "failed" and not state_of(folder).rollback_started
    assert "on_failure" not in [r for r in read_records(folder) if r["type"] == "run_resumed"][-1]


# -- 10: a rollback undoes only what the run changed ------------------------------------------


def test_a_failed_pre_check_with_on_failure_rollback_has_nothing_to_roll_back(tmp_path: Path) -> None:
    checklist = write_checklist(tmp_path, CHECKLIST)
    runs = tmp_path / "runs"
    result = cli("run", str(checklist), "--headless", "--runs-dir", str(runs), "--on-failure", "rollback",
                 "--var", f"marker={tmp_path / 'absent'}")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "nothing to roll back: no step that changes the target has run yet" in result.stdout
    folder = only_run(runs)
    state = state_of(folder)
    assert state.status == "failed"  # before: rolled back, running the rollback steps
    assert not state.rollback_started
    assert state.steps["undo"].status == "pending"  # no rollback step ran
    assert state.steps["precheck"].status == "failed"
    assert "rollback_not_needed" in _types(folder) and "rollback_started" not in _types(folder)
    # still resumable: once the pre-check passes, the run goes on
    (tmp_path / "absent").write_text("")
    assert cli("resume", folder.name, "--headless", "--runs-dir", str(runs)).returncode == 3  # the gate


def test_resume_rollback_before_anything_changed_has_nothing_to_roll_back(tmp_path: Path) -> None:
    checklist = write_checklist(tmp_path, CHECKLIST)
    runs = tmp_path / "runs"
    assert cli("run", str(checklist), "--headless", "--runs-dir", str(runs)).returncode == 3
    folder = only_run(runs)
    result = cli("resume", folder.name, "--headless", "--runs-dir", str(runs), "--rollback")
    assert result.returncode == 1
    assert "nothing to roll back" in result.stdout
    assert state_of(folder).status == "failed" and not state_of(folder).rollback_started


CAPTURE_FAILS = HEADER + """
[[phases]]
id = "deploy"
title = "Deploy"

[[phases.steps]]
id = "change"
kind = "local"
run = "echo changed"

[[phases.steps]]
id = "backup"
kind = "local"
run = "echo no backup today; exit 1"
capture = { backup_file = '(\\S+\\.sql)$' }
on_failure = "rollback"

[[phases]]
id = "rb"
title = "Rollback"
rollback = true

[[phases.steps]]
id = "restore"
kind = "local"
run = "cat {backup_file}"

[[phases.steps]]
id = "undo"
kind = "local"
run = "echo undone"
"""


def test_a_rollback_step_whose_input_was_never_captured_is_skipped_not_failed(tmp_path: Path) -> None:
    checklist = write_checklist(tmp_path, CAPTURE_FAILS)
    runs = tmp_path / "runs"
    result = cli("run", str(checklist), "--headless", "--runs-dir", str(runs), "--on-failure", "rollback")
    assert result.returncode == 1, result.stdout + result.stderr
    folder = only_run(runs)
    state = state_of(folder)
    assert state.status == "rolled_back"  # before: failed at restore ("{backup_file} has no value yet")
    restore = state.steps["restore"]
    assert restore.status == "skipped" and restore.attempts == 0
    assert restore.skip_reason == "nothing to undo: it needs {backup_file}, which this run never captured"
    assert restore.skipped_by == "iact-tui"
    assert state.steps["undo"].status == "passed"
    assert "skipped restore by iact-tui: nothing to undo" in result.stdout


# -- 11: resume --rollback --reason -----------------------------------------------------------


def test_resume_rollback_reason_reaches_the_record_and_the_rollback_steps(tmp_path: Path) -> None:
    runs, folder = _start(tmp_path)
    assert cli("resume", folder.name, "--headless", "--runs-dir", str(runs)).returncode == 1  # flaky failed
    reason = "error rate 7% since the deploy"
    result = cli("resume", folder.name, "--headless", "--runs-dir", str(runs), "--rollback", "--reason", reason)
    assert result.returncode == 1, result.stdout + result.stderr
    state = state_of(folder)
    assert state.status == "rolled_back"
    assert state.rollback_reason == reason
    started = [r for r in read_records(folder) if r["type"] == "rollback_started"]
    assert [r["reason"] for r in started] == [reason]
    assert state.steps["undo"].output_tail == [f"undoing changed because {reason}"]
    assert f"rollback started: {reason}" in result.stdout


def test_reason_without_rollback_is_bad_input(tmp_path: Path) -> None:
    runs, folder = _start(tmp_path)
    result = cli("resume", folder.name, "--headless", "--runs-dir", str(runs), "--reason", "why not")
    assert result.returncode == 2
    assert "--reason goes with --rollback" in result.stderr
    assert "Traceback" not in result.stderr


# -- 10: the shipped rollback -----------------------------------------------------------------


def test_the_shipped_rollback_acts_first_and_restarts_once_after_code_and_schema_are_back() -> None:
    c = load_checklist(STAGING).checklist
    rollback = [p for p in c.phases if p.rollback]
    order = [s for p in rollback for _, s in p.all_steps()]
    ids = [s.id for s in order]
    # nothing waits for a person before the app is back and verified
    verified = ids.index("rollback-smoke-me")
    assert [s.id for s in order[: verified + 1] if s.kind == "manual"] == []
    assert ids.index("rollback-symptoms") > verified
    # one restart of the app, after migrations back (which need the new code's files) and code back
    restarts = [s.id for s in order if getattr(s, "run", "") == "{restart_app_cmd}"]
    assert restarts == ["rollback-restart-app"]
    assert ids.index("rollback-migrate") < ids.index("rollback-checkout") < ids.index("rollback-restart-app")
    assert ids.index("rollback-restore-db") < ids.index("rollback-restart-app") < ids.index("rollback-health")
    # the restart is not one of the options: it runs whichever options are chosen
    restart_phase = c.phase_of("rollback-restart-app")
    assert restart_phase[1] is None and not restart_phase[0].alternatives


ROLLBACK_STEP_FAILS = HEADER + """
[vars.fixed]
default = ""

[[phases]]
id = "deploy"
title = "Deploy"

[[phases.steps]]
id = "change"
kind = "local"
run = "echo changed; exit 1"

[[phases]]
id = "rb"
title = "Rollback"
rollback = true

[[phases.steps]]
id = "undo-a"
kind = "local"
run = "test -e {fixed}"

[[phases.steps]]
id = "undo-b"
kind = "local"
run = "echo undone"
"""


def test_a_failed_rollback_step_is_retried_by_a_plain_resume_and_the_rollback_goes_on(tmp_path: Path) -> None:
    """docs/checklist-format.md, "When a rollback step fails": resume retries it."""
    checklist = write_checklist(tmp_path, ROLLBACK_STEP_FAILS)
    runs = tmp_path / "runs"
    fixed = tmp_path / "fixed"
    first = cli("run", str(checklist), "--headless", "--runs-dir", str(runs), "--on-failure", "rollback",
                "--var", f"fixed={fixed}")
    assert first.returncode == 1
    folder = only_run(runs)
    state = state_of(folder)
    assert (state.status, state.rollback_started, state.steps["undo-a"].status) == ("failed", True, "failed")
    assert state.steps["undo-b"].status == "pending"
    fixed.write_text("")
    again = cli("resume", folder.name, "--headless", "--runs-dir", str(runs))
    assert again.returncode == 1, again.stdout + again.stderr
    state = state_of(folder)
    assert state.status == "rolled_back"
    assert [r["type"] for r in read_records(folder)].count("rollback_started") == 1  # not started again
    assert (state.steps["undo-a"].status, state.steps["undo-a"].attempts) == ("passed", 2)
    assert state.steps["undo-b"].status == "passed"


def test_a_failed_rollback_step_skipped_with_a_reason_lets_the_rollback_finish(tmp_path: Path) -> None:
    checklist = write_checklist(tmp_path, ROLLBACK_STEP_FAILS)
    runs = tmp_path / "runs"
    cli("run", str(checklist), "--headless", "--runs-dir", str(runs), "--on-failure", "rollback",
        "--var", f"fixed={tmp_path / 'never'}")
    folder = only_run(runs)
    skipped = cli("tick", folder.name, "undo-a", "--skip", "--reason", "undone by hand on the host",
                  "--runs-dir", str(runs), "--as", "carol")
    assert skipped.returncode == 0, skipped.stderr
    done = cli("resume", folder.name, "--headless", "--runs-dir", str(runs))
    assert done.returncode == 1
    state = state_of(folder)
    assert state.status == "rolled_back"
    assert (state.steps["undo-a"].status, state.steps["undo-a"].skip_reason) == ("skipped", "undone by hand on the host")
    assert state.steps["undo-b"].status == "passed"
