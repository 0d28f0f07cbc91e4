"""kill -9 at several moments, interrupted steps, ticks from another terminal, changed checklists."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from iact_tui.engine.executors.processes import ProcessRef, local_alive
from iact_tui.engine.record.store import read_records
from tests.helpers import HEADER, ROOT, cli, only_run, report_of, state_of, write_checklist


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _start(args: list[str], **kw) -> subprocess.Popen[str]:  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith("IACT_")}
    env["CI"] = "true"
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, **kw)


def _checklist(tmp_path: Path, fifo: Path, idempotent: str = "false") -> Path:
    return write_checklist(tmp_path, HEADER + f"""
[[phases]]
id = "one"
title = "One"

[[phases.steps]]
id = "before"
kind = "local"
run = "echo before"

[[phases.steps]]
id = "migrate"
kind = "local"
run = "echo migrating; echo started > {fifo}; sleep 60"
idempotent = {idempotent}

[[phases.steps]]
id = "after"
kind = "local"
run = "echo after"
""")


def _kill_during_step(tmp_path: Path, checklist: Path, fifo: Path) -> Path:
    runs = tmp_path / "runs"
    proc = _start(["-m", "iact_tui", "run", str(checklist), "--headless", "--runs-dir", str(runs)])
    with open(fifo) as f:  # blocks until the step is really running
        assert f.readline().strip() == "started"
    proc.kill()
    proc.wait(timeout=10)
    return only_run(runs)


@pytest.fixture
def orphans() -> Iterator[list[ProcessRef]]:
    """The step processes a killed driver left behind: stopped at the end whatever happens."""
    found: list[ProcessRef] = []
    yield found
    for ref in found:
        if local_alive(ref):
            os.killpg(ref.pid, signal.SIGKILL)


def _orphan(folder: Path, step: str) -> ProcessRef:
    """The process the killed driver recorded for ``step`` (durable before the command ran)."""
    [record] = [r for r in read_records(folder) if r["type"] == "step_process" and r["step"] == step]
    return ProcessRef.from_record(record)


def test_kill9_during_running_step_then_confirm_done(tmp_path: Path, orphans: list[ProcessRef]) -> None:
    fifo = _fifo(tmp_path / "fifo")
    checklist = _checklist(tmp_path, fifo)
    folder = _kill_during_step(tmp_path, checklist, fifo)
    before = read_records(folder)  # readable after kill -9
    assert [r["type"] for r in before][-2:] == ["step_started", "step_process"]
    orphan = _orphan(folder, "migrate")
    orphans.append(orphan)
    assert local_alive(orphan)  # kill -9 of the driver cannot stop its command
    # resume never runs it again beside itself: it names the process and how to go on
    still = cli("resume", folder.name, "--headless", "--runs-dir", str(folder.parent))
    assert still.returncode == 3, still.stdout + still.stderr
    said = still.stdout + still.stderr
    assert f"step 'migrate' is still running (process group {orphan.pid} on this machine)" in said
    assert f"iact-tui resume {folder.name} --wait-running migrate" in said
    assert f"iact-tui resume {folder.name} --stop-running migrate" in said
    assert local_alive(orphan)
    result = cli("resume", folder.name, "--headless", "--runs-dir", str(folder.parent), "--stop-running", "migrate")
    assert result.returncode == 3
    assert not local_alive(orphan)
    assert "was interrupted" in result.stdout + result.stderr
    assert state_of(folder).steps["migrate"].status == "interrupted"
    assert state_of(folder).steps["before"].status == "passed"
    ticked = cli("tick", folder.name, "migrate", "--runs-dir", str(folder.parent), "--note", "checked showmigrations")
    assert ticked.returncode == 0, ticked.stderr
    done = cli("resume", folder.name, "--headless", "--runs-dir", str(folder.parent))
    assert done.returncode == 0, done.stdout
    records = read_records(folder)
    assert records[: len(before)] == before  # nothing recorded before the crash is lost or changed
    steps = {s["id"]: s for s in report_of(folder)["steps"]}
    assert steps["migrate"]["status"] == "passed"
    assert steps["migrate"]["note"] == "checked showmigrations"
    assert steps["before"]["attempts"] == 1  # not run again


def test_kill9_then_rerun_flag(tmp_path: Path, orphans: list[ProcessRef]) -> None:
    fifo = _fifo(tmp_path / "fifo")
    checklist = _checklist(tmp_path, fifo)
    folder = _kill_during_step(tmp_path, checklist, fifo)
    orphans.append(_orphan(folder, "migrate"))
    # --rerun alone does not start a second copy beside the one still running
    refused = cli("resume", folder.name, "--headless", "--runs-dir", str(folder.parent), "--rerun", "migrate")
    assert refused.returncode == 3 and "is still running" in refused.stdout
    assert [r["step"] for r in read_records(folder) if r["type"] == "step_started"].count("migrate") == 1
    # the re-run writes to the fifo again: read it from a thread-free child so the step goes on
    reader = subprocess.Popen(["sh", "-c", f"cat {fifo} > /dev/null"])
    proc = _start(["-m", "iact_tui", "resume", folder.name, "--headless", "--runs-dir", str(folder.parent),
                   "--rerun", "migrate", "--stop-running", "migrate"])
    reader.wait(timeout=30)
    proc.send_signal(signal.SIGINT)  # Ctrl-C: the step is interrupted, the run pauses, exit 130
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err
    state = state_of(folder)
    assert state.steps["migrate"].status == "interrupted"
    assert state.steps["migrate"].attempts == 2
    assert state.status == "paused"


def test_idempotent_interrupted_step_is_rerun(tmp_path: Path, orphans: list[ProcessRef]) -> None:
    fifo = _fifo(tmp_path / "fifo")
    checklist = _checklist(tmp_path, fifo, idempotent="true")
    folder = _kill_during_step(tmp_path, checklist, fifo)
    orphan = _orphan(folder, "migrate")
    orphans.append(orphan)
    os.killpg(orphan.pid, signal.SIGKILL)  # it ended on its own meanwhile
    # make the re-run quick: the fifo is replaced by a plain file
    fifo.unlink()
    text = checklist.read_text().replace("sleep 60", "true")
    result_path = folder / "checklist.toml"
    result_path.write_text(text)  # the pinned copy is what resume runs when the file is unchanged
    checklist.write_text(text)
    result = cli("resume", folder.name, "--headless", "--runs-dir", str(folder.parent), "--checklist-changed", "use-new")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "re-run after interruption (idempotent = true)" in str(read_records(folder))


def test_changed_checklist_on_resume_asks(tmp_path: Path) -> None:
    checklist = write_checklist(tmp_path, HEADER + """
