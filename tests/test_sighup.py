"""A dropped terminal or SSH session (SIGHUP) is handled like SIGTERM: the running command is
stopped (locally and on the host), the step recorded interrupted, the run paused (exit 130).
And a resume never starts a second copy of a step whose process outlived its driver."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w

from iact_tui.engine.executors.processes import ProcessRef, local_alive
from iact_tui.engine.record.store import read_records
from tests.fixtures_ssh import host_entry
from tests.helpers import HEADER, ROOT, cli, only_run, state_of, write_checklist
from tests.sshd import OpenSshd, processes_matching

SSH_ARGS = ("--ssh-config", "/dev/null")


def _start(args: list[str]) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IACT_")} | {"CI": "true"}
    return subprocess.Popen([sys.executable, "-m", "iact_tui", *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)


def _wait_started(fifo: Path) -> None:
    with open(fifo) as f:  # blocks until the step's command really runs
        assert f.readline().strip() == "started"


def _processes(folder: Path, step: str) -> list[ProcessRef]:
    return [ProcessRef.from_record(r) for r in read_records(folder)
            if r["type"] == "step_process" and r["step"] == step]


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


@pytest.fixture
def orphans() -> Iterator[list[ProcessRef]]:
    found: list[ProcessRef] = []
    yield found
    for ref in found:
        if local_alive(ref):
            os.killpg(ref.pid, signal.SIGKILL)


def test_sighup_stops_the_local_command_and_pauses(tmp_path: Path, started: list, orphans: list) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    checklist = write_checklist(tmp_path, HEADER + f"""
[[phases]]
id = "one"
title = "One"

[[phases.steps]]
id = "deploy"
kind = "local"
run = "echo started > {fifo}; sleep 4401"
idempotent = true
""")
    runs = tmp_path / "runs"
    proc = _start(["run", str(checklist), "--headless", "--runs-dir", str(runs)])
    started.append(proc)
    _wait_started(fifo)
    folder = only_run(runs)
    [ref] = _processes(folder, "deploy")  # recorded before the command ran
    orphans.append(ref)
    assert local_alive(ref)
    proc.send_signal(signal.SIGHUP)  # the terminal or SSH session is gone
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err
    assert f"iact-tui: interrupted; resume with: iact-tui resume {folder.name}" in err
    assert not local_alive(ref)  # stopped, not left running in its own session
    state = state_of(folder)
    assert state.steps["deploy"].status == "interrupted"
    assert state.status == "paused"
    assert "Traceback" not in err


@pytest.mark.sshd
def test_sighup_stops_the_remote_command_on_the_host(tmp_path: Path, sshd_server: OpenSshd,
                                                     started: list) -> None:
    shared = sshd_server.base / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    fifo = shared / "fifo"
    os.mkfifo(fifo, 0o666)
    fifo.chmod(0o666)
    hosts = tomli_w.dumps({"hosts": {"staging": host_entry(sshd_server)}})
    checklist = write_checklist(tmp_path, HEADER + hosts + f"""
[[phases]]
id = "one"
title = "One"

[[phases.steps]]
id = "deploy"
kind = "ssh"
host = "staging"
run = "trap '' TERM; echo started > {fifo}; sleep 4402"
""")
    runs = tmp_path / "runs"
    proc = _start(["run", str(checklist), "--headless", "--runs-dir", str(runs), *SSH_ARGS])
    started.append(proc)
    _wait_started(fifo)
    assert processes_matching("sleep 4402", user=sshd_server.user)
    [ref] = _processes(only_run(runs), "deploy")
    assert ref.host == "staging" and ref.start  # named by pid and start time on the host
    proc.send_signal(signal.SIGHUP)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err
    assert processes_matching("sleep 4402") == []  # it ignored TERM; KILL followed
    assert state_of(only_run(runs)).steps["deploy"].status == "interrupted"


@pytest.mark.sshd
def test_resume_finds_the_remote_command_a_killed_driver_left(tmp_path: Path, sshd_server: OpenSshd,
                                                              started: list) -> None:
    shared = sshd_server.base / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    fifo = shared / "fifo"
    os.mkfifo(fifo, 0o666)
    fifo.chmod(0o666)
    hosts = tomli_w.dumps({"hosts": {"staging": host_entry(sshd_server)}})
    checklist = write_checklist(tmp_path, HEADER + hosts + f"""
