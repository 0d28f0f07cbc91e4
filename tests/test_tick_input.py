"""What a person types into `tick`, `run`, `resume` and `watch`, and which steps a tick may answer,
as an outside tester found them: text that is not UTF-8, names with terminal escapes, a tick on a
step whose command still runs, a confirmation a paused run asks for. Real processes; waits on the
lines they print (bounded), never on fixed sleeps."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from iact_tui.engine.executors.processes import ProcessRef, local_alive
from iact_tui.engine.record.identity import same_person
from iact_tui.engine.record.state import reduce
from iact_tui.engine.record.store import read_records
from iact_tui.engine.record.ticks import Tick, TickRefused, post_request
from tests import runfactory
from tests.helpers import HEADER, cli, only_run, state_of, write_checklist
from tests.test_team import WAIT
from tests.test_wait_fixes import MANUAL_THEN_LOCAL, _driver, _stop

BAD = "bad byte \udc9b here"  # how Python hands over argv/environment bytes that are not UTF-8
SHOWN = "bad byte \\x9b here"


def _paused_at_m2(tmp_path: Path) -> tuple[str, Path, Path]:
    checklist = write_checklist(tmp_path, MANUAL_THEN_LOCAL)
    runs = tmp_path / "runs"
    started = cli("run", str(checklist), "--headless", "--operator", "ana", "--runs-dir", str(runs))
    assert started.returncode == 3, started.stdout + started.stderr
    folder = only_run(runs)
    return folder.name, folder, runs


# -- 1. text that is not UTF-8 ------------------------------------------------------------------


@pytest.mark.parametrize("option", ["--as", "--note", "--reason"])
def test_tick_refuses_text_that_is_not_utf8_before_sending(tmp_path: Path, option: str) -> None:
    run_id, folder, runs = _paused_at_m2(tmp_path)
    extra = ["--skip"] if option == "--reason" else []
    done = cli("tick", run_id, "m2", option, BAD, *extra, "--runs-dir", str(runs))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert f"{option} is not valid UTF-8 text ({SHOWN})" in done.stderr, done.stderr
    assert not (folder / "inbox").exists() or not list((folder / "inbox").glob("*.json"))
    assert state_of(folder).steps["m2"].status == "waiting"
    ok = cli("tick", run_id, "m2", "--as", "bob", "--runs-dir", str(runs))
    assert ok.returncode == 0, ok.stderr
    assert cli("resume", run_id, "--headless", "--runs-dir", str(runs)).returncode == 0


def test_the_driver_rejects_a_request_that_is_not_utf8_and_goes_on(tmp_path: Path) -> None:
    checklist = write_checklist(tmp_path, MANUAL_THEN_LOCAL)
    runs = tmp_path / "runs"
    proc, out = _driver("run", str(checklist), "--headless", "--wait", "--operator", "ana",
                        "--runs-dir", str(runs))
    try:
        run_id = out.wait_for("run ").split()[1]
        out.wait_for(f"tick it: iact-tui tick {run_id} m2")
        inbox = runs / run_id / "inbox"
        # what an older `tick` left: JSON escapes the lone surrogate, the file is ASCII
        rid = post_request(inbox, Tick("m2", "pass", "bob", note=BAD))
        out.wait_for(f"{rid}.json has a note that is not valid UTF-8 text", within=20)
        assert (inbox / "rejected" / f"{rid}.json").exists()
        answer = json.loads((inbox / f"{rid}.result").read_text())
        assert answer["ok"] is False and "not valid UTF-8" in answer["message"]
        done = cli("tick", run_id, "m2", "--as", "bob", "--runs-dir", str(runs))
        assert done.returncode == 0, done.stderr
        assert proc.wait(timeout=WAIT) == 0, "\n".join(out.lines)
    finally:
        _stop(proc)
    assert "Traceback" not in "\n".join(out.lines)
    assert state_of(runs / run_id).steps["last"].status == "passed"


def test_run_and_resume_refuse_an_operator_or_var_that_is_not_utf8(tmp_path: Path) -> None:
    checklist = write_checklist(tmp_path, MANUAL_THEN_LOCAL)
    runs = tmp_path / "runs"
    for extra, env in (([], {"IACT_OPERATOR": "a\udcffb"}), (["--var", f"x={BAD}"], {})):
        started = cli("run", str(checklist), "--headless", *extra, "--runs-dir", str(runs), env=env)
        assert started.returncode == 2, started.stdout + started.stderr
        assert "not valid UTF-8 text" in started.stderr and "Traceback" not in started.stderr
        assert not runs.exists() or not any(runs.iterdir()), "a run folder was made"
    run_id, folder, runs = _paused_at_m2(tmp_path)
    before = len(read_records(folder))
    resumed = cli("resume", run_id, "--headless", "--runs-dir", str(runs),
                  env={"IACT_OPERATOR": "a\udcffb"})
    assert resumed.returncode == 2, resumed.stdout + resumed.stderr
    assert "the operator name is not valid UTF-8 text (a\\xffb)" in resumed.stderr
    assert len(read_records(folder)) == before


# -- 2. terminal escapes in a name --------------------------------------------------------------

ESCAPED = [
    "\x1b[31mAna María",
    "Ana María\x1b[0m",
    "Ana \x1b[0mMaría",
    "Ana\x1b[1CMaría",
    "\x1b]0;title\x07Ana María",
    "\x9b1mAna María",  # a C1 CSI
    "Ana\x1bPpayload\x1b\\ María",  # a DCS string
]


@pytest.mark.parametrize("name", ESCAPED)
def test_a_name_with_escape_sequences_is_the_same_person(name: str) -> None:
    assert same_person(name, "Ana María")
    assert not same_person(name, "Bea Ruiz")


@pytest.mark.parametrize("name", ESCAPED[:4])
def test_tick_refuses_a_name_with_control_characters(tmp_path: Path, name: str) -> None:
    run_id, folder, runs = _paused_at_m2(tmp_path)
    done = cli("tick", run_id, "m2", "--as", name, "--runs-dir", str(runs))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "has control characters" in done.stderr and "\x1b" not in done.stderr
    assert state_of(folder).steps["m2"].status == "waiting"


def test_run_and_watch_refuse_a_name_with_control_characters(tmp_path: Path) -> None:
    checklist = write_checklist(tmp_path, MANUAL_THEN_LOCAL)
    runs = tmp_path / "runs"
    for extra, env in ((["--operator", "Ana\x1b[1CMaría"], {}), ([], {"IACT_OPERATOR": "\x1b[31mAna"})):
        started = cli("run", str(checklist), "--headless", *extra, "--runs-dir", str(runs), env=env)
        assert started.returncode == 2, started.stdout + started.stderr
        assert "the operator name" in started.stderr and "has control characters" in started.stderr
        assert not runs.exists() or not any(runs.iterdir()), "a run folder was made"
    watched = cli("watch", "no-such-run", "--as", "Ana\x1b[0m", "--runs-dir", str(runs), timeout=20)
    assert watched.returncode == 2, watched.stdout + watched.stderr
    assert "--as Ana\\x1b[0m has control characters" in watched.stderr


# -- 3. a tick on a step whose command still runs -----------------------------------------------


def test_a_tick_does_not_answer_a_step_whose_command_still_runs(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    checklist = write_checklist(tmp_path, MANUAL_THEN_LOCAL.replace('''[[phases.steps]]
id = "last"''', f'''[[phases.steps]]
id = "slow"
kind = "local"
run = "echo started > {fifo}; sleep 60"

[[phases.steps]]
id = "last"'''))
    runs = tmp_path / "runs"
    proc, out = _driver("run", str(checklist), "--headless", "--wait", "--operator", "ana",
                        "--runs-dir", str(runs))
    try:
        run_id = out.wait_for("run ").split()[1]
        out.wait_for(f"tick it: iact-tui tick {run_id} m2")
        assert cli("tick", run_id, "m2", "--as", "bob", "--runs-dir", str(runs)).returncode == 0
        with open(fifo) as f:  # slow really runs
            assert f.readline().strip() == "started"
        proc.kill()  # kill -9 of the driver during slow
        proc.wait(timeout=WAIT)
    finally:
        _stop(proc)
    folder = runs / run_id
    [record] = [r for r in read_records(folder) if r["type"] == "step_process" and r["step"] == "slow"]
    orphan = ProcessRef.from_record(record)
    try:
        paused = cli("resume", run_id, "--headless", "--runs-dir", str(runs))
        assert paused.returncode == 3, paused.stdout + paused.stderr
        assert f"process group {orphan.pid}" in paused.stdout
        refused = cli("tick", run_id, "slow", "--as", "bob", "--runs-dir", str(runs))
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert f"process group {orphan.pid} on this machine" in refused.stderr
        assert f"iact-tui resume {run_id} --wait-running slow --runs-dir {runs}" in refused.stderr
        assert f"iact-tui resume {run_id} --stop-running slow --runs-dir {runs}" in refused.stderr
        for action in (["--fail"], ["--skip", "--reason", "later"]):
            assert cli("tick", run_id, "slow", *action, "--runs-dir", str(runs)).returncode == 2
        assert state_of(folder).steps["slow"].status == "interrupted"
    finally:
        os.killpg(orphan.pid, signal.SIGKILL)  # the command ends (it outlived the driver)
    deadline = time.monotonic() + WAIT
    while local_alive(orphan):  # bounded: the kernel reaps it in a moment
        assert time.monotonic() < deadline, "the orphan did not end"
        time.sleep(0.05)
    # gone: a local process is checked at once, and the tick is taken as before
    done = cli("tick", run_id, "slow", "--as", "bob", "--runs-dir", str(runs))
    assert done.returncode == 0, done.stderr
    assert "recorded: slow passed by bob" in done.stdout
    finished = cli("resume", run_id, "--headless", "--runs-dir", str(runs))
    assert finished.returncode == 0, finished.stdout + finished.stderr


def test_a_remote_process_is_refused_until_a_resume_recorded_it_ended(tmp_path: Path) -> None:
    from iact_tui.engine.record.ticks import check_not_running
    from iact_tui.engine.run.runner import process_alive_here

    plan = [{"id": "slow", "phase": "p", "kind": "ssh"}]
    records = [
        {"type": "run_created", "run_id": "R", "at": "2026-01-01T00:00:00+00:00", "plan": plan},
        {"type": "step_started", "step": "slow", "attempt": 1, "at": "2026-01-01T00:00:01+00:00"},
        {"type": "step_process", "step": "slow", "pid": 4242, "host": "web1", "start": "77"},
        {"type": "step_interrupted", "step": "slow", "reason": "the driver was killed"},
        {"type": "run_paused", "reason": "interrupted"},
    ]
    state = reduce(records)
    tick = Tick("slow", "pass", "bob")
    with pytest.raises(TickRefused, match=r"process group 4242 on web1.*may still run.*--wait-running slow"):
        check_not_running(state, tmp_path / "R", tick, process_alive_here)
    state.apply({"type": "step_process_ended", "step": "slow", "pid": 4242, "host": "web1", "how": "ended"})
    check_not_running(state, tmp_path / "R", tick, process_alive_here)  # known gone: taken


# -- 4. a confirmation a paused run asks for ----------------------------------------------------

CONFIRM = HEADER + """
[[phases]]
id = "p"
title = "P"

