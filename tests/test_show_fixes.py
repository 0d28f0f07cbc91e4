"""`iact-tui show` on damaged reports, host groups and failed steps: what it prints agrees with
what works."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests import runfactory
from tests.helpers import cli


def _damage(folder: Path, pattern: str, replacement: str, *, table: str = "[[steps]]") -> None:
    """Change the first line matching ``pattern`` in report.toml's ``table`` tables (as sed would,
    without touching the events)."""
    report = folder / "report.toml"
    text = report.read_text()
    cut = text.index("\n[[events]]\n")
    head, events = text[:cut], text[cut:]
    start = head.index(table)
    head = head[:start] + re.sub(pattern, replacement, head[start:], count=1, flags=re.MULTILINE)
    report.write_text(head + events)


@pytest.mark.parametrize(
    ("pattern", "replacement", "said"),
    [
        (r"^duration = .*$", 'duration = "abc"', "duration is 'abc'"),
        (r"^id = .*$", "id = 42", "id is 42"),
        (r"^attempts = .*$", 'attempts = "two"', "attempts is 'two'"),
        (r"^status = .*$", "status = 7", "status is 7"),
        (r"^started_at = .*$", "started_at = 1", "started_at is 1"),
    ],
)
def test_show_refuses_a_damaged_report_with_its_reason(
    tmp_path: Path, pattern: str, replacement: str, said: str
) -> None:
    folder = runfactory.staging_run(tmp_path / "runs")
    copy = tmp_path / "copy" / folder.name
    shutil.copytree(folder, copy)
    _damage(copy, pattern, replacement)
    for extra in ((), ("--json",), ("approval",)):
        done = cli("show", "--runs-dir", str(copy.parent), copy.name, *extra)
        assert done.returncode == 2, (extra, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        assert str(copy / "report.toml") in done.stderr and said in done.stderr, done.stderr


def test_show_refuses_a_host_record_with_a_batch_that_is_no_number(tmp_path: Path) -> None:
    from tests.test_fleet_export import fleet_run

    folder = fleet_run(tmp_path)
    _damage(folder, r"^batch = .*$", 'batch = "x"', table="[[host_steps]]")
    done = cli("show", str(folder), "health")
    assert done.returncode == 2 and "batch is 'x'" in done.stderr, done.stdout + done.stderr


def test_show_json_counts_batches_as_the_text_does(tmp_path: Path) -> None:
    from tests.test_fleet_export import fleet_run

    folder = fleet_run(tmp_path)
    text = cli("show", str(folder), "health").stdout
    data = json.loads(cli("show", str(folder), "health", "--json").stdout)
    for host in data["hosts"]:
        line = next(x for x in text.splitlines() if x.startswith(f"  {host['host']}:"))
        assert f"batch {host['batch']}," in line, (host, line)
    assert [h["batch"] for h in data["hosts"]] == [1, 2]


def test_show_offers_only_the_tick_a_failed_automatic_step_takes(tmp_path: Path) -> None:
    b = runfactory.RunBuilder(tmp_path)
    b.run_step("staging-health", "boom\n", status="failed", exit_status=1, message="HTTP 500")
    b.append("run_finished", status="failed")
    b.close()
    run_id = b.store.state.run_id
    done = cli("show", run_id, "staging-health", "--runs-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    tick = next(line for line in done.stdout.splitlines() if line.startswith("Tick it:"))
    assert f"iact-tui tick {run_id} staging-health --skip --reason TEXT" in tick, tick
    assert "--fail" not in tick
    assert f"or retry it: iact-tui resume {run_id}" in tick
    # what it offers is what `tick` takes; a plain tick is refused
    plain = cli("tick", run_id, "staging-health", "--runs-dir", str(tmp_path))
    assert plain.returncode == 2 and "retry it with `resume`" in plain.stderr
    skipped = cli("tick", run_id, "staging-health", "--skip", "--reason", "known outage",
                  "--runs-dir", str(tmp_path))
    assert skipped.returncode == 0, skipped.stderr


@pytest.mark.parametrize(
    ("pattern", "replacement"),
    [
        (r"^id = .*$", "id = 1"),
        (r"^status = .*$", 'status = ["x"]'),
        (r"^operator = .*$", "operator = 5"),
        (r"^started_at = .*$", "started_at = 12"),
        (r"^checklist_title = .*$", "checklist_title = 2"),
    ],
)
def test_a_run_table_of_the_wrong_types_is_passed_over_for_the_events(
    tmp_path: Path, pattern: str, replacement: str
) -> None:
    """[run] is a projection of the events: when it does not read as the report writes it, show
    reads the events it is made from (never '1', "['x']" or a number as the run's title)."""
    folder = runfactory.staging_run(tmp_path / "runs")
    truth = json.loads(cli("show", str(folder), "--json").stdout)["run"]
    _damage(folder, pattern, replacement, table="[run]")
    done = cli("show", str(folder), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["run"] == truth


def test_show_refuses_a_host_record_with_a_negative_batch(tmp_path: Path) -> None:
    from tests.test_fleet_export import fleet_run

    folder = fleet_run(tmp_path)
    _damage(folder, r"^batch = .*$", "batch = -1", table="[[host_steps]]")
    done = cli("show", str(folder), "health")
    assert done.returncode == 2 and "batch is -1" in done.stderr, done.stdout + done.stderr


def test_runs_dir_given_before_the_command_wins_over_the_environment(tmp_path: Path) -> None:
    """`iact-tui --runs-dir A show RUN` with $IACT_RUNS_DIR=B looks in A (as after the command)."""
    folder = runfactory.staging_run(tmp_path / "a")
    (tmp_path / "b").mkdir()
    env = {"IACT_RUNS_DIR": str(tmp_path / "b")}
    assert cli("show", folder.name, env=env).returncode == 2  # B holds no such run
    before = cli("--runs-dir", str(tmp_path / "a"), "show", folder.name, env=env)
    assert before.returncode == 0 and folder.name in before.stdout, before.stderr
    after = cli("show", folder.name, "--runs-dir", str(tmp_path / "a"), env=env)
    assert after.returncode == 0
    listed = cli("--runs-dir", str(tmp_path / "a"), "list", env=env)
    assert folder.name in listed.stdout, listed.stdout + listed.stderr