[[phases]]
id = "one"
title = "One"

[[phases.steps]]
id = "gate"
kind = "manual"

[[phases.steps]]
id = "cmd"
kind = "local"
run = "echo old"
""")
    runs = tmp_path / "runs"
    assert cli("run", str(checklist), "--headless", "--runs-dir", str(runs)).returncode == 3
    folder = only_run(runs)
    checklist.write_text(checklist.read_text().replace("echo old", "echo new"))
    asked = cli("resume", folder.name, "--headless", "--runs-dir", str(runs))
    assert asked.returncode == 3
    assert "step 'cmd': run changed from 'echo old' to 'echo new'" in asked.stderr
    assert cli("tick", folder.name, "gate", "--runs-dir", str(runs)).returncode == 0
    kept = cli("resume", folder.name, "--headless", "-v", "--runs-dir", str(runs), "--checklist-changed", "keep-pinned")
    assert kept.returncode == 0
    assert "| old" in kept.stdout
    types = [r["type"] for r in read_records(folder)]
    assert "checklist_changed" in types


def test_second_driver_refused_and_live_tick_through_inbox(tmp_path: Path) -> None:
    fifo = _fifo(tmp_path / "fifo")
    checklist = write_checklist(tmp_path, HEADER + f"""
[[phases]]
id = "one"
title = "One"

[[phases.steps]]
id = "approve"
kind = "manual"
role = "tech-lead"
four_eyes = true

[[phases.steps]]
id = "long"
kind = "local"
run = "echo started > {fifo}; sleep 60"
""")
    runs = tmp_path / "runs"
    proc = _start(["-m", "tests.live_runner", str(checklist), str(runs), "alice"])
    try:
        _tick_a_live_run(proc, runs, fifo)
    finally:
        if proc.poll() is None:
            proc.kill()  # kill -9 right after the tick was acknowledged (or on a failure)
        proc.wait(timeout=10)
    folder = only_run(runs)
    state = state_of(folder)
    assert state.steps["approve"].status == "passed"
    assert state.steps["approve"].ticked_by == "bob"
    assert state.steps["long"].status == "running"


def _tick_a_live_run(proc: subprocess.Popen[str], runs: Path, fifo: Path) -> None:
    assert proc.stdout is not None
    lines = []
    for _ in range(50):  # bounded: the first lines come at once
        line = proc.stdout.readline()
        lines.append(line)
        if line.startswith("waiting approve"):
            break
    else:
        pytest.fail(f"no waiting line: {lines}")
    folder = only_run(runs)
    second = cli("resume", folder.name, "--headless", "--runs-dir", str(runs))
    assert second.returncode == 2
    assert "is in use by pid" in second.stderr
    refused = cli("tick", folder.name, "approve", "--runs-dir", str(runs), "--as", "alice")
    assert refused.returncode == 2 and "four eyes" in refused.stderr
    ok = cli("tick", folder.name, "approve", "--runs-dir", str(runs), "--as", "bob")
    assert ok.returncode == 0, ok.stderr
    with open(fifo) as f:
        assert f.readline().strip() == "started"


def test_kill9_at_random_moments_never_loses_a_finished_step(tmp_path: Path) -> None:
    """What the killed process PRINTED as passed is the reference, never the surviving journal
    itself: a record that was shown but not durable (no flush, no fdatasync) is caught here."""
    steps = "\n".join(f"""
