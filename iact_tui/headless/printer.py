"""The headless front end's printout: one line per state change, from the events alone.

Step output only with ``--verbose``; the tail of a failed step's output always.
"""

from __future__ import annotations

from typing import TextIO

from iact_tui.engine import events as ev
from iact_tui.engine.events import HostStepChanged, QuestionKind
from iact_tui.engine.status import StepStatus


class Printer:
    """Prints one line per state change; step output only with verbose (always the tail of a failure)."""

    def __init__(self, out: TextIO, *, verbose: bool = False, run_id: str = "") -> None:
        self.out = out
        self.verbose = verbose
        self.run_id = run_id

    def __call__(self, event: ev.Event) -> None:
        line = self.format(event)  # from the event alone, masked as it left the runner
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
            if e.status == StepStatus.FAILED and not self.verbose and e.step is not None:
                tail = e.step.output_tail[-10:]
                if tail:
                    text += "\n" + "\n".join(f"  | {line}" for line in tail)
            if e.will_retry:
                text += " (will retry)"
            return text
        if isinstance(e, HostStepChanged):  # one line per host state change of a group step
            batch = (
                f" (batch {e.batch + 1})"
                if e.batch is not None and e.status == StepStatus.RUNNING
                else ""
            )
            result = f" [{e.result}]" if e.result and e.result not in ("ok", "failed") else ""
            detail = f": {e.detail}" if e.detail else ""
            return f"  {e.host} {e.step_id}: {e.status}{batch}{result}{detail}"
        if isinstance(e, ev.StepChanged):
            by = f" by {e.by}" if e.by else ""
            detail = f": {e.detail}" if e.detail else ""
            return f"{e.status.replace('_', ' ')} {e.step_id}{by}{detail}"
        if isinstance(e, ev.Waiting):
            if e.question == QuestionKind.MANUAL:
                return (
                    f"waiting {e.step_id}: needs a person — iact-tui tick {self.run_id} {e.step_id}"
                )
            if e.question == QuestionKind.FAILURE:
                return None
            if e.question == QuestionKind.CONFIRM:
                return f"confirm {e.step_id}: asks for confirmation before it runs"
            if e.question == QuestionKind.CHOICE:
                return f"choice {e.phase_id}: {e.detail}"
            if e.question == QuestionKind.INTERRUPTED:
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
            skipped = e.run.skipped_approvals if e.run is not None else ()
            if skipped:  # a run whose approval was skipped says so in its last line
                line += "; approval skipped: " + "; ".join(
                    f"{s.id} by {s.skipped_by or 'unknown'} ({s.skip_reason})" for s in skipped
                )
            return line
        return None