[[phases]]
id = "one"
title = "One"

[[phases.steps]]
id = "deploy"
kind = "ssh"
host = "staging"
run = "echo started > {fifo}; sleep 4403"
idempotent = true
""")
    runs = tmp_path / "runs"
    proc = _start(["run", str(checklist), "--headless", "--runs-dir", str(runs), *SSH_ARGS])
    started.append(proc)
    _wait_started(fifo)
    proc.kill()  # kill -9: nothing can stop the command on the host
    proc.communicate(timeout=10)
    folder = only_run(runs)
    try:
        [ref] = _processes(folder, "deploy")
        assert processes_matching("sleep 4403", user=sshd_server.user)
        # idempotent, yet never started a second time beside the first
        still = cli("resume", folder.name, "--headless", "--runs-dir", str(runs), *SSH_ARGS)
        assert still.returncode == 3, still.stdout + still.stderr
        assert f"step 'deploy' is still running (process group {ref.pid} on staging)" in still.stdout
        assert "--stop-running deploy" in still.stdout
        assert [r["step"] for r in read_records(folder) if r["type"] == "step_started"] == ["deploy"]
        # the re-run writes to the fifo again: read it from a child so the step goes on
        reader = subprocess.Popen(["sh", "-c", f"cat {fifo} > /dev/null"])
        resumed = _start(["resume", folder.name, "--headless", "--runs-dir", str(runs), *SSH_ARGS,
                          "--stop-running", "deploy"])
        started.append(resumed)
        reader.wait(timeout=30)
        # the old one was stopped on the host before the new one started
        records = read_records(folder)
        ended = [r for r in records if r["type"] == "step_process_ended"]
        assert [(r["pid"], r["host"], r["how"]) for r in ended] == [(ref.pid, "staging", "stopped")]
        sleeping = [line for line in processes_matching("sleep 4403") if line.split(None, 1)[1] == "sleep 4403"]
        assert len(sleeping) == 1  # the new one only
        resumed.send_signal(signal.SIGHUP)
        out, err = resumed.communicate(timeout=30)
        assert resumed.returncode == 130, out + err
        assert processes_matching("sleep 4403") == []
    finally:
        for line in processes_matching("sleep 4403"):
            os.kill(int(line.split()[0]), signal.SIGKILL)


def _orphaned(tmp_path: Path, started: list, idempotent: bool = True) -> tuple[Path, ProcessRef]:
    """A run killed with kill -9 while its step ran: the step's command still runs."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    checklist = write_checklist(tmp_path, HEADER + f"""
[[phases]]
id = "one"
title = "One"