[[phases.steps]]
id = "s{i:03d}"
kind = "local"
run = "true"
""" for i in range(60))
    checklist = write_checklist(tmp_path, HEADER + '\n[[phases]]\nid = "one"\ntitle = "One"\n' + steps)
    rng = random.Random(1234)
    for round_ in range(6):
        runs = tmp_path / f"runs{round_}"
        proc = _start(["-m", "iact_tui", "run", str(checklist), "--headless", "--runs-dir", str(runs)])
        assert proc.stdout is not None
        target = rng.randrange(1, 55)
        printed: set[str] = set()
        for _ in range(target + 3):  # kill after a random number of printed state changes
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith("passed "):
                printed.add(line.split()[1])
        proc.kill()
        proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()  # type: ignore[union-attr]
        folder = only_run(runs)
        before = read_records(folder)
        recorded = {r["step"] for r in before if r["type"] == "step_finished" and r["status"] == "passed"}
        assert printed <= recorded, f"shown as passed but not recorded: {sorted(printed - recorded)}"
        env_result = cli("resume", folder.name, "--headless", "--runs-dir", str(runs))
        assert env_result.returncode in (0, 3), env_result.stdout + env_result.stderr
        if env_result.returncode == 3:  # a step was in flight: confirm it, then finish
            interrupted = [s.id for s in state_of(folder).steps.values() if s.status == "interrupted"]
            for sid in interrupted:
                assert cli("tick", folder.name, sid, "--runs-dir", str(runs)).returncode == 0
            assert cli("resume", folder.name, "--headless", "--runs-dir", str(runs)).returncode == 0
        after = read_records(folder)
        assert after[: len(before)] == before
        rerun = {r["step"] for r in after[len(before):] if r["type"] == "step_started"}
        assert not (rerun & printed), f"steps shown as passed ran again: {rerun & printed}"
        assert all(s.status == "passed" for s in state_of(folder).steps.values())


# -- the crash loop: kill -9 and SIGHUP at random instants, then resume ----------------------------

SLOW_MARK = "sleep 1.0437"  # the slow step's own sleep: unique enough to find on the host


def _crash_loop_checklist(tmp_path: Path, shared: Path, slow_kind: str, hosts: str = "") -> Path:
    lock, log = shared / "slow.lock", shared / "slow.log"
    quick = [f'\n[[phases.steps]]\nid = "{p}{i:02d}"\nkind = "local"\nrun = "true"\nidempotent = true\n'
             for p in ("q", "r") for i in range(8)]
    # flock: a second copy that starts while the first still runs says so in the log
    slow = f"""
