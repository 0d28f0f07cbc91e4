"""Headless on a terminal: the questions are asked there (a real pseudo-terminal)."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import HEADER, ROOT, only_run, state_of, write_checklist


class Pty:
    def __init__(self, args: list[str], env_extra: dict[str, str] | None = None) -> None:
        self.master, slave = pty.openpty()
        env = {k: v for k, v in os.environ.items() if k not in ("CI",) and not k.startswith("IACT_")}
        env.update(env_extra or {})
        self.proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, env=env,
                                     close_fds=True)
        os.close(slave)
        self.seen = ""

    def expect(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"did not see {text!r} in:\n{self.seen}"
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    self.seen += os.read(self.master, 4096).decode(errors="replace")
                except OSError:  # the child closed the terminal
                    assert text in self.seen, f"did not see {text!r} in:\n{self.seen}"

    def send(self, line: str) -> None:
        os.write(self.master, (line + "\n").encode())

    def wait(self) -> int:
        code = self.proc.wait(timeout=30)
        os.close(self.master)
        return code


def test_manual_step_answered_on_the_terminal(tmp_path: Path) -> None:
    checklist = write_checklist(tmp_path, HEADER + """
[vars.branch]
default = "develop"
prompt = "Branch to deploy"

[vars.pw]
secret = true
prompt = "Smoke password"

[[phases]]
id = "one"
title = "One"

[[phases.steps]]
id = "ui-check"
kind = "manual"
role = "developer"
instructions = "Open the app for {branch}"
checks = ["Login exitoso"]

[[phases.steps]]
id = "echo"
kind = "local"
run = "echo {branch} {pw}"
""")
    runs = tmp_path / "runs"
    t = Pty([sys.executable, "-m", "iact_tui", "run", str(checklist), "--headless", "-v", "--runs-dir", str(runs),
             "--operator", "ana"])
    t.expect("Branch to deploy [develop]: ")
    t.send("release-1")
    t.expect("Smoke password: ")
    t.send("pw-on-the-tty")
    t.expect("- [ ] Login exitoso")
    t.expect("ui-check: [p]ass/[f]ail/[s]kip: ")
    t.send("p")
    t.expect("who signs this off as developer? [ana]: ")
    t.send("dev-dan")
    t.expect("note (optional): ")
    t.send("walked the main pages")
    t.expect("run succeeded")
    assert t.wait() == 0
    assert "pw-on-the-tty" not in t.seen.split("Smoke password: ", 1)[1]  # not echoed, masked in output
    state = state_of(only_run(runs))
    assert state.steps["ui-check"].ticked_by == "dev-dan"
    assert state.steps["ui-check"].note == "walked the main pages"
    assert state.info["variables"]["branch"] == "release-1"


QUESTIONS = HEADER + """
[vars.branch]
default = "develop"
prompt = "Branch to deploy"

[[phases]]
id = "one"
title = "One"

[[phases.steps]]
id = "ui-check"
kind = "manual"
instructions = "Open the app for {branch}"
"""


def _no_question_asked(output: str) -> None:
    for prompt in ("Branch to deploy", "[p]ass", "note (optional)"):
        assert prompt not in output, output


@pytest.mark.parametrize("ci", ["true", "1"])
def test_no_question_on_a_terminal_when_ci_is_set(tmp_path: Path, ci: str) -> None:
    checklist = write_checklist(tmp_path, QUESTIONS)
    runs = tmp_path / "runs"
    t = Pty([sys.executable, "-m", "iact_tui", "run", str(checklist), "--headless", "--runs-dir", str(runs)],
            env_extra={"CI": ci})
    t.expect("waits for a person")
    assert t.wait() == 3  # paused: `tick` + `resume` continue it
    _no_question_asked(t.seen)
    state = state_of(only_run(runs))
    assert state.status == "paused" and state.steps["ui-check"].status == "waiting"
    assert state.info["variables"]["branch"] == "develop"  # the default, not asked


def test_no_question_without_a_terminal(tmp_path: Path) -> None:
    checklist = write_checklist(tmp_path, QUESTIONS)
    runs = tmp_path / "runs"
    env = {k: v for k, v in os.environ.items() if k != "CI" and not k.startswith("IACT_")}
    result = subprocess.run([sys.executable, "-m", "iact_tui", "run", str(checklist), "--headless",
                             "--runs-dir", str(runs)], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 3, result.stdout + result.stderr
    _no_question_asked(result.stdout + result.stderr)
    assert state_of(only_run(runs)).steps["ui-check"].status == "waiting"


@pytest.mark.parametrize("terminal", ["ci-on-a-tty", "no-tty"])
def test_a_missing_value_is_exit_2_when_nobody_can_be_asked(tmp_path: Path, terminal: str) -> None:
    checklist = write_checklist(tmp_path, HEADER + """
[vars.pw]
secret = true
prompt = "Smoke password"

[[phases]]
id = "one"
title = "One"

[[phases.steps]]
id = "echo"
kind = "local"
run = "echo {pw}"
""")
    args = [sys.executable, "-m", "iact_tui", "run", str(checklist), "--headless", "--runs-dir", str(tmp_path / "runs")]
    if terminal == "ci-on-a-tty":
        t = Pty(args, env_extra={"CI": "true"})
        t.expect("variable 'pw' has no value")
        code, output = t.wait(), t.seen
    else:
        env = {k: v for k, v in os.environ.items() if k != "CI" and not k.startswith("IACT_")}
        result = subprocess.run(args, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                                text=True, timeout=60)
        code, output = result.returncode, result.stdout + result.stderr
    assert code == 2, output
    assert "variable 'pw' has no value: pass --var pw=VALUE" in output
    assert "Smoke password" not in output


def test_choice_confirmation_and_failure_are_asked_on_the_terminal(tmp_path: Path) -> None:
    checklist = write_checklist(tmp_path, HEADER + """
[[phases]]
id = "deploy"
title = "Deploy"

[[phases.alternatives]]
id = "auto"
title = "Automatic"

[[phases.alternatives.steps]]
id = "auto-step"
kind = "local"
run = "echo auto"

[[phases.alternatives]]
id = "by-hand"
title = "By hand"

[[phases.alternatives.steps]]
id = "hand-step"
kind = "local"
run = "echo by hand"

[[phases]]
id = "db"
title = "Database"

[[phases.steps]]
id = "restore"
kind = "local"
run = "echo restoring"
confirm = true

[[phases.steps]]
id = "flaky"
kind = "local"
run = "echo broken; exit 5"
""")
    runs = tmp_path / "runs"
    t = Pty([sys.executable, "-m", "iact_tui", "run", str(checklist), "--headless", "--runs-dir", str(runs),
             "--operator", "ana", "--on-failure", "ask"])
    t.expect("Deploy: choose one of auto, by-hand: ")
    t.send("by-hand")
    t.expect("run it? [y]es/[n]o: ")
    t.send("y")
    t.expect("flaky failed: [r]etry/[s]kip/[a]bort: ")
    t.send("s")
    t.expect("reason: ")
    t.send("known breakage, ticket 42")
    t.expect("run succeeded")
    assert t.wait() == 0
    state = state_of(only_run(runs))
    assert state.choices["deploy"] == ["by-hand"]
    assert state.steps["auto-step"].status == "not_applicable"
    assert state.steps["hand-step"].status == "passed"
    assert "restore" in state.confirmed and state.steps["restore"].status == "passed"
    assert state.steps["flaky"].status == "skipped"
    assert state.steps["flaky"].skip_reason == "known breakage, ticket 42"
