"""Whole runs over a real OpenSSH sshd on 127.0.0.1, logged into as a plain user."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tomli_w

from tests.fixtures_ssh import host_entry
from tests.helpers import HEADER, ROOT, cli, only_run, report_of, state_of, write_checklist
from tests.sshd import OpenSshd, processes_matching


def _checklist(tmp_path: Path, server: OpenSshd, steps: str, extra: str = "") -> Path:
    hosts = tomli_w.dumps({"hosts": {"staging": host_entry(server)}})
    return write_checklist(tmp_path, HEADER + extra + "\n" + hosts + '\n[[phases]]\nid = "p"\ntitle = "P"\n' + steps)


SSH_ARGS = ("--ssh-config", "/dev/null")

pytestmark = pytest.mark.sshd  # a real sshd (fixture sshd_server): skipped without one, failed in CI


def test_run_pause_tick_resume_over_real_sshd(tmp_path: Path, sshd_server: OpenSshd) -> None:
    checklist = _checklist(tmp_path, sshd_server, """
[[phases.steps]]
id = "whoami"
kind = "ssh"
host = "staging"
run = "id -un; echo token={pw}"
capture = { remote_user = "^(\\\\w+)$" }

[[phases.steps]]
id = "look"
kind = "manual"
instructions = "look at {remote_user}"

[[phases.steps]]
id = "after"
kind = "ssh"
host = "staging"
run = "echo done for {remote_user}"
expect_output = "^done for iactdeploy$"
""", extra='\n[vars.pw]\nsecret = true\nenv = "T_PW"\n')
    runs = tmp_path / "runs"
    env = {"T_PW": "very-secret-pw"}
    first = cli("run", str(checklist), "--headless", "--runs-dir", str(runs), *SSH_ARGS, env=env)
    assert first.returncode == 3, first.stdout + first.stderr
    folder = only_run(runs)
    assert state_of(folder).steps["whoami"].status == "passed"
    tick = cli("tick", folder.name, "look", "--runs-dir", str(runs), "--as", "bob")
    assert tick.returncode == 0, tick.stderr
    done = cli("resume", folder.name, "--headless", "--runs-dir", str(runs), *SSH_ARGS, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    report = report_of(folder)
    assert report["run"]["status"] == "succeeded"
    assert report["run"]["captures"]["remote_user"] == "iactdeploy"
    (host,) = report["run"]["hosts"]
    assert host["fingerprint"] == sshd_server.host_key.get_fingerprint()
    assert "very-secret-pw" not in (folder / "logs" / "whoami.log").read_text()
    assert "token=***" in (folder / "logs" / "whoami.log").read_text()


def test_hostile_var_runs_nothing_on_the_host(tmp_path: Path, sshd_server: OpenSshd) -> None:
    checklist = _checklist(tmp_path, sshd_server, """
[[phases.steps]]
id = "echo"
kind = "ssh"
host = "staging"
run = "echo branch={branch}"
""", extra='\n[vars.branch]\ndefault = "develop"\n')
    marker = f"/tmp/iact-pwned-{os.getpid()}"
    hostile = f"x; touch {marker}; $(touch {marker}) `touch {marker}` && touch {marker}"
    result = cli("run", str(checklist), "--headless", "-v", "--runs-dir", str(tmp_path / "runs"),
                 "--var", f"branch={hostile}", *SSH_ARGS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not Path(marker).exists()
    assert f"branch={hostile}" in result.stdout


def test_kill9_during_remote_step_then_resume(tmp_path: Path, sshd_server: OpenSshd) -> None:
    fifo_dir = Path(sshd_server.base) / "fifo-dir"
    fifo_dir.mkdir(mode=0o777)
    fifo_dir.chmod(0o777)
    fifo = fifo_dir / "started"
    os.mkfifo(fifo, 0o666)
    fifo.chmod(0o666)
    checklist = _checklist(tmp_path, sshd_server, f"""
[[phases.steps]]
id = "migrate"
kind = "ssh"
host = "staging"
run = "echo started > {fifo}; sleep 4242"

[[phases.steps]]
id = "after"
kind = "ssh"
host = "staging"
run = "echo after"
""")
    runs = tmp_path / "runs"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IACT_")} | {"CI": "true"}
    proc = subprocess.Popen([sys.executable, "-m", "iact_tui", "run", str(checklist), "--headless",
                             "--runs-dir", str(runs), *SSH_ARGS], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    with open(fifo) as f:  # the remote command is running
        assert f.readline().strip() == "started"
    proc.kill()
    proc.wait(timeout=10)
    folder = only_run(runs)
    assert state_of(folder).steps["migrate"].status == "running"
    paused = cli("resume", folder.name, "--headless", "--runs-dir", str(runs), *SSH_ARGS)
    assert paused.returncode == 3
    assert state_of(folder).steps["migrate"].status == "interrupted"
    # what the operator checks before confirming: the command still runs on the host (kill -9
    # of the client leaves it there), so they stop it and record that it completed
    assert processes_matching("sleep 4242", user=sshd_server.user)
    # a tick cannot see the host: while the command may run there, it is refused with the way out
    refused = cli("tick", folder.name, "migrate", "--runs-dir", str(runs), "--note", "verified by hand")
    assert refused.returncode == 2 and "--stop-running migrate" in refused.stderr, refused.stderr
    subprocess.run(["pkill", "-u", sshd_server.user, "-f", "sleep 4242"], check=False)
    deadline = time.monotonic() + 30
    while processes_matching("sleep 4242", user=sshd_server.user):  # bounded: it ends on SIGTERM
        assert time.monotonic() < deadline, "sleep 4242 outlived its SIGTERM"
        time.sleep(0.05)
    # a resume looks on the host, finds it gone (recorded) and asks whether the step completed
    asked = cli("resume", folder.name, "--headless", "--runs-dir", str(runs), *SSH_ARGS)
    assert asked.returncode == 3, asked.stdout + asked.stderr
    assert cli("tick", folder.name, "migrate", "--runs-dir", str(runs), "--note", "verified by hand").returncode == 0
    done = cli("resume", folder.name, "--headless", "--runs-dir", str(runs), *SSH_ARGS)
    assert done.returncode == 0, done.stdout + done.stderr
    steps = {s["id"]: s for s in report_of(folder)["steps"]}
    assert steps["migrate"]["status"] == "passed" and steps["migrate"]["note"] == "verified by hand"
    assert steps["after"]["status"] == "passed"


def test_unknown_host_key_is_refused_and_run_resumable(tmp_path: Path, sshd_server: OpenSshd) -> None:
    checklist = _checklist(tmp_path, sshd_server, """
[[phases.steps]]
id = "hello"
kind = "ssh"
host = "staging"
run = "echo hello"
""")
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    checklist.write_text(checklist.read_text().replace(str(sshd_server.known_hosts), str(empty)))
    runs = tmp_path / "runs"
    refused = cli("run", str(checklist), "--headless", "--runs-dir", str(runs), *SSH_ARGS)
    assert refused.returncode == 1
    assert sshd_server.host_key.get_fingerprint() in refused.stdout
    assert "not trusted" in refused.stdout or "unknown" in refused.stdout.lower()
    folder = only_run(runs)
    empty.write_text(sshd_server.known_hosts.read_text())  # the operator trusts the key
    again = cli("resume", folder.name, "--headless", "--runs-dir", str(runs), *SSH_ARGS)
    assert again.returncode == 0, again.stdout