[[phases.steps]]
id = "slow"
kind = "{slow_kind}"
{'host = "staging"' if slow_kind == "ssh" else ""}
run = "exec 9>>{lock}; flock -n 9 || echo \\"overlap $$\\" >> {log}; echo \\"start $$\\" >> {log}; {SLOW_MARK}; echo \\"end $$\\" >> {log}"
idempotent = true
"""
    body = HEADER + hosts + '\n[[phases]]\nid = "one"\ntitle = "One"\n' + "".join(quick[:8]) + slow + "".join(quick[8:])
    return write_checklist(tmp_path, body)


def _starts(log: Path) -> int:
    return log.read_text().count("start ") if log.exists() else 0


def _slow_processes(runs: Path, since: int = 0) -> list[ProcessRef]:
    """The slow step's recorded processes (from record ``since`` on). The test sshd runs on this
    machine, so a remote one is checked through /proc here as well."""
    if not runs.exists() or not any(runs.iterdir()):
        return []
    return [ProcessRef.from_record(r) for r in read_records(only_run(runs))[since:]
            if r["type"] == "step_process" and r["step"] == "slow"]


def _crash_loop(tmp_path: Path, checklist: Path, shared: Path, extra: tuple[str, ...]) -> None:
    runs = tmp_path / "runs"
    log = shared / "slow.log"
    rng = random.Random(20261201)
    printed: set[str] = set()  # what a killed or hung-up driver PRINTED as passed
    args = ["run", str(checklist)]
    # six crashes (bounded), in a random order at random instants: both signals, both during the
    # slow step's command and after a random number of printed lines
    plan = [("slow", True), ("slow", False), ("slow", False), ("lines", True), ("lines", False), ("lines", True)]
    rng.shuffle(plan)
    for mode, hup in plan:
        proc = _start(["-m", "iact_tui", *args, "--headless", "--runs-dir", str(runs), *extra])
        assert proc.stdout is not None
        lines: list[str] = []
        starts = _starts(log)
        known = len(read_records(only_run(runs))) if runs.exists() else 0
        if mode == "lines":  # after a random number of printed lines
            for _ in range(rng.randrange(1, 30)):
                line = proc.stdout.readline()
                if not line:
                    break
                lines.append(line)
        else:  # while the slow step runs (its command really started)
            for _ in range(100):
                line = proc.stdout.readline()
                if not line:
                    break
                lines.append(line)
                if line.startswith("started slow"):
                    for _ in range(500):  # bounded polling of a condition, not a fixed sleep
                        if _starts(log) > starts or proc.poll() is not None:
                            break
                        time.sleep(0.01)
                    break
        signalled = proc.poll() is None
        if signalled:
            proc.send_signal(signal.SIGHUP if hup else signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
        lines += out.splitlines(keepends=True)
        printed |= {line.split()[1] for line in lines if line.startswith("passed ")}
        if signalled and hup:
            assert proc.returncode in (0, 3, 130), out + err
            if proc.returncode == 130:  # a hang-up stops the running command
                # (one that a kill -9 left earlier is not this driver's to stop)
                mine = _slow_processes(runs, known)
                assert not [ref for ref in mine if local_alive(ref)], "the slow step still runs after SIGHUP"
                assert "Traceback" not in err
        folder = only_run(runs)
        if state_of(folder).status == "succeeded":
            break
        args = ["resume", folder.name]
        if "is still running" in "".join(lines):  # a kill -9 left it: wait for it or stop it, never beside it
            args += [rng.choice(["--wait-running", "--stop-running"]), "slow"]
    folder = only_run(runs)
    for _ in range(5):  # then finish the run
        if state_of(folder).status == "succeeded":
            break
        done = cli(*args, "--headless", "--runs-dir", str(runs), *extra)
        args = ["resume", folder.name, "--wait-running", "slow"]
        assert done.returncode in (0, 3), done.stdout + done.stderr
    state = state_of(folder)
    assert state.status == "succeeded"
    assert all(s.status == "passed" for s in state.steps.values())
    # zero finished steps lost: everything shown as passed is recorded and never ran again
    records = read_records(folder)
    for step in printed:
        finished = [i for i, r in enumerate(records) if r["type"] == "step_finished" and r["step"] == step
                    and r["status"] == "passed"]
        assert finished, f"{step} was shown as passed but is not recorded"
        again = [r for r in records[finished[0]:] if r["type"] == "step_started" and r["step"] == step]
        assert not again, f"{step} was shown as passed, then ran again"
    # zero steps running twice at once
    text = log.read_text()
    assert "overlap" not in text, text
    assert "end " in text
    assert not [ref for ref in _slow_processes(runs) if local_alive(ref)]


def test_crash_loop_local(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    checklist = _crash_loop_checklist(tmp_path, shared, "local")
    try:
        _crash_loop(tmp_path, checklist, shared, ())
    finally:
        for ref in _slow_processes(tmp_path / "runs"):
            if local_alive(ref):
                os.killpg(ref.pid, signal.SIGKILL)


@pytest.mark.sshd
def test_crash_loop_ssh(tmp_path: Path, sshd_server: Any) -> None:
    import tomli_w

    from tests.fixtures_ssh import host_entry
    from tests.sshd import processes_matching

    shared = sshd_server.base / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    hosts = tomli_w.dumps({"hosts": {"staging": host_entry(sshd_server)}})
    checklist = _crash_loop_checklist(tmp_path, shared, "ssh", hosts)

    try:
        _crash_loop(tmp_path, checklist, shared, ("--ssh-config", "/dev/null"))
        assert not [line for line in processes_matching(SLOW_MARK) if line.split(None, 1)[1] == SLOW_MARK]
    finally:
        for line in processes_matching(SLOW_MARK, user=sshd_server.user):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(line.split()[0]), signal.SIGKILL)
