"""`run/resume --headless --wait`, `tick` and the commands they print, as an outside tester used
them: real processes, waits on the lines they print (bounded), never on fixed sleeps."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from iact_tui.engine.executors.processes import ProcessRef, local_alive
from iact_tui.engine.record.store import read_records
from tests.helpers import HEADER, ROOT, cli, only_run, state_of, write_checklist
from tests.test_team import WAIT, Lines, _env, allowed_line, keygen

MANUAL_THEN_LOCAL = HEADER + """
[[phases]]
id = "p"
title = "P"

[[phases.steps]]
id = "m2"
title = "Look at the UI"
kind = "manual"
instructions = "Open the UI and check it."

[[phases.steps]]
id = "last"
title = "Last"
kind = "local"
run = "echo ok"
"""


def _driver(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], Lines]:
    """A headless driver, its stdout and stderr read line by line."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "iact_tui", *args], cwd=ROOT, env=env or _env(),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert proc.stdout is not None
    return proc, Lines(proc.stdout)


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _tick_command(line: str) -> list[str]:
    """The arguments of the command a `tick it:` line prints, as a person pastes it."""
    command = line.split("tick it: ", 1)[1].split("   (", 1)[0]
    words = shlex.split(command)
    assert words[:2] == ["iact-tui", "tick"], line
    return words[1:]


# -- 1. a manual step ticked --fail is asked again on resume ----------------------------------


def test_resume_asks_again_for_a_manual_step_ticked_failed(tmp_path: Path) -> None:
    checklist = write_checklist(tmp_path, MANUAL_THEN_LOCAL)
    runs = tmp_path / "runs"
    proc, out = _driver("run", str(checklist), "--headless", "--wait", "--operator", "ana",
                        "--runs-dir", str(runs))
    try:
        run_id = out.wait_for("run ").split()[1]
        out.wait_for(f"tick it: iact-tui tick {run_id} m2")
        done = cli("tick", run_id, "m2", "--fail", "--as", "bob", "--note", "broken", "--runs-dir", str(runs))
        assert done.returncode == 0, done.stderr
        assert proc.wait(timeout=WAIT) == 1, "\n".join(out.lines)
    finally:
        _stop(proc)
    # resume --wait: the failed manual step waits for a person again, and says what it asks
    proc, out = _driver("resume", run_id, "--headless", "--wait", "--runs-dir", str(runs))
    try:
        out.wait_for("Open the UI and check it.")
        out.wait_for(f"tick it: iact-tui tick {run_id} m2")
        assert state_of(runs / run_id).steps["m2"].status == "waiting"
        done = cli("tick", run_id, "m2", "--fail", "--as", "bob", "--note", "still broken",
                   "--runs-dir", str(runs))
        assert done.returncode == 0, done.stderr
        assert proc.wait(timeout=WAIT) == 1, "\n".join(out.lines)
    finally:
        _stop(proc)
    # a plain resume: it waits for a person, so with nobody to ask it pauses (exit 3)
    paused = cli("resume", run_id, "--headless", "--runs-dir", str(runs))
    assert paused.returncode == 3, paused.stdout + paused.stderr
    assert f"step 'm2' waits for a person: iact-tui tick {run_id} m2" in paused.stdout
    done = cli("tick", run_id, "m2", "--as", "bob", "--note", "fixed", "--runs-dir", str(runs))
    assert done.returncode == 0, done.stderr
    finished = cli("resume", run_id, "--headless", "--runs-dir", str(runs))
    assert finished.returncode == 0, finished.stdout + finished.stderr
    steps = state_of(runs / run_id).steps
    assert steps["m2"].status == "passed" and steps["m2"].ticked_by == "bob"
    assert steps["last"].status == "passed"
    resets = [r for r in read_records(runs / run_id) if r["type"] == "step_reset" and r["step"] == "m2"]
    assert len(resets) == 2  # once per resume that found it failed


# -- 2. text from people is printed inert ------------------------------------------------------

THREE_MANUAL = HEADER + """
[[phases]]
id = "p"
title = "P"

[[phases.steps]]
id = "m0"
title = "Zero"
kind = "manual"
instructions = "Look."

[[phases.steps]]
id = "m1"
title = "One"
kind = "manual"
instructions = "Look again."

[[phases.steps]]
id = "m3"
title = "Three"
kind = "manual"
instructions = "Skip me."
"""

FAKE_NOTE = "line one\nfake: run succeeded (10 passed)"
RED_NAME = "bob\x1b[31mRED\x1b[0m"
OSC_NOTE = "esc \x1b]0;pwned\x07 \x1b[2J cleared"
TWO_LINE_REASON = "r1\nr2"


