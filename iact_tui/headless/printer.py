"""The headless front end's printout: one line per state change, from the events alone.

Step output only with ``--verbose``; the tail of a failed step's output always. Every text that
came from people (names, notes, reasons) or from the run (output, messages, values) is printed
through ``printable``: it cannot start a line of its own or send a terminal a control sequence.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import TextIO

from iact_tui.engine import events as ev
from iact_tui.engine.events import HostStepChanged, QuestionKind
from iact_tui.engine.formatting import printable as p
from iact_tui.engine.formatting import printable_lines
from iact_tui.engine.record.asks import tick_command
from iact_tui.engine.status import StepStatus


def is_closed_output(exc: BaseException) -> bool:
    """Whether a write failed because nobody reads the output any more (``| head``, a closed
    pipe or socket)."""
    return isinstance(exc, BrokenPipeError) or (
        isinstance(exc, OSError) and exc.errno in (errno.EPIPE, errno.ECONNRESET)
    )


class Printer:
    """Prints one line per state change; step output only with verbose (always the tail of a failure)."""

    def __init__(self, out: TextIO, *, verbose: bool = False, run_id: str = "") -> None:
        self.out = out
        self.verbose = verbose
        self.run_id = run_id
        self.folder = ""
        # called once when the output is closed (nobody reads it): the run is interrupted
        self.on_closed: Callable[[], None] | None = None
        self.closed = False
        # the tick command for a step that waits for a person (with --sign where its role takes
        # signed answers); without one, the plain command
        self.tick_for: Callable[[str], str] | None = None

    def __call__(self, event: ev.Event) -> None:
        line = self.format(event)  # from the event alone, masked as it left the runner
        if line is not None:
            self.write(
                line if line.endswith("\n") else line + "\n",
                flush=not isinstance(event, ev.StepOutput),
            )

    def write(self, text: str, *, flush: bool = True) -> None:
        """Write to the output; a closed output is said once (``on_closed``), never raised."""
        if self.closed:
            return
        try:
            self.out.write(text)
            if flush:
                self.out.flush()
        except OSError as exc:
            if not is_closed_output(exc):
                raise
            self.closed = True
            if self.on_closed is not None:
                self.on_closed()

    def format(self, e: ev.Event) -> str | None:
        if isinstance(e, ev.RunOpened):
            self.run_id = e.run_id
            self.folder = e.folder
            return f"run {p(e.run_id)} {p(e.folder)}" + ("\nresumed" if e.resumed else "")
        if isinstance(e, ev.PhaseStarted):
            return f"phase {p(e.phase_id)}: {p(e.title)}"
        if isinstance(e, ev.HostConnected):
            return f"host {p(e.host)} {p(e.address)} {p(e.fingerprint)}"
        if isinstance(e, ev.StepStarted):
            first = e.command.splitlines()[0] if e.command else ""
            return f"started {p(e.step_id)} (attempt {e.attempt}): {p(first)}"
        if isinstance(e, ev.StepOutput):
            if not self.verbose:
                return None
            return "".join(f"  | {line}\n" for line in printable_lines(e.text))
        if isinstance(e, ev.StepFinished):
            text = f"{p(e.status)} {p(e.step_id)} in {e.duration:.2f} s"
            if e.message:
                text += f": {p(e.message)}"
            if e.status == StepStatus.FAILED and not self.verbose and e.step is not None:
                tail = e.step.output_tail[-10:]
                if tail:
                    text += "\n" + "\n".join(f"  | {p(line)}" for line in tail)
            if e.will_retry:
                text += " (will retry)"
            return text
        if isinstance(e, HostStepChanged):  # one line per host state change of a group step
            batch = (
                f" (batch {e.batch + 1})"
                if e.batch is not None and e.status == StepStatus.RUNNING
                else ""
            )
            result = f" [{p(e.result)}]" if e.result and e.result not in ("ok", "failed") else ""
            detail = f": {p(e.detail)}" if e.detail else ""
            return f"  {p(e.host)} {p(e.step_id)}: {p(e.status)}{batch}{result}{detail}"
        if isinstance(e, ev.StepChanged):
            by = f" by {p(e.by)}" if e.by else ""
            detail = f": {p(e.detail)}" if e.detail else ""
            return f"{p(e.status.replace('_', ' '))} {p(e.step_id)}{by}{detail}"
        if isinstance(e, ev.Waiting):
            step = p(e.step_id)
            if e.question == QuestionKind.MANUAL:
                command = (
                    self.tick_for(e.step_id)
                    if self.tick_for is not None
                    else tick_command(self.run_id, e.step_id, self.folder)
                )
                return f"waiting {step}: needs a person — {p(command)}"
            if e.question == QuestionKind.FAILURE:
                return None
            if e.question == QuestionKind.CONFIRM:
                return f"confirm {step}: asks for confirmation before it runs"
            if e.question == QuestionKind.CHOICE:
                return f"choice {p(e.phase_id)}: {p(e.detail)}"
            if e.question == QuestionKind.INTERRUPTED:
                return f"interrupted {step}: {p(e.detail)}"
            return None
        if isinstance(e, ev.HintShown):
            advice = "\n".join(f"    {line}" for line in printable_lines(e.advice.strip()))
            return f"hint for {p(e.step_id)}: {p(e.title)}\n{advice}"
        if isinstance(e, ev.Notice):
            return f"{p(e.level) if e.level != 'info' else 'note'}: {p(e.text)}"
        if isinstance(e, ev.RunPaused):
            return f"paused: {p(e.reason)}"
        if isinstance(e, ev.RunFinished):
            counts = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in sorted(e.summary.items()))
            line = f"run {e.status.replace('_', ' ')} ({p(counts)})"
            skipped = e.run.skipped_approvals if e.run is not None else ()
            if skipped:  # a run whose approval was skipped says so in its last line
                line += "; approval skipped: " + "; ".join(
                    f"{p(s.id)} by {p(s.skipped_by or 'unknown')} ({p(s.skip_reason)})"
                    for s in skipped
                )
            return line
        return None
