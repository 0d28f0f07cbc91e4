"""The headless front end's answers: questions on the terminal when there is one.

Without a terminal, a question nobody can answer pauses the run (exit 3); `iact-tui tick` and
`iact-tui resume` continue it. What it prints is printer.py's.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import sys
from typing import Any, TextIO

from iact_tui.engine.checklist.model import Phase
from iact_tui.engine.formatting import printable, printable_lines
from iact_tui.engine.record.ticks import Tick
from iact_tui.engine.run.operator import Decision, Failure, auto_tick


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
        keys = "/".join(
            f"[{k}]{v[len(k) :] if v.startswith(k) else ' ' + v}" for k, v in options.items()
        )
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
        wait: bool = False,
        out: TextIO | None = None,
    ) -> None:
        self.name = name
        self.on_failure = on_failure
        self.terminal = terminal
        self.assume_yes = assume_yes
        self.auto_tick = auto_tick
        self.auto_tick_note = auto_tick_note
        # --wait: a step that waits for a person is shown and waited on (a tick through the inbox
        # answers it: the runner then cancels the wait), instead of pausing the run
        self.wait = wait
        self.out: TextIO = out or (terminal.out if terminal is not None else sys.stdout)
        self.run_id = ""
        self.folder = ""  # the run's folder: a printed command names its runs folder when it must
        self.approver_keys: dict[str, Any] | None = None
        # the printer's write: one place that notices a closed output (the run is interrupted)
        self.write: Any = None

    async def choose(self, phase: Phase, defaults: list[str]) -> list[str] | None:
        if defaults:
            return defaults
        if self.terminal is None:
            return None
        ids = [a.id for a in phase.alternatives]
        for alt in phase.alternatives:
            self.terminal.out.write(f"  {alt.id}: {alt.title}\n")
        answer = await self.terminal.ask(
            f"{phase.title}: choose {'one or more of' if phase.multiple else 'one of'} {', '.join(ids)}: "
        )
        chosen = [a.strip() for a in answer.split(",") if a.strip()]
        return chosen or None

    async def confirm(self, step: Any, command: str) -> bool | None:
        if self.assume_yes:
            return True
        if self.wait:
            return await self._wait_for_tick(step, f"{step.id} will run:\n{command}", confirm=True)
        if self.terminal is None:
            return None
        self.terminal.out.write(f"  {step.id} will run:\n{_indent(command)}\n")
        return await self.terminal.choice("  run it?", {"y": "yes", "n": "no"}) == "y"

    async def manual(self, step: Any, instructions: str) -> Tick | None:
        if self.auto_tick:
            return auto_tick(step, self.auto_tick, self.auto_tick_note)
        if self.wait:
            return await self._wait_for_tick(step, instructions)
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
        if self.wait and not running:
            # a tick answers it (completed, --fail: run it again, --skip); a process that still
            # runs is never answered by a tick: --wait-running / --stop-running say what to do
            await self._wait_for_tick(
                step,
                f"{step.id} was running when the run stopped; did it complete?",
                interrupted=True,
            )
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

    async def _wait_for_tick(
        self, step: Any, asked: str, *, confirm: bool = False, interrupted: bool = False
    ) -> Any:
        """Print what the step asks and how to answer it, then wait: a tick arriving through the
        run's inbox answers the runner, which cancels this wait (Ctrl-C pauses the run)."""
        from iact_tui.engine.record.asks import awaited

        how = awaited(
            step,
            self.run_id,
            self.approver_keys,
            confirm=confirm,
            interrupted=interrupted,
            folder=self.folder,
        )
        lines = [f"  waits for {printable(how.who)}"]
        if asked.strip():
            lines.append(_indent(asked))
        if getattr(step, "evidence", False) and not confirm:
            lines.append("  evidence wanted: a link, or where to find it, in the tick's --note")
        lines.append(f"  tick it: {printable(how.command)}   ({printable(how.options)})")
        text = "\n".join(lines) + "\n"
        if self.write is not None:
            self.write(text)
        else:
            self.out.write(text)
            self.out.flush()
        await asyncio.Event().wait()  # only a tick (the runner cancels this) or a signal ends it


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" for line in printable_lines(text.strip()))


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