def _inert(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text, repr(text)
    assert not any(line.startswith("fake:") for line in text.splitlines()), text


def test_names_notes_and_reasons_are_printed_inert(tmp_path: Path) -> None:
    checklist = write_checklist(tmp_path, THREE_MANUAL)
    runs = tmp_path / "runs"
    proc, out = _driver("run", str(checklist), "--headless", "--wait", "--operator", "ana",
                        "--runs-dir", str(runs))
    answers = []
    try:
        run_id = out.wait_for("run ").split()[1]
        out.wait_for(f"tick it: iact-tui tick {run_id} m0")
        answers.append(cli("tick", run_id, "m0", "--as", "bob", "--note", FAKE_NOTE, "--runs-dir", str(runs)))
        out.wait_for(f"tick it: iact-tui tick {run_id} m1")
        # a name with control characters is refused at input (test_tick_input.py), inertly
        refused = cli("tick", run_id, "m1", "--as", RED_NAME, "--runs-dir", str(runs))
        assert refused.returncode == 2 and "has control characters" in refused.stderr
        _inert(refused.stdout + refused.stderr)
        answers.append(cli("tick", run_id, "m1", "--as", "bob", "--note", OSC_NOTE, "--runs-dir", str(runs)))
        out.wait_for(f"tick it: iact-tui tick {run_id} m3")
        answers.append(cli("tick", run_id, "m3", "--skip", "--reason", TWO_LINE_REASON, "--as", "bob",
                           "--runs-dir", str(runs)))
        assert proc.wait(timeout=WAIT) == 0, "\n".join(out.lines)
    finally:
        _stop(proc)
    printed = "\n".join(out.lines)
    _inert(printed)
    assert out.wait_for("passed m0 by bob") == "passed m0 by bob: line one\\nfake: run succeeded (10 passed)"
    assert "passed m1 by bob: esc \\x1b]0;pwned\\x07 \\x1b[2J cleared" in printed
    assert "skipped m3 by bob: r1\\nr2" in printed
    for answer in answers:  # what `tick` answers
        assert answer.returncode == 0, answer.stderr
        _inert(answer.stdout + answer.stderr)
    assert "passed by bob" in answers[1].stdout
    # the record keeps the text as typed
    steps = state_of(runs / run_id).steps
    assert steps["m0"].note == FAKE_NOTE and steps["m1"].ticked_by == "bob"
    assert steps["m1"].note == OSC_NOTE and steps["m3"].skip_reason == TWO_LINE_REASON
    # show: inert, one line per field, the WHO column measured as printed
    shown = cli("show", run_id, "--runs-dir", str(runs))
    assert shown.returncode == 0, shown.stderr
    _inert(shown.stdout)
    lines = shown.stdout.splitlines()
    header = next(line for line in lines if line.startswith("STEP"))
    column = header.index("STARTED (UTC)")
    for row in (line for line in lines if re.match(r"m\d ", line)):
        assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row[column:]), (header, row)
    detail = cli("show", run_id, "m1", "--runs-dir", str(runs))
    _inert(detail.stdout)
    assert "note: esc \\x1b]0;pwned\\x07 \\x1b[2J cleared" in detail.stdout
    reason = cli("show", run_id, "m3", "--runs-dir", str(runs))
    assert "skip reason: r1\\nr2" in reason.stdout
    # --json keeps the raw text (JSON escapes it)
    import json

    data = json.loads(cli("show", run_id, "m1", "--runs-dir", str(runs), "--json").stdout)
    assert data["note"] == OSC_NOTE and data["who"] == "bob"


# -- 3. the printed commands work as printed ---------------------------------------------------


