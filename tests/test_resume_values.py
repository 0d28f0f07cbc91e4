"""Resume never runs with a masked value (issue 10, item 3).

Variables are recorded exactly as given; the values that could not be recorded exactly (a
secret too short to mask by value, a plain value that contains a secret) are refused at start
with exit 2, and a run recorded masked by an older version is refused on resume until the real
value is given back."""

from __future__ import annotations

from pathlib import Path

from iact_tui.engine.checklist.load import load_checklist
from iact_tui.engine.checklist.values import MIN_SECRET_LENGTH, Values, unsafe_values
from iact_tui.engine.record.store import RunStore, read_records
from iact_tui.engine.run.plan import plan_of
from tests.helpers import HEADER, cli, only_run, report_of, state_of, write_checklist

CHECKLIST = HEADER + """
[vars.branch]
default = "develop"

[vars.pw]
secret = true
env = "T_PW"

[[phases]]
id = "one"
title = "One"

[[phases.steps]]
id = "gate"
kind = "manual"
instructions = "Go on?"

[[phases.steps]]
id = "deploy"
kind = "local"
run = "echo deploying={branch}"
expect_output = "^deploying=release-1\\\\.2$"
"""


def _run(tmp_path: Path, *args: str, env: dict[str, str]) -> tuple[object, Path]:
    checklist = write_checklist(tmp_path, CHECKLIST)
    runs = tmp_path / "runs"
    return cli("run", str(checklist), "--headless", "--runs-dir", str(runs), *args, env=env), runs


def test_the_issues_case_a_one_character_secret_is_refused_at_start(tmp_path: Path) -> None:
    # before: recorded as release-***.2, and the resumed deploy step ran with that text
    result, runs = _run(tmp_path, "--var", "branch=release-1.2", env={"T_PW": "1"})
    assert result.returncode == 2, result.stdout + result.stderr  # type: ignore[attr-defined]
    err = result.stderr  # type: ignore[attr-defined]
    assert f"the secret 'pw' is 1 character long: secrets shorter than {MIN_SECRET_LENGTH} characters" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not runs.exists() or not any(runs.iterdir())  # nothing recorded


def test_a_plain_value_that_contains_a_secret_is_refused_at_start(tmp_path: Path) -> None:
    result, runs = _run(tmp_path, "--var", "branch=release-hunter2-x", env={"T_PW": "hunter2"})
    assert result.returncode == 2
    err = result.stderr  # type: ignore[attr-defined]
    assert "variable 'branch' contains the value of the secret 'pw'" in err
    assert "hunter2" not in err + result.stdout  # type: ignore[attr-defined]
    assert not runs.exists() or not any(runs.iterdir())


def test_the_dry_run_refuses_the_same_values(tmp_path: Path) -> None:
    result, _ = _run(tmp_path, "--dry-run", "--var", "branch=release-1.2", env={"T_PW": "1"})
    assert result.returncode == 2
    assert "the secret 'pw' is 1 character long" in result.stderr  # type: ignore[attr-defined]


def test_resume_runs_with_exactly_the_values_the_run_started_with(tmp_path: Path) -> None:
    env = {"T_PW": "a-long-enough-secret"}
    first, runs = _run(tmp_path, "--var", "branch=release-1.2", env=env)
    assert first.returncode == 3, first.stderr  # type: ignore[attr-defined]
    folder = only_run(runs)
    assert report_of(folder)["run"]["variables"] == {"branch": "release-1.2"}
    assert cli("tick", folder.name, "gate", "--runs-dir", str(runs)).returncode == 0
    done = cli("resume", folder.name, "--headless", "--runs-dir", str(runs), env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert state_of(folder).steps["deploy"].output_tail == ["deploying=release-1.2"]


def test_a_secret_given_on_resume_is_checked_against_the_recorded_values(tmp_path: Path) -> None:
    first, runs = _run(tmp_path, "--var", "branch=release-1.2", env={"T_PW": "a-long-enough-secret"})
    assert first.returncode == 3
    folder = only_run(runs)
    assert cli("tick", folder.name, "gate", "--runs-dir", str(runs)).returncode == 0
    records = len(read_records(folder))
    # this secret is inside the recorded branch: masking it would change what the deploy shows
    refused = cli("resume", folder.name, "--headless", "--runs-dir", str(runs), env={"T_PW": "ease-1"})
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "variable 'branch' contains the value of the secret 'pw'" in refused.stderr
    assert len(read_records(folder)) == records  # refused before anything was recorded


def _old_run_with_a_masked_value(tmp_path: Path) -> tuple[Path, Path]:
    """A run as the first release recorded it: the branch masked where it contained the secret."""
    checklist = write_checklist(tmp_path, CHECKLIST)
    loaded = load_checklist(checklist)
    runs = tmp_path / "runs"
    created = {
        "checklist_id": "T-1",
        "checklist_title": "Test checklist",
        "checklist_version": "1.0.0",
        "checklist_sha256": loaded.sha256,
        "checklist_path": str(checklist.resolve()),
        "operator": "alice",
        "machine": "test",
        "mode": "headless",
        "variables": {"branch": "release-***.2"},
        "secret_variables": ["pw"],
        "plan": plan_of(loaded.checklist),
    }
    store = RunStore.create(runs, "20251117T140000Z-t-1-0001", loaded.text, created)
    store.append("step_waiting", step="gate")
    store.append("step_ticked", step="gate", result="passed", by="alice")
    store.append("run_paused", reason="waits for a person")
    store.compact()
    store.lock.release()
    return runs, store.folder


def test_a_run_recorded_masked_is_not_resumed_with_the_masked_text(tmp_path: Path) -> None:
    runs, folder = _old_run_with_a_masked_value(tmp_path)
    env = {"T_PW": "1.2-secret"}
    refused = cli("resume", folder.name, "--headless", "--runs-dir", str(runs), env=env)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "variable 'branch' was recorded masked ('release-***.2')" in refused.stderr
    assert "--var branch=VALUE" in refused.stderr
    assert state_of(folder).steps["deploy"].status == "pending"  # the deploy never ran
    # given back, the run goes on with it
    done = cli("resume", folder.name, "--headless", "--runs-dir", str(runs), "--var", "branch=release-1.2",
               env={"T_PW": "another-secret"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert state_of(folder).steps["deploy"].output_tail == ["deploying=release-1.2"]


def test_unsafe_values_sees_every_form_the_masker_hides(tmp_path: Path) -> None:
    loaded = load_checklist(write_checklist(tmp_path, CHECKLIST))
    url_encoded = Values.resolve(loaded.checklist, {"branch": "x%2Fy-z"}, environ={"T_PW": "x/y-z"})
    assert unsafe_values(url_encoded) == [
        "variable 'branch' contains the value of the secret 'pw': it would be recorded masked and a "
        "resume would run with the masked text; use another value for 'branch' or for 'pw'"
    ]
    fine = Values.resolve(loaded.checklist, {"branch": "release-1.2"}, environ={"T_PW": "abcd"})
    assert unsafe_values(fine) == []
    assert fine.public() == {"branch": "release-1.2"}  # exactly as given
    no_secret = Values.resolve(loaded.checklist, {"branch": "release-1.2"}, environ={})
    assert unsafe_values(no_secret) == []  # a secret not given yet is checked when it is
