"""A real rolling deploy over three loopback sshd "hosts" (three ports, three app folders).

The checklist is the staging procedure's shape on a group: back up, then — one host at a time —
deploy, restart and health-check; a rollback that restores. web02's release is broken (its
health check fails): the rollout stops there, web03 is never touched, and the rollback restores
the hosts already changed (web02, then web01), each with its own record and log.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.fleet import Fleet
from tests.sshd import sshd_missing_reason

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.sshd


@pytest.fixture
def fleet3():
    reason = sshd_missing_reason()
    if reason:
        pytest.skip(reason)
    with Fleet(3, servers=3) as f:
        for h in f.hosts:
            (h.app_dir / "VERSION").write_text("1.0\n")
            os.chown(h.app_dir / "VERSION", *_owner(h.app_dir))
        yield f


def _owner(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_uid, st.st_gid


def _checklist(fleet: Fleet, folder: Path, serial: str = "1") -> Path:
    apps = fleet.base / "apps"
    text = f"""
[checklist]
id = "FLEET-ROLLOUT"
title = "Rolling deploy"
version = "1"

[vars.apps]
default = "{apps}"
[vars.release]
default = "2.0"

{fleet.hosts_toml("app")}

[[phases]]
id = "backup"
title = "PASO 2: Backup"
[[phases.steps]]
id = "backup"
kind = "ssh"
host = "app"
run = "cd {{apps}}/{{host}} && cp VERSION VERSION.prev"
changes_target = false

[[phases]]
id = "deploy"
title = "PASO 3.2 + PASO 4: deploy, restart, health, host by host"
serial = {serial}

[[phases.steps]]
id = "deploy-code"
kind = "ssh"
host = "app"
run = "cd {{apps}}/{{host}} && echo {{release}} > VERSION && if test -e broken; then echo unhealthy > STATE; else echo healthy > STATE; fi"

[[phases.steps]]
id = "restart"
kind = "ssh"
host = "app"
run = "cd {{apps}}/{{host}} && date +%s%N >> restarts"

[[phases.steps]]
id = "health"
kind = "ssh"
host = "app"
run = "cd {{apps}}/{{host}} && cat STATE"
expect_output = "^healthy$"
changes_target = false

[[phases]]
id = "rollback"
title = "PASO 6: Rollback"
rollback = true
[[phases.steps]]
id = "restore"
kind = "ssh"
host = "app"
run = "cd {{apps}}/{{host}} && cp VERSION.prev VERSION && echo restored >> STATE"
"""
    path = folder / "rollout.toml"
    path.write_text(text)
    return path


def _run(*args: str, runs: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, CI="true", PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    return subprocess.run([sys.executable, "-m", "iact_tui", *args, "--runs-dir", str(runs)],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)


def _report(runs: Path) -> tuple[Path, dict[str, Any]]:
    folder = next(p for p in runs.iterdir() if p.is_dir())
    return folder, tomllib.loads((folder / "report.toml").read_text())


def test_a_failed_health_check_stops_the_rollout_and_the_rollback_restores_the_changed_hosts(
    fleet3: Fleet, tmp_path: Path
) -> None:
    (fleet3.host("web02").app_dir / "broken").write_text("")
    runs = tmp_path / "runs"
    result = _run("run", str(_checklist(fleet3, tmp_path)), "--headless", "--on-failure", "rollback", runs=runs)
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    # one line per host state change, batch by batch
    assert "  web01 health: passed" in out and "  web02 health: failed" in out
    assert "web03 deploy-code" not in out
    assert out.index("web01 health: passed") < out.index("web02 deploy-code: running")
    folder, report = _report(runs)
    assert report["run"]["status"] == "rolled_back"
    web1, web2, web3 = (fleet3.host(n).app_dir for n in ("web01", "web02", "web03"))
    # web01 was deployed, restarted and healthy; then restored; web02 restored; web03 untouched
    assert (web1 / "VERSION").read_text() == "1.0\n" and "restored" in (web1 / "STATE").read_text()
    assert (web2 / "VERSION").read_text() == "1.0\n" and "restored" in (web2 / "STATE").read_text()
    assert (web3 / "VERSION").read_text() == "1.0\n"
    assert not (web3 / "STATE").exists() and not (web3 / "restarts").exists()
    assert len((web1 / "restarts").read_text().split()) == 1  # restarted once, in its own batch
    # per-host truth: records, batches, logs
    hosts = {(h["step"], h["host"]): h for h in report["host_steps"]}
    assert hosts[("health", "web01")]["status"] == "passed" and hosts[("health", "web01")]["batch"] == 0
    assert hosts[("health", "web02")]["status"] == "failed" and hosts[("health", "web02")]["batch"] == 1
    assert ("deploy-code", "web03") not in hosts and ("restore", "web03") not in hosts
    assert ("backup", "web03") in hosts  # the backup ran everywhere (and changed nothing)
    restore = [h for h in report["host_steps"] if h["step"] == "restore"]
    assert [h["host"] for h in restore] == ["web02", "web01"]  # reverse batch order
    log = folder / "logs" / "health@web02.log"
    assert hosts[("health", "web02")]["log"] == "logs/health@web02.log" and "unhealthy" in log.read_text()
    steps = {s["id"]: s for s in report["steps"]}
    assert steps["health"]["status"] == "failed" and steps["restore"]["status"] == "passed"
    assert any(e["type"] == "rollout_stopped" for e in report["events"])


def test_resume_goes_on_host_by_host(fleet3: Fleet, tmp_path: Path) -> None:
    """Stopped at web02 (default --on-failure stop); mended, a resume runs only what is left."""
    broken = fleet3.host("web02").app_dir / "broken"
    broken.write_text("")
    runs = tmp_path / "runs"
    first = _run("run", str(_checklist(fleet3, tmp_path)), "--headless", runs=runs)
    assert first.returncode == 1, first.stdout + first.stderr
    broken.unlink()
    (fleet3.host("web02").app_dir / "STATE").write_text("healthy\n")  # fixed by hand
    folder, _ = _report(runs)
    second = _run("resume", str(folder), "--headless", runs=runs)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "web01" not in second.stdout.replace("web01,", "")  # batch 1 is not run again
    assert "web02 deploy-code" not in second.stdout  # web02 finished deploy-code and restart
    assert "  web02 health: passed" in second.stdout, second.stdout
    assert "  web03 health: passed" in second.stdout
    _, report = _report(runs)
    assert report["run"]["status"] == "succeeded"
    restarts = {h.name: len((h.app_dir / "restarts").read_text().split()) for h in fleet3.hosts}
    assert restarts == {"web01": 1, "web02": 1, "web03": 1}
