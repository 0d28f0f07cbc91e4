"""The headless front end: one line per state change, questions on the terminal when there is one.

Without a terminal, a question nobody can answer pauses the run (exit 3); `iact-tui tick` and
`iact-tui resume` continue it.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import sys
from typing import Any, TextIO

from iact_tui.engine import events as ev
from iact_tui.engine.checklist.model import Phase
from iact_tui.engine.executors.base import MaskedOutput
from iact_tui.engine.run.runner import Decision, Failure
from iact_tui.engine.record.ticks import Tick


class Terminal:
    """Line questions on the controlling terminal, cancellable (reads stdin without a thread)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    @staticmethod
    def available() -> bool:
        return sys.stdin.isatty() and os.environ.get("CI", "").lower() not in ("true", "1")

    async def ask(self, prompt: str) -> str:
        loop = asyncio.get_running_loop()
        fd = sys.stdin.fileno()
        self.out.write(prompt)
        self.out.flush()
        done: asyncio.Future[str] = loop.create_future()
        buffer = bytearray()

        def readable() -> None:
            chunk = os.read(fd, 1024)
            if not chunk:
                if not done.done():
                    done.set_result(buffer.decode(errors="replace"))
                return
            buffer.extend(chunk)
            if b"\n" in buffer and not done.done():
                done.set_result(buffer.split(b"\n", 1)[0].decode(errors="replace"))

        loop.add_reader(fd, readable)
        try:
            return (await done).strip()
        finally:
            loop.remove_reader(fd)

    async def choice(self, prompt: str, options: dict[str, str]) -> str:
        keys = "/".join(f"[{k}]{v[len(k):] if v.startswith(k) else ' ' + v}" for k, v in options.items())
        for _ in range(20):  # bounded: a person who keeps typing nonsense gets a pause
            answer = (await self.ask(f"{prompt} {keys}: ")).lower()
            for key, word in options.items():
                if answer in (key, word):
                    return key
            self.out.write(f"  please answer one of: {', '.join(options.values())}\n")
        raise EOFError


class HeadlessOperator:
    def __init__(
        self,
        name: str,
        *,
        on_failure: str = "stop",
        terminal: Terminal | None = None,
        assume_yes: bool = False,
        auto_tick: str | None = None,
        auto_tick_note: str = "",
    ) -> None:
        self.name = name
        self.on_failure = on_failure
        self.terminal = terminal
        self.assume_yes = assume_yes
        self.auto_tick = auto_tick
        self.auto_tick_note = auto_tick_note or "ticked automatically (--auto-tick)"

    async def choose(self, phase: Phase, defaults: list[str]) -> list[str] | None:
        if defaults:
            return defaults
        if self.terminal is None:
            return None
        ids = [a.id for a in phase.alternatives]
        for alt in phase.alternatives:
            self.terminal.out.write(f"  {alt.id}: {alt.title}\n")
        answer = await self.terminal.ask(f"{phase.title}: choose {'one or more of' if phase.multiple else 'one of'} {', '.join(ids)}: ")
        chosen = [a.strip() for a in answer.split(",") if a.strip()]
        return chosen or None

    async def confirm(self, step: Any, command: str) -> bool | None:
        if self.assume_yes:
            return True
        if self.terminal is None:
            return None
        self.terminal.out.write(f"  {step.id} will run:\n    {command}\n")
        return await self.terminal.choice("  run it?", {"y": "yes", "n": "no"}) == "y"

    async def manual(self, step: Any, instructions: str) -> Tick | None:
        if self.auto_tick:
            return Tick(step.id, "pass", self.auto_tick, note=self.auto_tick_note)
        if self.terminal is None:
            return None
        t = self.terminal
        t.out.write(_indent(instructions) + "\n")
        key = await t.choice(f"  {step.id}:", {"p": "pass", "f": "fail", "s": "skip"})
        by = self.name
        if getattr(step, "role", None):
            by = (await t.ask(f"  who signs this off as {step.role}? [{self.name}]: ")) or self.name
        if key == "s":
            reason = await t.ask("  reason for skipping: ")
            return Tick(step.id, "skip", by, reason=reason)
        note = await t.ask("  note (optional): ")
        return Tick(step.id, "pass" if key == "p" else "fail", by, note=note)

    async def failure(self, step: Any, failure: Failure) -> Decision | None:
        if self.on_failure == "rollback" and failure.can_rollback:
            return Decision("rollback", self.name, f"step '{step.id}' failed: {failure.message}")
        if self.on_failure == "ask" and self.terminal is not None:
            options = {"r": "retry", "s": "skip", "a": "abort"}
            if failure.can_rollback:
                options["b"] = "rollback"
            key = await self.terminal.choice(f"  {step.id} failed:", options)
            action = options[key]
            reason = ""
            if action in ("skip", "rollback", "abort"):
                reason = await self.terminal.ask("  reason: ")
            return Decision(action, self.name, reason)
        return None  # stop: the run is failed and resumable

    async def interrupted(self, step: Any, running: str = "") -> Decision | None:
        if self.terminal is None:
            return None
        if running:  # its process outlived the run that started it: never a second copy
            key = await self.terminal.choice(
                f"  {step.id} is still running ({running}):",
                {"w": "wait", "s": "stop", "l": "later"},
            )
            return {"w": Decision("wait", self.name), "s": Decision("stop", self.name)}.get(key)
        key = await self.terminal.choice(
            f"  {step.id} was running when the run stopped; did it complete?",
            {"r": "rerun", "d": "done", "s": "skip"},
        )
        if key == "r":
            return Decision("rerun", self.name)
        if key == "d":
            note = await self.terminal.ask("  note (what you checked): ")
            return Decision("done", self.name, note=note or "confirmed done after interruption")
        return Decision("skip", self.name, await self.terminal.ask("  reason: "))

    async def pace(self, step: Any) -> None:
        return None


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.strip().splitlines())