[[phases.steps]]
id = "deploy"
kind = "local"
run = "echo started >> {tmp_path / 'starts'}; echo started > {fifo}; sleep 4404"
idempotent = {str(idempotent).lower()}
""")
    runs = tmp_path / "runs"
    proc = _start(["run", str(checklist), "--headless", "--runs-dir", str(runs)])
    started.append(proc)
    _wait_started(fifo)
    proc.kill()
    proc.communicate(timeout=10)
    fifo.unlink()
    (tmp_path / "fifo").write_text("")  # the re-run's `echo > fifo` goes to a plain file now
    folder = only_run(runs)
    [ref] = _processes(folder, "deploy")
    return folder, ref


def test_wait_running_waits_for_the_old_process_then_reruns(tmp_path: Path, started: list,
                                                             orphans: list) -> None:
    folder, ref = _orphaned(tmp_path, started)
    orphans.append(ref)
    proc = _start(["resume", folder.name, "--headless", "--runs-dir", str(folder.parent),
                   "--wait-running", "deploy"])
    started.append(proc)
    assert proc.stdout is not None
    for _ in range(50):  # bounded: the first lines come at once
        line = proc.stdout.readline()
        if not line or "waiting for process group" in line:
            break
    assert line.startswith(f"note: deploy: waiting for process group {ref.pid} on this machine to end"), line
    assert (tmp_path / "starts").read_text() == "started\n"  # not started beside it
    os.killpg(ref.pid, signal.SIGKILL)  # it ends (on its own, as far as the run can tell)
    for _ in range(50):  # then, idempotent, it runs again
        line = proc.stdout.readline()
        if not line or line.startswith("started deploy (attempt 2)"):
            break
    for _ in range(1000):  # bounded polling: its command is under way
        if (tmp_path / "starts").read_text() == "started\nstarted\n":
            break
        time.sleep(0.01)
    records = read_records(folder)
    assert [(r["pid"], r["how"]) for r in records if r["type"] == "step_process_ended"] == [(ref.pid, "waited")]
    assert (tmp_path / "starts").read_text() == "started\nstarted\n"
    orphans.extend(_processes(folder, "deploy"))
    proc.terminate()  # SIGTERM: the new one is stopped like on a hang-up
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err
    assert not [r for r in _processes(folder, "deploy") if local_alive(r)]


def test_still_running_asked_on_the_terminal_stop(tmp_path: Path, started: list, orphans: list) -> None:
    from tests.test_headless_terminal import Pty

    folder, ref = _orphaned(tmp_path, started, idempotent=False)
    orphans.append(ref)
    term = Pty([sys.executable, "-m", "iact_tui", "resume", folder.name, "--headless",
                "--runs-dir", str(folder.parent)])
    try:
        term.expect(f"deploy is still running (process group {ref.pid} on this machine)")
        term.expect("[w]ait/[s]top/[l]ater")
        term.send("s")
        term.expect("did it complete?")  # stopped; then the usual question
        assert not local_alive(ref)
        term.send("d")
        term.expect("note")
        term.send("checked by hand")
        assert term.wait() == 0, term.seen
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
            term.proc.wait(timeout=10)
    state = state_of(folder)
    assert state.steps["deploy"].status == "passed"
    assert (tmp_path / "starts").read_text() == "started\n"


def test_a_real_hang_up_of_the_terminal(tmp_path: Path, orphans: list) -> None:
    """The terminal itself goes away (its master side closes): the kernel sends SIGHUP and
    writing to the terminal fails; the run still stops its command and pauses cleanly."""
    import pty

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    checklist = write_checklist(tmp_path, HEADER + f"""
[[phases]]
id = "one"
title = "One"

[[phases.steps]]
id = "deploy"
kind = "local"
run = "echo started > {fifo}; sleep 4405"
""")
    runs = tmp_path / "runs"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IACT_")} | {"CI": "true"}
    pid, master = pty.fork()
    if pid == 0:  # the child: a session of its own with the pty as its controlling terminal
        try:
            os.chdir(ROOT)
            os.execve(sys.executable, [sys.executable, "-m", "iact_tui", "run", str(checklist),
                                       "--headless", "--runs-dir", str(runs)], env)
        finally:
            os._exit(127)
    try:
        _wait_started(fifo)
        folder = only_run(runs)
        [ref] = _processes(folder, "deploy")
        orphans.append(ref)
        os.close(master)  # the terminal is gone: SIGHUP
        master = -1
        _, status = os.waitpid(pid, 0)
        pid = 0
        assert os.waitstatus_to_exitcode(status) == 130
        assert not local_alive(ref)
        state = state_of(folder)
        assert state.steps["deploy"].status == "interrupted"
        assert state.status == "paused"
    finally:
        if master >= 0:
            os.close(master)
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