[[phases.steps]]
id = "restore"
title = "Restore the database"
kind = "local"
run = "echo restored"
confirm = true
"""


def test_a_tick_confirms_the_step_a_paused_run_asked_to_confirm(tmp_path: Path) -> None:
    checklist = write_checklist(tmp_path, CONFIRM)
    runs = tmp_path / "runs"
    paused = cli("run", str(checklist), "--headless", "--operator", "ana", "--runs-dir", str(runs))
    assert paused.returncode == 3, paused.stdout + paused.stderr
    folder = only_run(runs)
    run_id = folder.name
    pause = next(line for line in paused.stdout.splitlines() if line.startswith("paused: "))
    assert f"iact-tui tick {run_id} restore --runs-dir {runs}" in pause, pause
    assert f"iact-tui resume {run_id} --yes --runs-dir {runs}" in pause, pause
    declined = cli("tick", run_id, "restore", "--fail", "--as", "bob", "--runs-dir", str(runs))
    assert declined.returncode == 0, declined.stderr
    assert "not confirmed: restore stays unconfirmed" in declined.stdout
    assert "restore" not in state_of(folder).confirmed
    done = cli("tick", run_id, "restore", "--as", "bob", "--note", "backup checked",
               "--runs-dir", str(runs))
    assert done.returncode == 0, done.stderr
    assert "confirmed: restore by bob" in done.stdout
    [confirmed] = [r for r in read_records(folder) if r["type"] == "step_confirmed"]
    assert (confirmed["by"], confirmed["how"], confirmed["note"]) == ("bob", "tick", "backup checked")
    again = cli("tick", run_id, "restore", "--runs-dir", str(runs))
    assert again.returncode == 2  # confirmed once; the step does not wait for a person now
    finished = cli("resume", run_id, "--headless", "--runs-dir", str(runs))  # no --yes
    assert finished.returncode == 0, finished.stdout + finished.stderr
    records = read_records(folder)
    assert [r["type"] for r in records].count("confirmation_asked") == 1  # not asked again
    assert state_of(folder).steps["restore"].status == "passed"


def test_show_no_longer_asks_for_a_confirmation_a_tick_gave(tmp_path: Path) -> None:
    checklist = write_checklist(tmp_path, CONFIRM)
    runs = tmp_path / "runs"
    assert cli("run", str(checklist), "--headless", "--operator", "ana", "--runs-dir", str(runs)).returncode == 3
    folder = only_run(runs)
    asked = cli("show", str(folder), "restore")
    assert "asking for its confirmation" in asked.stdout, asked.stdout
    assert f"Tick it: iact-tui tick {folder.name} restore" in asked.stdout, asked.stdout  # it works
    assert cli("tick", str(folder), "restore", "--as", "bob").returncode == 0
    shown = cli("show", str(folder), "restore")
    assert shown.returncode == 0 and "asking for its confirmation" not in shown.stdout, shown.stdout


def test_a_blank_invisible_or_punctuation_name_is_no_approver(tmp_path: Path) -> None:
    from iact_tui.engine.record.identity import name_problem, same_person

    for name in ("\u200b", "\u3164", "\u2800", "-"):
        assert "no letter or digit" in name_problem("--as", name), repr(name)
    assert same_person("ana", "\u1d00\u0274\u1d00")  # small capitals read as the letters
    assert same_person("Carlos", "\u1d04\u1d00\u0280\u029f\u1d0f\ua731")
    assert not same_person("ana", "bea")


def test_a_tick_on_a_step_its_killed_driver_was_running_points_to_resume(tmp_path: Path) -> None:
    b = runfactory.RunBuilder(tmp_path)
    b.start("staging-health")  # recorded running; no process drives the run now
    b.close()
    done = cli("tick", str(b.folder), "staging-health", "--as", "bob")
    assert done.returncode == 2
    assert "resume the run first" in done.stderr and f"iact-tui resume {b.folder.name}" in done.stderr, done.stderr


def test_resume_refuses_a_rollback_reason_that_is_not_utf8(tmp_path: Path) -> None:
    import os

    checklist = write_checklist(tmp_path, CONFIRM)
    runs = tmp_path / "runs"
    assert cli("run", str(checklist), "--headless", "--operator", "ana", "--runs-dir", str(runs)).returncode == 3
    folder = only_run(runs)
    before = (folder / "journal.jsonl").read_bytes() + (folder / "report.toml").read_bytes()
    done = cli("resume", str(folder), "--headless", "--operator", "ana", "--rollback", "--reason", os.fsdecode(b"\xff"))
    assert done.returncode == 2 and "--reason" in done.stderr and "UTF-8" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert (folder / "journal.jsonl").read_bytes() + (folder / "report.toml").read_bytes() == before


def test_watch_refuses_a_default_name_with_control_characters(tmp_path: Path) -> None:
    b = runfactory.RunBuilder(tmp_path)
    b.wait("staging-health")
    b.close()
    done = cli("watch", str(b.folder), env={"IACT_OPERATOR": "a\x1b[31mb"}, timeout=30)
    assert done.returncode == 2 and "control characters" in done.stderr and "--as" in done.stderr, done.stderr


def test_resume_refuses_an_unknown_step_for_wait_or_stop_running(tmp_path: Path) -> None:
    checklist = write_checklist(tmp_path, CONFIRM)
    runs = tmp_path / "runs"
    assert cli("run", str(checklist), "--headless", "--operator", "ana", "--runs-dir", str(runs)).returncode == 3
    folder = only_run(runs)
    for option in ("--wait-running", "--stop-running"):
        done = cli("resume", str(folder), "--headless", "--operator", "ana", option, "nosuch")
        assert done.returncode == 2 and f"{option} nosuch: the checklist has no step" in done.stderr, done.stderr
