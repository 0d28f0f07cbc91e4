"""Drives the real command line against the stack, as an operator (and a second person) would:
``iact-tui run checklists/staging.toml --headless …`` as a subprocess, ``iact-tui tick`` from
another process for the manual steps, ``iact-tui resume`` to go on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iact_tui.engine.record.state import RunState, reduce
from iact_tui.engine.record.store import JOURNAL, read_records

from .stack import Deployment, Stack

REPO = Path(__file__).resolve().parents[2]
CHECKLIST = REPO / "checklists" / "staging.toml"
OPERATOR = "ana.devops"
# who ticks the steps that name a role; the Tech Lead approval needs someone else than the operator
SIGNERS = {"tech-lead": "luis.techlead", "developer": "maria.dev"}
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_PAUSED = 0, 1, 2, 3


@dataclass
class Result:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def __str__(self) -> str:  # what a failed assertion shows
        return (
            f"$ {' '.join(self.argv)}\nexit {self.returncode} after {self.seconds:.1f} s\n"
            f"--- stdout\n{self.stdout[-4000:]}\n--- stderr\n{self.stderr[-2000:]}"
        )


@dataclass
class Cli:
    stack: Stack
    deployment: Deployment
    work: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    results: list[Result] = field(default_factory=list)
    run_id: str = ""
    _spawned: dict[int, tuple[Any, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.runs_dir = self.work / "runs"
        self.home = (
            self.work / "home"
        )  # the operator's home: no ~/.ssh/config unless a test writes one
        self.home.mkdir(parents=True, exist_ok=True)

    @property
    def env(self) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "IACT_RUNS_DIR": str(self.runs_dir),
            "IACT_OPERATOR": OPERATOR,
            "IACT_SMOKE_PASSWORD": self.stack.smoke_password,
            "PYTHONUNBUFFERED": "1",
        }
        env.update(self.extra_env)
        return env

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "iact_tui", *args]

    def run_args(self, *extra: str, vars_: dict[str, str] | None = None) -> list[str]:
        values = self.deployment.checklist_vars() | (vars_ or {})
        args = ["run", str(CHECKLIST), "--headless", "--choose", "deploy=manual"]
        for key, value in values.items():
            args += ["--var", f"{key}={value}"]
        return args + list(extra)

    def call(self, *args: str, timeout: float = 240) -> Result:
        argv = self.argv(*args)
        t0 = time.monotonic()
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            env=self.env,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )
        result = Result(argv, proc.returncode, proc.stdout, proc.stderr, time.monotonic() - t0)
        self.results.append(result)
        if not self.run_id and proc.stdout.startswith("run "):
            self.run_id = proc.stdout.split()[1]
        return result

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        """Start a command and return at once (for the tests that kill or interrupt it); its
        output goes to files, read by ``collect``."""
        n = len(self.results) + len(self._spawned)
        out = (self.work / f"spawned-{n}.out").open("w+")
        err = (self.work / f"spawned-{n}.err").open("w+")
        proc = subprocess.Popen(
            self.argv(*args),
            stdout=out,
            stderr=err,
            text=True,
            env=self.env,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
        )
        self._spawned[proc.pid] = (out, err)
        return proc

    def collect(self, proc: subprocess.Popen[str], timeout: float = 120) -> Result:
        proc.wait(timeout=timeout)
        out, err = self._spawned.pop(proc.pid)
        with out, err:
            out.seek(0)
            err.seek(0)
            result = Result(
                [str(a) for a in proc.args], proc.returncode, out.read(), err.read(), 0.0
            )  # type: ignore[union-attr]
        self.results.append(result)
        if not self.run_id and result.stdout.startswith("run "):
            self.run_id = result.stdout.split()[1]
        return result

    # -- the run's record -----------------------------------------------------------------------

    @property
    def folder(self) -> Path:
        assert self.run_id, "no run started yet"
        return self.runs_dir / self.run_id

    def state(self) -> RunState:
        return reduce(read_records(self.folder))

    def report(self) -> dict[str, Any]:
        return tomllib.loads((self.folder / "report.toml").read_text())

    def journal_has(self, record_type: str, step: str) -> bool:
        """Whether the write-ahead journal holds ``record_type`` for ``step`` (read as a
        second process would: only complete lines count)."""
        journal = self.folder / JOURNAL if self.run_id else None
        if journal is None or not journal.exists():
            return False
        for line in journal.read_bytes().split(b"\n")[:-1]:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get("type") == record_type and rec.get("step") == step:
                return True
        return False

    def find_run_id(self) -> str:
        """The run folder of a spawned run, once it exists (a spawned run prints into a file)."""
        if not self.run_id and self.runs_dir.is_dir():
            folders = sorted(p.name for p in self.runs_dir.iterdir() if p.is_dir())
            if folders:
                self.run_id = folders[-1]
        return self.run_id

    # -- a person at another terminal -----------------------------------------------------------

    def tick_waiting(self) -> list[str]:
        """Tick every step that waits for a person, as the person its role names; returns them."""
        from iact_tui.engine.checklist.load import parse_checklist

        pinned = parse_checklist(
            (self.folder / "checklist.toml").read_bytes(), "checklist.toml"
        ).checklist
        ticked = []
        for step_id, record in self.state().steps.items():
            if record.status != "waiting":
                continue
            step = pinned.step(step_id)
            signer = SIGNERS.get(getattr(step, "role", None) or "", OPERATOR)
            note = f"checked by {signer} on the test stack"
            result = self.call("tick", self.run_id, step_id, "--as", signer, "--note", note)
            assert result.returncode == 0, str(result)
            ticked.append(step_id)
        return ticked

    def drive(self, first: Result, *resume_args: str, max_rounds: int = 25) -> Result:
        """Tick whatever waits for a person and resume, until the run stops for another reason."""
        result = first
        for _ in range(max_rounds):
            if result.returncode != EXIT_PAUSED:
                return result
            ticked = self.tick_waiting()
            assert ticked, f"the run paused but no step waits for a person:\n{result}"
            result = self.call("resume", self.run_id, "--headless", *resume_args)
        raise AssertionError(f"the run still pauses after {max_rounds} rounds of ticks:\n{result}")

    def all_output(self) -> str:
        return "\n".join(r.stdout + "\n" + r.stderr for r in self.results)