class Printer:
    """Prints one line per state change; step output only with verbose (always the tail of a failure)."""

    def __init__(self, out: TextIO, *, verbose: bool = False, run_id: str = "") -> None:
        self.out = out
        self.verbose = verbose
        self.run_id = run_id
        self.runner: Any = None

    def __call__(self, event: ev.Event) -> None:
        line = self.format(event)
        if line is not None and self.runner is not None and not isinstance(event, MaskedOutput):
            line = self.runner.values.redactor(line)  # the last boundary: what reaches the terminal
        if line is not None:
            self.out.write(line if line.endswith("\n") else line + "\n")
            if not isinstance(event, ev.StepOutput):
                self.out.flush()

    def format(self, e: ev.Event) -> str | None:
        if isinstance(e, ev.RunOpened):
            self.run_id = e.run_id
            return f"run {e.run_id} {e.folder}" + ("\nresumed" if e.resumed else "")
        if isinstance(e, ev.PhaseStarted):
            return f"phase {e.phase_id}: {e.title}"
        if isinstance(e, ev.HostConnected):
            return f"host {e.host} {e.address} {e.fingerprint}"
        if isinstance(e, ev.StepStarted):
            first = e.command.splitlines()[0] if e.command else ""
            return f"started {e.step_id} (attempt {e.attempt}): {first}"
        if isinstance(e, ev.StepOutput):
            if not self.verbose:
                return None
            return "".join(f"  | {line}\n" for line in e.text.splitlines())
        if isinstance(e, ev.StepFinished):
            text = f"{e.status} {e.step_id} in {e.duration:.2f} s"
            if e.message:
                text += f": {e.message}"
            if e.status == "failed" and not self.verbose and self.runner is not None:
                tail = self.runner.state.steps[e.step_id].output_tail[-10:]
                if tail:
                    text += "\n" + "\n".join(f"  | {line}" for line in tail)
            if e.will_retry:
                text += " (will retry)"
            return text
        if isinstance(e, ev.StepChanged):
            by = f" by {e.by}" if e.by else ""
            detail = f": {e.detail}" if e.detail else ""
            return f"{e.status.replace('_', ' ')} {e.step_id}{by}{detail}"
        if isinstance(e, ev.Waiting):
            if e.question == "manual":
                return f"waiting {e.step_id}: needs a person — iact-tui tick {self.run_id} {e.step_id}"
            if e.question == "failure":
                return None
            if e.question == "confirm":
                return f"confirm {e.step_id}: asks for confirmation before it runs"
            if e.question == "choice":
                return f"choice {e.phase_id}: {e.detail}"
            if e.question == "interrupted":
                return f"interrupted {e.step_id}: {e.detail}"
            return None
        if isinstance(e, ev.HintShown):
            advice = "\n".join(f"    {line}" for line in e.advice.strip().splitlines())
            return f"hint for {e.step_id}: {e.title}\n{advice}"
        if isinstance(e, ev.Notice):
            return f"{e.level if e.level != 'info' else 'note'}: {e.text}"
        if isinstance(e, ev.RunPaused):
            return f"paused: {e.reason}"
        if isinstance(e, ev.RunFinished):
            counts = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in sorted(e.summary.items()))
            line = f"run {e.status.replace('_', ' ')} ({counts})"
            skipped = self.runner.state.skipped_approvals if self.runner is not None else []
            if skipped:  # a run whose approval was skipped says so in its last line
                line += "; approval skipped: " + "; ".join(
                    f"{s.id} by {s.skipped_by or 'unknown'} ({s.skip_reason})" for s in skipped
                )
            return line
        return None


def ask_value_on_terminal(out: TextIO) -> Any:
    """An AskValue for the start of a headless run on a terminal."""

    def ask(name: str, prompt: str, secret: bool, default: str | None) -> str | None:
        if not Terminal.available():
            return None
        suffix = f" [{default}]" if default else ""
        with contextlib.suppress(EOFError, KeyboardInterrupt):
            if secret:
                return getpass.getpass(f"{prompt}: ") or None
            out.write(f"{prompt}{suffix}: ")
            out.flush()
            answer = sys.stdin.readline().strip()
            return answer or default
        return None

    return ask