def test_the_printed_tick_and_resume_commands_work_as_printed(tmp_path: Path) -> None:
    checklist = write_checklist(tmp_path, MANUAL_THEN_LOCAL)
    runs = tmp_path / "x" / "runs2"
    proc, out = _driver("run", str(checklist), "--headless", "--wait", "--operator", "ana",
                        "--runs-dir", str(runs))
    try:
        run_id = out.wait_for("run ").split()[1]
        line = out.wait_for(f"tick it: iact-tui tick {run_id} m2")
        assert f"--runs-dir {runs}" in out.wait_for(f"waiting m2: needs a person — iact-tui tick {run_id} m2")
        done = cli(*_tick_command(line), "--fail", "--as", "bob")  # pasted, no IACT_RUNS_DIR
        assert done.returncode == 0, done.stderr
        assert proc.wait(timeout=WAIT) == 1
    finally:
        _stop(proc)
    # IACT_RUNS_DIR set where the run is driven, unset where its commands are pasted
    paused = cli("resume", run_id, "--headless", env={"IACT_RUNS_DIR": str(runs)})
    assert paused.returncode == 3, paused.stdout + paused.stderr
    pause_line = next(x for x in paused.stdout.splitlines() if x.startswith("paused: "))
    tick = shlex.split(pause_line.split(": ", 2)[2])
    assert tick[:2] == ["iact-tui", "tick"] and "--runs-dir" in tick, pause_line
    done = cli(*tick[1:], "--as", "bob")
    assert done.returncode == 0, done.stderr
    resume = shlex.split(paused.stderr.split("continue with: ", 1)[1].strip())
    assert resume[:2] == ["iact-tui", "resume"] and "--runs-dir" in resume, paused.stderr
    finished = cli(*resume[1:], "--headless")
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert state_of(runs / run_id).steps["last"].status == "passed"


# -- 4. --wait at an interrupted step waits for the tick ---------------------------------------


def test_wait_stays_alive_at_an_interrupted_step_until_it_is_ticked(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    checklist = write_checklist(tmp_path, HEADER + f"""
[[phases]]
id = "p"
title = "P"

[[phases.steps]]
id = "longcmd"
kind = "local"
run = "echo started > {fifo}; sleep 60; echo finished"

[[phases.steps]]
id = "after"
kind = "local"
run = "echo after"
""")
    runs = tmp_path / "runs"
    proc, out = _driver("run", str(checklist), "--headless", "--wait", "--runs-dir", str(runs))
    try:
        with open(fifo) as f:  # the step really runs
            assert f.readline().strip() == "started"
        proc.kill()  # kill -9 of the driver
        proc.wait(timeout=WAIT)
    finally:
        _stop(proc)
    folder = only_run(runs)
    [record] = [r for r in read_records(folder) if r["type"] == "step_process" and r["step"] == "longcmd"]
    orphan = ProcessRef.from_record(record)
    os.killpg(orphan.pid, signal.SIGKILL)  # the command ended meanwhile (it outlived the driver)
    deadline = time.monotonic() + WAIT
    while local_alive(orphan):  # bounded: the kernel reaps it in a moment
        assert time.monotonic() < deadline, "the orphan did not end"
        time.sleep(0.05)
    proc, out = _driver("resume", folder.name, "--headless", "--wait", "--runs-dir", str(runs))
    try:
        out.wait_for("longcmd was running when the run stopped; did it complete?")
        line = out.wait_for(f"tick it: iact-tui tick {folder.name} longcmd")
        assert "--skip --reason TEXT" in line and "--fail" in line
        done = cli(*_tick_command(line), "--note", "checked the output")
        assert done.returncode == 0, done.stderr
        assert proc.wait(timeout=WAIT) == 0, "\n".join(out.lines)
    finally:
        _stop(proc)
    assert not any(line.startswith("paused:") for line in out.lines)
    steps = state_of(folder).steps
    assert steps["longcmd"].status == "passed" and steps["longcmd"].note == "checked the output"
    assert steps["longcmd"].attempts == 1  # confirmed done, never run a second time
    assert steps["after"].status == "passed"


# -- 6 and 8d. show a confirmation the run asks for; evidence wanted ----------------------------

EVIDENCE_THEN_CONFIRM = HEADER + """
[[phases]]
id = "p"
title = "P"

[[phases.steps]]
id = "proof"
title = "Screenshot of the dashboard"
kind = "manual"
instructions = "Take a screenshot of the dashboard."
evidence = true

[[phases.steps]]
id = "confirm1"
title = "Restart"
kind = "local"
run = "echo restarted"
confirm = true
"""


def test_show_says_what_the_run_waits_for_a_confirmation_and_evidence(tmp_path: Path) -> None:
    import json

    checklist = write_checklist(tmp_path, EVIDENCE_THEN_CONFIRM)
    runs = tmp_path / "runs"
    proc, out = _driver("run", str(checklist), "--headless", "--wait", "--operator", "ana",
                        "--runs-dir", str(runs))
    try:
        run_id = out.wait_for("run ").split()[1]
        out.wait_for("evidence wanted")
        assert "--note" in out.wait_for(f"tick it: iact-tui tick {run_id} proof")
        shown = cli("show", run_id, "proof", "--runs-dir", str(runs))
        assert "evidence: wanted" in shown.stdout, shown.stdout
        done = cli("tick", run_id, "proof", "--as", "bob", "--note", "evidence: https://x/1.png",
                   "--runs-dir", str(runs))
        assert done.returncode == 0, done.stderr
        line = out.wait_for(f"tick it: iact-tui tick {run_id} confirm1")
        shown = cli("show", run_id, "confirm1", "--runs-dir", str(runs))
        assert shown.returncode == 0, shown.stderr
        assert "asks for its confirmation now" in shown.stdout, shown.stdout
        assert f"Tick it: {' '.join(['iact-tui', *_tick_command(line)])}" in shown.stdout, shown.stdout
        data = json.loads(cli("show", run_id, "confirm1", "--runs-dir", str(runs), "--json").stdout)
        assert data["confirmation"] == "waiting" and data["status"] == "pending"
        assert data["tick"] == " ".join(["iact-tui", *_tick_command(line)])
        summary = cli("show", run_id, "--runs-dir", str(runs))
        assert f"waits for a confirmation of confirm1: iact-tui tick {run_id} confirm1" in summary.stdout
        run = json.loads(cli("show", run_id, "--runs-dir", str(runs), "--json").stdout)["run"]
        assert [(w["step"], w["asks"]) for w in run["waiting_for"]] == [("confirm1", "confirmation")]
        done = cli(*_tick_command(line), "--as", "bob")
        assert done.returncode == 0, done.stderr
        assert proc.wait(timeout=WAIT) == 0, "\n".join(out.lines)
    finally:
        _stop(proc)
    data = json.loads(cli("show", run_id, "confirm1", "--runs-dir", str(runs), "--json").stdout)
    assert data["status"] == "passed" and data["confirmation"] is None and data["tick"] is None


# -- 7. a closed standard output ---------------------------------------------------------------


def test_a_driver_whose_output_is_closed_stops_as_interrupted_and_says_so(tmp_path: Path) -> None:
    checklist = write_checklist(tmp_path, MANUAL_THEN_LOCAL)
    runs = tmp_path / "runs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "iact_tui", "run", str(checklist), "--headless", "--wait",
         "--operator", "ana", "--runs-dir", str(runs)],
        cwd=ROOT, env=_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        run_id = ""
        for _ in range(50):  # bounded: the lines up to the question
            line = proc.stdout.readline()
            run_id = run_id or line.split()[1]
            if "tick it:" in line:
                break
        proc.stdout.close()  # `| head`: nobody reads the output any more
        done = cli("tick", run_id, "m2", "--as", "bob", "--runs-dir", str(runs))
        assert done.returncode == 0, done.stderr
        assert proc.wait(timeout=WAIT) == 130
        err = proc.stderr.read()
    finally:
        _stop(proc)
    assert "standard output was closed" in err, err
    assert f"resume with: iact-tui resume {run_id} --runs-dir {runs}" in err, err
    assert "Traceback" not in err, err
    state = state_of(runs / run_id)
    assert state.status == "paused" and state.steps["m2"].status == "passed"
    finished = cli("resume", run_id, "--headless", "--runs-dir", str(runs))
    assert finished.returncode == 0, finished.stdout + finished.stderr


