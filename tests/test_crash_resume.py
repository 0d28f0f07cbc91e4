"""kill -9 at several moments, interrupted steps, ticks from another terminal, changed checklists."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from iact_tui.engine.store import read_records
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


def test_kill9_during_running_step_then_confirm_done(tmp_path: Path) -> None:
    fifo = _fifo(tmp_path / "fifo")
    checklist = _checklist(tmp_path, fifo)
    folder = _kill_during_step(tmp_path, checklist, fifo)
    before = read_records(folder)  # readable after kill -9
    assert [r["type"] for r in before][-1] == "step_started"
    result = cli("resume", folder.name, "--headless", "--runs-dir", str(folder.parent))
    assert result.returncode == 3
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


def test_kill9_then_rerun_flag(tmp_path: Path) -> None:
    fifo = _fifo(tmp_path / "fifo")
    checklist = _checklist(tmp_path, fifo)
    folder = _kill_during_step(tmp_path, checklist, fifo)
    # the re-run writes to the fifo again: read it from a thread-free child so the step goes on
    reader = subprocess.Popen(["sh", "-c", f"cat {fifo} > /dev/null"])
    proc = _start(["-m", "iact_tui", "resume", folder.name, "--headless", "--runs-dir", str(folder.parent),
                   "--rerun", "migrate"])
    reader.wait(timeout=30)
    proc.send_signal(signal.SIGINT)  # Ctrl-C: the step is interrupted, the run pauses, exit 130
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err
    state = state_of(folder)
    assert state.steps["migrate"].status == "interrupted"
    assert state.steps["migrate"].attempts == 2
    assert state.status == "paused"


def test_idempotent_interrupted_step_is_rerun(tmp_path: Path) -> None:
    fifo = _fifo(tmp_path / "fifo")
    checklist = _checklist(tmp_path, fifo, idempotent="true")
    folder = _kill_during_step(tmp_path, checklist, fifo)
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
        for _ in range(target + 3):  # kill after a random number of printed state changes
            if not proc.stdout.readline():
                break
        proc.kill()
        proc.wait(timeout=10)
        folder = only_run(runs)
        before = read_records(folder)
        finished = {r["step"] for r in before if r["type"] == "step_finished"}
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
        assert not (rerun & finished), f"finished steps ran again: {rerun & finished}"
        assert all(s.status == "passed" for s in state_of(folder).steps.values())
