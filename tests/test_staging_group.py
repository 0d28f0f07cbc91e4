"""checklists/staging.toml, unchanged, on a group of app servers: the environment's vars file
makes ``[hosts.staging]`` a group (docs/fleets.md, "The staging procedure on a group") and the
deploy phase's ``serial = 1`` rolls PASO 3.2 — code, migrations, restart, and PASO 4.1 on that
server (``app-health``, an http step on the group, with ``host_health_url``) — one server at a
time.

The servers are the demo sandbox's staging host under three names (aliases of one SSH server,
one folder): each is its own connection, batch and record. Each server's own health check asks
with ``?server={host}``, so a stand-in can answer for one server alone.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

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
from tests.fixtures_http import LoopbackServer, Request, http_server  # noqa: F401 - a fixture
from tests.helpers import only_run, report_of

pytestmark = pytest.mark.timeout(180)

SERVERS = ["app1", "app2", "app3"]

HOSTS = "".join(
    f'[hosts.{name}]\naddress = "{{staging_host}}"\nport = "{{ssh_port}}"\nuser = "{{ssh_user}}"\n'
    f'known_hosts = "{{known_hosts}}"\nidentity = "{{ssh_identity}}"\n\n'
    for name in SERVERS
)


def vars_file(folder: Path, host_health_url: str = "") -> Path:
    path = folder / "staging-group.vars.toml"
    extra = f"host_health_url = {host_health_url!r}\n" if host_health_url else ""
    path.write_text(f'{extra}\n[hosts.staging]\nmembers = {SERVERS!r}\n\n{HOSTS}'.replace("'", '"'))
    return path


def test_one_host_is_unchanged_and_the_vars_file_makes_it_a_group(tmp_path: Path) -> None:
    loaded = load_checklist(demo_checklist_path())
    deploy = loaded.checklist.phase("deploy")
    steps = [s for alt in deploy.alternatives for s in alt.steps]
    assert deploy.serial == 1 and phase_group(loaded.checklist, steps) is None  # one host: no rollout
    # each server's own health check (PASO 4.1 in 3.2) is off without host_health_url: on one
    # host PASO 4 (through base_url) is the health check, as in the document
    app_health = loaded.checklist.step("app-health")
    assert (app_health.kind, app_health.host, app_health.when) == ("http", "staging", "host_health_url")
    assert loaded.checklist.vars["host_health_url"].default == ""
    assert app_health.not_applicable_reason({"host_health_url": ""}) == "'host_health_url' is empty"

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
        # each server's own health check: the sandbox's app, asked as that server
        launch = demo_launch(sandbox, checklist=str(checklist), declared=declared, runs_dir=runs,
                             operator="ana", headless=True, auto_tick=True, faults=[])
        url = f"{sandbox.base_url}/api/health?server={{host}}"
        launch = dataclasses.replace(launch, vars_file=str(vars_file(tmp_path, url)))
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
    # PASO 4.1 on each server, after its restart, one server per batch
    checked = {h["host"]: h for h in hosts if h["step"] == "app-health"}
    assert sorted(checked) == SERVERS and all(h["status"] == "passed" for h in checked.values())
    assert [checked[n]["batch"] for n in SERVERS] == [0, 1, 2]
    # host by host: app1 finished the whole of 3.2 (its restart and health) before app2 started
    events = [(e["type"], e.get("step"), e.get("host")) for e in report["events"]]
    assert events.index(("host_finished", "restart-app", "app1")) < events.index(
        ("host_started", "app-health", "app1"))
    assert events.index(("host_finished", "app-health", "app1")) < events.index(
        ("host_started", "pull-code", "app2"))
    health_log = (folder / "logs" / "app-health@app2.log").read_text()
    assert "server=app2" in health_log and '"status": "healthy"' in health_log  # that server's answer
    assert "server=app1" not in health_log
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


def test_one_server_failing_its_own_health_check_stops_the_rollout_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http_server: LoopbackServer,  # noqa: F811
) -> None:
    """app2 answers 503 to its own health check (PASO 4.1 in 3.2) after its restart: app3 is never
    touched, PASO 4 never runs, and the rollback restores app2, then app1."""

    def health(request: Request) -> tuple[int, dict[str, str]]:
        server = parse_qs(urlsplit(request.path).query)["server"][0]
        if server == "app2":
            return 503, {"status": "unhealthy", "server": server}
        return 200, {"status": "healthy", "server": server}

    http_server.route("GET", "/health", health)
    checklist = demo_checklist_path()
    declared = set(load_checklist(checklist).checklist.vars)
    runs = tmp_path / "runs"
    with BackgroundSandbox(()) as sandbox:
        monkeypatch.setenv("PATH", f"{sandbox.local_bin}{os.pathsep}{os.environ.get('PATH', '')}")
        launch = demo_launch(sandbox, checklist=str(checklist), declared=declared, runs_dir=runs,
                             operator="ana", headless=True, auto_tick=True, faults=[])
        url = f"{http_server.url}/health?server={{host}}"
        code = start(dataclasses.replace(launch, vars_file=str(vars_file(tmp_path, url))))
    folder = only_run(runs)
    report = report_of(folder)
    assert code == 1 and report["run"]["status"] == "rolled_back"
    hosts = report["host_steps"]
    # the per-host records say which server failed its own check, and that app1 passed it
    checked = {h["host"]: h["status"] for h in hosts if h["step"] == "app-health"}
    assert checked == {"app1": "passed", "app2": "failed"}
    failed = next(h for h in hosts if h["step"] == "app-health" and h["host"] == "app2")
    assert "HTTP 503" in failed["message"] and "'status' is \"unhealthy\" (expected 'healthy')" in failed["message"]
    steps = {s["id"]: s for s in report["steps"]}
    assert steps["app-health"]["status"] == "failed" and "on app2" in steps["app-health"]["message"]
    # app3 is never touched by the deploy, and PASO 4 (through the balancer) never runs
    deploy = {s.id for alt in load_checklist(checklist).checklist.phase("deploy").alternatives for s in alt.steps}
    assert not [h for h in hosts if h["host"] == "app3" and h["step"] in deploy]
    assert sorted({h["host"] for h in hosts if h["step"] == "pull-code"}) == ["app1", "app2"]
    assert steps["health"]["status"] in ("pending", "not_applicable")  # never started
    assert not [e for e in report["events"] if e["type"] == "step_started" and e.get("step") == "health"]
    stopped = [e for e in report["events"] if e["type"] == "rollout_stopped"]
    assert stopped and stopped[-1]["failed"] == ["app2"]
    # the rollback restores the servers that changed, last first
    checkout = sorted((h for h in hosts if h["step"] == "rollback-checkout"), key=lambda h: h["batch"])
    assert [(h["host"], h["status"]) for h in checkout] == [("app2", "passed"), ("app1", "passed")]
    assert [h["host"] for h in hosts if h["step"] == "rollback-restart-app"] == ["app2", "app1"]
    # every request went to the server it was for, and app3 was never asked
    asked = [parse_qs(urlsplit(r.path).query)["server"][0] for r in http_server.requests]
    assert asked == ["app1"] + ["app2"] * 6
