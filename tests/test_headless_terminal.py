"""Headless on a terminal: the questions are asked there (a real pseudo-terminal)."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import HEADER, ROOT, only_run, state_of, write_checklist


class Pty:
    def __init__(self, args: list[str]) -> None:
        self.master, slave = pty.openpty()
        env = {k: v for k, v in os.environ.items() if k not in ("CI",) and not k.startswith("IACT_")}
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
