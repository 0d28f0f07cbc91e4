"""checklists/staging.toml, unchanged, on a group of app servers: the environment's vars file
makes ``[hosts.staging]`` a group (docs/fleets.md, "The staging procedure on a group") and the
deploy phase's ``serial = 1`` rolls PASO 3.2 — code, migrations, restart, and the per-host
health check the group's ``restart_app_cmd`` ends with — one server at a time.

The servers are the demo sandbox's staging host under three names (aliases of one SSH server,
one folder): each is its own connection, batch and record.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from pathlib import Path

import pytest

from iact_tui.cli.demo import demo_launch
from iact_tui.cli.run import start
from iact_tui.demo import BackgroundSandbox
from iact_tui.demo.checklist import demo_checklist_path
from iact_tui.engine.checklist.hosts_override import with_hosts
from iact_tui.engine.checklist.load import load_checklist
from iact_tui.engine.checklist.problems import ChecklistError
from iact_tui.engine.checklist.varsfile import read_vars_file
from iact_tui.engine.run.rollout import phase_group
from tests.helpers import only_run, report_of

pytestmark = pytest.mark.timeout(180)

SERVERS = ["app1", "app2", "app3"]

HOSTS = "".join(
    f'[hosts.{name}]\naddress = "{{staging_host}}"\nport = "{{ssh_port}}"\nuser = "{{ssh_user}}"\n'
    f'known_hosts = "{{known_hosts}}"\nidentity = "{{ssh_identity}}"\n\n'
    for name in SERVERS
)


def vars_file(folder: Path, restart_cmd: str = "") -> Path:
    path = folder / "staging-group.vars.toml"
    extra = f"restart_app_cmd = {restart_cmd!r}\n" if restart_cmd else ""
    path.write_text(f'{extra}\n[hosts.staging]\nmembers = {SERVERS!r}\n\n{HOSTS}'.replace("'", '"'))
    return path


def test_one_host_is_unchanged_and_the_vars_file_makes_it_a_group(tmp_path: Path) -> None:
    loaded = load_checklist(demo_checklist_path())
    deploy = loaded.checklist.phase("deploy")
    steps = [s for alt in deploy.alternatives for s in alt.steps]
    assert deploy.serial == 1 and phase_group(loaded.checklist, steps) is None  # one host: no rollout

    hosts = read_vars_file(vars_file(tmp_path)).hosts
    group = with_hosts(loaded, hosts, "staging-group.vars.toml")
    assert group.checklist.hosts["staging"].members == SERVERS
    assert phase_group(group.checklist, steps) == "staging"
    assert group.text == loaded.text and group.sha256 == loaded.sha256  # the pinned file as written

    with pytest.raises(ChecklistError, match="app4"):
        with_hosts(loaded, {"staging": {"members": ["app1", "app4"]}}, "bad.vars.toml")


def test_staging_rolls_host_by_host_over_a_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checklist = demo_checklist_path()
    declared = set(load_checklist(checklist).checklist.vars)
    runs = tmp_path / "runs"
    with BackgroundSandbox(()) as sandbox:
        monkeypatch.setenv("PATH", f"{sandbox.local_bin}{os.pathsep}{os.environ.get('PATH', '')}")
        # the group's restart waits for the app on that server to answer before the next one
        restart = f"sudo -n systemctl restart iact-gunicorn && curl -fsS --retry 5 --retry-connrefused {sandbox.base_url}/api/health"
        launch = demo_launch(sandbox, checklist=str(checklist), declared=declared, runs_dir=runs,
                             operator="ana", headless=True, auto_tick=True, faults=[])
        launch = dataclasses.replace(launch, vars_file=str(vars_file(tmp_path, restart)),
                                     overrides={k: v for k, v in launch.overrides.items() if k != "restart_app_cmd"})
        code = start(launch)
    folder = only_run(runs)
    report = report_of(folder)
    assert code == 0, [(s["id"], s.get("message")) for s in report["steps"] if s["status"] == "failed"]
    assert report["run"]["status"] == "succeeded"
    assert report["run"]["vars_file"]["hosts"]["staging"]["members"] == SERVERS  # recorded: resume sees it

    hosts = report["host_steps"]
    restarts = {h["host"]: h for h in hosts if h["step"] == "restart-app"}
    assert sorted(restarts) == SERVERS and all(h["status"] == "passed" for h in restarts.values())
    assert [restarts[n]["batch"] for n in SERVERS] == [0, 1, 2]  # one server per batch
    # what the servers share (the database) once, on the first server: one backup, one migrate
    for shared in ("db-backup", "migrate"):
        ran = [(h["host"], h["status"]) for h in hosts if h["step"] == shared]
        assert ran == [("app1", "passed")], (shared, ran)
        assert sum(1 for e in report["events"]
                   if e["type"] == "step_started" and e.get("step") == shared) == 1
    # host by host: app1 finished the whole of 3.2 (its restart and health) before app2 started
    events = [(e["type"], e.get("step"), e.get("host")) for e in report["events"]]
    app1_restarted = events.index(("host_finished", "restart-app", "app1"))
    app2_pulled = events.index(("host_started", "pull-code", "app2"))
    assert app1_restarted < app2_pulled
    restart_log = (folder / "logs" / "restart-app@app2.log").read_text()
    assert '"status"' in restart_log  # the health answer of that server, in its own log
    # PASO 4 once the rollout is done: through the balancer (base_url)
    steps = {s["id"]: s for s in report["steps"]}
    assert steps["health"]["status"] == "passed"
    assert tomllib.loads((folder / "report.toml").read_text())["run"]["status"] == "succeeded"


def test_a_failed_health_check_rolls_back_the_servers_last_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's broken release (PASO 4.1 fails through the balancer once all three servers run
    it): the rollback restores every server that changed, one at a time, app3 first."""
    checklist = demo_checklist_path()
    declared = set(load_checklist(checklist).checklist.vars)
    runs = tmp_path / "runs"
    with BackgroundSandbox(["health"]) as sandbox:
        monkeypatch.setenv("PATH", f"{sandbox.local_bin}{os.pathsep}{os.environ.get('PATH', '')}")
        launch = demo_launch(sandbox, checklist=str(checklist), declared=declared, runs_dir=runs,
                             operator="ana", headless=True, auto_tick=True, faults=["health"])
        code = start(dataclasses.replace(launch, vars_file=str(vars_file(tmp_path))))
    report = report_of(only_run(runs))
    assert code == 1 and report["run"]["status"] == "rolled_back"
    checkout = sorted((h for h in report["host_steps"] if h["step"] == "rollback-checkout"),
                      key=lambda h: h["batch"])
    assert [h["host"] for h in checkout] == ["app3", "app2", "app1"]
    assert all(h["status"] == "passed" for h in checkout)
    # the migrations go back once, on the first server, before any code is reverted
    back = [(h["host"], h["status"]) for h in report["host_steps"] if h["step"] == "rollback-migrate"]
    assert back == [("app1", "passed")], back
    events = [(e["type"], e.get("step"), e.get("host")) for e in report["events"]]
    assert events.index(("host_finished", "rollback-migrate", "app1")) < events.index(
        ("host_started", "rollback-checkout", "app3"))
