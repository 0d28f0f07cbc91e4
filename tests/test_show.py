"""`iact-tui show RUN [STEP] [--json]`: a run's steps, or one step, read-only and lock-free."""

from __future__ import annotations

import json
from pathlib import Path

from tests import runfactory
from tests.helpers import cli


def test_show_lists_the_steps_with_status_who_when_and_duration(tmp_path: Path) -> None:
    folder = runfactory.staging_run(tmp_path)
    done = cli("show", folder.name, "--runs-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"run {folder.name}  Deploy a Staging")
    assert "status rolled back" in lines[1] and "operator alice" in lines[1]
    row = next(line for line in lines if line.startswith("approval "))
    assert row.split()[:3] == ["approval", "passed", "bob"]
    assert "2025-11-17 14:00:08" in row and row.rstrip().endswith("1.0 s")
    assert any(line.startswith("ci-deploy") and "not applicable" in line for line in lines)


def test_show_json_is_for_scripts(tmp_path: Path) -> None:
    folder = runfactory.staging_run(tmp_path)
    done = cli("show", str(folder), "--json")
    data = json.loads(done.stdout)
    assert data["run"]["status"] == "rolled_back" and data["run"]["live"] is False
    steps = {s["id"]: s for s in data["steps"]}
    assert steps["approval"]["who"] == "bob" and steps["approval"]["status"] == "passed"
    assert steps["db-backup"]["duration"] == 3.2


def test_show_one_step_prints_what_it_asks_and_did(tmp_path: Path) -> None:
    b = runfactory.RunBuilder(tmp_path)
    b.run_step("staging-health", "HTTP 200 OK\n{\"status\": \"healthy\"}\n", command="GET https://staging/api/health")
    b.wait("ci-green")
    b.store.checkpoint()
    run_id = b.store.state.run_id
    done = cli("show", run_id, "ci-green", "--runs-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "status waiting" in text and "role: devops" in text
    assert "Checks:\n  - [ ] Unit tests" in text
    assert f"Tick it: iact-tui tick {run_id} ci-green" in text
    done = cli("show", run_id, "staging-health", "--runs-dir", str(tmp_path), "--json")
    data = json.loads(done.stdout)
    assert data["command"] == "GET https://staging/api/health"
    assert data["output_tail"][-1] == '{"status": "healthy"}'
    assert data["status"] == "passed" and data["tick"] is None
    done = cli("show", run_id, "ci-gren", "--runs-dir", str(tmp_path))
    assert done.returncode == 2 and "did you mean 'ci-green'" in done.stderr
    b.close()


def test_show_reads_a_live_run_without_its_lock(tmp_path: Path) -> None:
    b = runfactory.RunBuilder(tmp_path)  # holds the lock, like a driving process
    b.run_step("staging-health", "ok\n")
    b.wait("ci-green")  # only in the journal
    data = json.loads(cli("show", str(b.folder), "--json").stdout)
    assert data["run"]["live"] is True and data["run"]["status"] == "running"
    assert {s["id"]: s["status"] for s in data["steps"]}["ci-green"] == "waiting"
    b.close()


def test_show_on_a_run_of_1000_steps_lists_every_step(tmp_path: Path) -> None:
    # its speed (< 0.5 s) is measured side by side in benchmarks/bench_watch.py, not here
    folder = runfactory.big_run(tmp_path)
    done = cli("show", str(folder))
    assert done.returncode == 0 and done.stdout.count("\n") > 1000


def test_show_one_step_on_a_host_group_lists_each_host(tmp_path: Path) -> None:
    from tests.test_fleet_export import fleet_run

    folder = fleet_run(tmp_path)
    done = cli("show", str(folder), "health")
    assert done.returncode == 0, done.stderr
    text = done.stdout
    hosts = text[text.index("Hosts:"):].splitlines()[1:3]
    assert hosts[0].startswith("  web1: passed, batch 1, 0.2 s, exit 0")
    assert hosts[0].endswith("(logs/health@web1.log)")
    assert hosts[1].startswith("  web2: failed, batch 2")
    assert "no line matches '^healthy$'" in hosts[1]
    assert "web3" not in text[text.index("Hosts:"):]  # never started: no record
    data = json.loads(cli("show", str(folder), "health", "--json").stdout)
    assert [(h["host"], h["status"], h["batch"]) for h in data["hosts"]] == [
        ("web1", "passed", 1),
        ("web2", "failed", 2),
    ]  # 1-based, as the text says (report.toml keeps the 0-based index)


def test_the_quick_read_of_a_report_keeps_each_hosts_record(tmp_path: Path) -> None:
    """`show` reads report.toml's tables, not its events: the per-host tables too, the same as
    folding every event gives."""
    from iact_tui.engine.record.state import reduce
    from iact_tui.engine.record.store import read_records
    from iact_tui.engine.record.summary import quick_state
    from tests.test_fleet_export import fleet_run

    folder = fleet_run(tmp_path)
    quick = quick_state(folder).fleet
    assert quick.to_toml() == reduce(read_records(folder)).fleet.to_toml()
    assert quick.hosts() == ["web1", "web2"] and quick.finished("health") == {"web1"}
