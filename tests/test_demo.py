"""`iact-tui demo`: checklists/staging.toml end to end against the sandbox, as a user runs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from iact_tui.demo.checklist import SOURCE_CHECKOUT, demo_checklist_path, packaged_checklist
from iact_tui.demo.project import RELEASE_VERSION, STAGING_VERSION
from tests.helpers import ROOT, cli, only_run, report_of

pytestmark = pytest.mark.timeout(120)

ROLLBACK_STEPS = [  # in the order they run
    "rollback-migrate",
    "rollback-checkout",
    "rollback-restore-db",
    "rollback-restart-app",
    "rollback-restart-worker",
    "rollback-health",
    "rollback-db-check",
    "rollback-cache-check",
    "rollback-smoke-login",
    "rollback-smoke-me",
    "notify-rollback",
    "rollback-symptoms",
    "root-cause",
]


def demo(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], Path, Path]:
    """Run the demo with its own TMPDIR (to see that nothing is left in it) and runs folder."""
    temp, runs = tmp_path / "tmp", tmp_path / "runs"
    temp.mkdir()
    done = cli(
        "demo",
        "--headless",
        "--auto-tick",
        "--runs-dir",
        str(runs),
        *args,
        env={"TMPDIR": str(temp)},
        timeout=100,
    )
    return done, temp, runs


def steps_of(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in report["steps"]}


def captures_of(report: dict[str, Any]) -> dict[str, str]:
    return dict(report["run"]["captures"])


def test_demo_runs_the_whole_checklist_and_succeeds(tmp_path: Path) -> None:
    done, temp, runs = demo(tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert done.stdout.startswith("Sandbox: ")  # the sandbox is named before anything runs
    assert done.stdout.splitlines()[1].startswith("run ")
    report = report_of(only_run(runs))
    assert report["run"]["status"] == "succeeded"
    assert report["run"]["checklist_path"].endswith("staging.toml")
    statuses = {s["id"]: s["status"] for s in report["steps"]}
    assert set(statuses.values()) <= {"passed", "not_applicable"}, statuses
    for step in (
        "staging-health",
        "db-backup",
        "pull-code",
        "migrate",
        "restart-app",
        "health",
        "smoke-me",
        "app-logs",
    ):
        assert statuses[step] == "passed"
    manual = [
        s for s in report["steps"] if s["kind"] in ("manual", "notify") and s["status"] == "passed"
    ]
    assert manual and all(s["ticked_by"] == "demo operator" for s in manual)
    assert all("auto-tick" in s["note"] and "sandbox" in s["note"] for s in manual)
    captures = captures_of(report)
    assert captures["prev_version"] == STAGING_VERSION
    assert captures["new_version"] == RELEASE_VERSION
    assert f'"version": "{RELEASE_VERSION}"' in done.stdout.splitlines()[-1]
    assert "smoke_password" not in report["run"]["variables"]
    assert os.listdir(temp) == []


def _assert_rolled_back(
    done: subprocess.CompletedProcess[str], runs: Path, failed_step: str
) -> dict[str, Any]:
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr
    report = report_of(only_run(runs))
    assert report["run"]["status"] == "rolled_back"
    steps = steps_of(report)
    assert steps[failed_step]["status"] == "failed"
    assert [sid for sid in ROLLBACK_STEPS if steps[sid]["status"] != "passed"] == []
    # in this order: the options, then one restart (on the previous code and schema), then the
    # checks, and only then what waits for a person (the symptoms of 6.1 included)
    first_seen: list[str] = []
    for event in report["events"]:
        if event.get("step") in ROLLBACK_STEPS and event["step"] not in first_seen:
            first_seen.append(event["step"])
    assert first_seen == ROLLBACK_STEPS
    restart = "\n".join(steps["rollback-restart-app"]["output_tail"])
    assert f"the sandbox app now serves IACT {STAGING_VERSION}" in restart
    captures = captures_of(report)
    assert captures["rolled_back_version"] == captures["prev_version"] == STAGING_VERSION
    last = done.stdout.splitlines()[-1]
    assert last.startswith("sandbox: /api/health now answers 200")
    assert f'"version": "{STAGING_VERSION}"' in last
    return report


def test_break_health_rolls_back_and_the_previous_version_answers(tmp_path: Path) -> None:
    done, temp, runs = demo(tmp_path, "--break", "health")
    report = _assert_rolled_back(done, runs, "health")
    health = steps_of(report)["health"]
    assert "503" in health["message"]
    assert "KeyError: 'JWT_SECRET_KEY'" in health["evidence"]["body_excerpt"]
    assert "Problema 3" in done.stdout  # the checklist's own hint was shown
    assert os.listdir(temp) == []


def test_break_migration_fails_like_django_and_rolls_back(tmp_path: Path) -> None:
    done, temp, runs = demo(tmp_path, "--break", "migration")
    report = _assert_rolled_back(done, runs, "migrate")
    tail = "\n".join(steps_of(report)["migrate"]["output_tail"])
    assert (
        'django.db.utils.OperationalError: relation "app_name_refreshtoken" does not exist' in tail
    )
    assert "Problema 1" in done.stdout
    assert os.listdir(temp) == []


def test_break_connection_loses_the_connection_once_and_rolls_back(tmp_path: Path) -> None:
    done, temp, runs = demo(tmp_path, "--break", "connection")
    report = _assert_rolled_back(done, runs, "migrate")
    assert "lost the connection" in steps_of(report)["migrate"]["message"]
    assert os.listdir(temp) == []


def test_unknown_fault_is_bad_input(tmp_path: Path) -> None:
    done, _, runs = demo(tmp_path, "--break", "disk")
    assert done.returncode == 2
    assert "--break disk: no such fault" in done.stderr
    assert "health, migration, connection" in done.stderr
    assert "Traceback" not in done.stderr
    assert not runs.exists()


def test_keep_leaves_the_sandbox_for_inspection(tmp_path: Path) -> None:
    done, temp, _ = demo(tmp_path, "--keep")
    assert done.returncode == 0, done.stderr
    kept = [
        line.split(" kept in ", 1)[1] for line in done.stdout.splitlines() if " kept in " in line
    ]
    assert len(kept) == 1 and Path(kept[0]).parent == temp
    assert (
        Path(kept[0]) / "host/var/www/iact-project/VERSION"
    ).read_text().strip() == RELEASE_VERSION


def test_interrupt_stops_the_sandbox_and_removes_it(tmp_path: Path) -> None:
    temp, runs = tmp_path / "tmp", tmp_path / "runs"
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IACT_")}
    env.update(TMPDIR=str(temp), CI="true")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "iact_tui",
            "demo",
            "--headless",
            "--auto-tick",
            "--break",
            "health",
            "--runs-dir",
            str(runs),
        ],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # the health fault retries for ~10 s: interrupt it there
            if line.startswith("note: health: retrying"):
                break
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert os.listdir(temp) == []


def test_demo_checklist_is_found_from_any_folder(tmp_path: Path) -> None:
    expected = packaged_checklist() or SOURCE_CHECKOUT / "checklists" / "staging.toml"
    assert demo_checklist_path(cwd=ROOT).read_bytes() == expected.read_bytes()
    (tmp_path / "checklists").mkdir()
    (tmp_path / "checklists" / "staging.toml").write_text("# someone else's checklist\n")
    chosen = demo_checklist_path(cwd=tmp_path)
    assert chosen != tmp_path / "checklists" / "staging.toml"
    assert chosen.read_bytes() == expected.read_bytes()


def test_packaged_checklist_is_the_same_file_as_the_checkouts() -> None:
    packaged = packaged_checklist()
    if packaged is None:
        pytest.skip(
            "iact_tui/checklists/staging.toml is not shipped yet (the lead adds it as package data)"
        )
    assert (
        packaged.read_bytes() == (SOURCE_CHECKOUT / "checklists" / "staging.toml").read_bytes()
    ), "iact_tui/checklists/staging.toml differs from checklists/staging.toml: copy it again"