# -- 8c. a signed answer ticked ahead names its signer ------------------------------------------


def test_a_signed_tick_ahead_says_the_signer(tmp_path: Path) -> None:
    bea = keygen(tmp_path, "bea")
    (tmp_path / "approvers").write_text(allowed_line(bea, "bea@example.com"))
    checklist = write_checklist(tmp_path, HEADER.replace(
        'roles = ["devops", "tech-lead", "developer"]',
        'roles = ["devops", "tech-lead", "developer"]\n\n[checklist.approvers]\ntech-lead = "approvers"',
    ) + """
[[phases]]
id = "p"
title = "P"

[[phases.steps]]
id = "m2"
kind = "manual"
instructions = "Look."

[[phases.steps]]
id = "approval2"
kind = "manual"
role = "tech-lead"
instructions = "Approve."
""")
    runs = tmp_path / "runs"
    paused = cli("run", str(checklist), "--headless", "--operator", "ana", "--runs-dir", str(runs),
                 env={"SSH_AUTH_SOCK": ""})
    assert paused.returncode == 3, paused.stdout + paused.stderr
    run_id = paused.stdout.split()[1]
    done = cli("tick", run_id, "approval2", "--ahead", "--sign", str(bea), "--as", "zed",
               "--runs-dir", str(runs))
    assert done.returncode == 0, done.stderr
    assert "recorded ahead: approval2 pass by bea@example.com" in done.stdout, done.stdout
    assert "zed" not in done.stdout
