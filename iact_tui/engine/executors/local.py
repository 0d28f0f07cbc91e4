"""``local``: a command on the operator's machine, e.g. ``git log staging..develop --oneline``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import Any, ClassVar

from iact_tui.engine.checklist.values import Values
from iact_tui.engine.executors.base import Automatic, Outcome, StepContext
from iact_tui.engine.executors.processes import GATE, local_identity

CHUNK = 1 << 16
KILL_GRACE = 3.0


class LocalExecutor(Automatic):
    kind: ClassVar[str] = "local"

    def describe(self, step: Any, values: Values) -> str:
        where = f"(in {values.display_text(step.cwd)}) " if step.cwd else ""
        return f"{where}{values.display_command(step.run)}"

    async def execute(self, ctx: StepContext) -> Outcome:
        step = ctx.step
        command = ctx.values.command(step.run)
        cwd = ctx.values.text(step.cwd) if step.cwd else None
        env = dict(os.environ)
        env.update({k: ctx.values.text(v) for k, v in step.env.items()})
        out = ctx.output()
        recorder = getattr(ctx, "process_started", None)
        if recorder is not None:
            command = GATE + command
        try:
            proc = await asyncio.create_subprocess_shell(
                command,
                stdin=asyncio.subprocess.PIPE
                if recorder is not None
                else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                cwd=cwd,
                env=env,
                start_new_session=True,  # its own process group: a cancel stops all of it
            )
        except FileNotFoundError:
            return Outcome(False, f"the working folder {cwd!r} does not exist")
        except OSError as exc:
            return Outcome(False, f"the command could not be started: {exc.strerror}")
        assert proc.stdout is not None
        if recorder is not None:
            problem = _open_gate(proc, recorder)
            if problem:
                await _stop(proc)
                out.close()
                return Outcome(False, problem)

        async def pump() -> None:
            while data := await proc.stdout.read(CHUNK):  # type: ignore[union-attr]
                out.feed(data)

        try:
            async with asyncio.timeout(step.timeout):
                await pump()
                status = await proc.wait()
        except TimeoutError:
            await _stop(proc)
            out.close()
            return Outcome(
                False,
                f"the command did not finish within {step.timeout:g} s and was stopped",
                exit_status=None,
            )
        except asyncio.CancelledError:
            await _stop(proc)
            out.close()
            raise
        out.close()
        ok, message = out.check(status, step.exit_codes)
        return Outcome(ok, message, exit_status=status)


def _open_gate(proc: asyncio.subprocess.Process, recorder: Any) -> str:
    """Record the process durably, then let it go past its start gate; or why it was not run."""
    assert proc.stdin is not None
    start, boot = local_identity(proc.pid)
    try:
        recorder(proc.pid, start=start, boot_id=boot)
    except Exception as exc:  # unrecorded, it must not run: the gate stays shut
        proc.stdin.close()
        return f"the command was not run: its process could not be recorded ({exc})"
    with contextlib.suppress(OSError):  # a shell that is already gone needs no go-ahead
        proc.stdin.write(b"\n")
        proc.stdin.close()  # the shell reads its line from the pipe buffer; no drain needed
    return ""


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """TERM the whole process group, KILL it if it is still there after a grace period."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), KILL_GRACE)
            return
        except TimeoutError:
            continue
