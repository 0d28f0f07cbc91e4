"""The one base of the engine's errors, and the exit codes every front end returns.

An ``IactError``'s message is a sentence written for the operator: a front end prints it as it
is, and the runner shows it as a step's failure without a traceback. Any other exception that
reaches the runner is a bug, reported as an internal error with its traceback in the step's log.
"""

from __future__ import annotations

from enum import IntEnum

from iact_tui.engine.status import RunStatus


class IactError(Exception):
    """An error whose message tells the operator what went wrong (and, where it can, what to do)."""


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # the run failed, rolled back or was aborted; verify: not vouched for
    BAD_INPUT = 2  # bad arguments, checklist, values or report: nothing was run
    PAUSED = 3  # the run waits for a person who is not here (tick, then resume)
    INTERRUPTED = 130  # Ctrl-C, a kill or a hang-up: the run is paused, resumable

    @classmethod
    def of_run(cls, status: str) -> ExitCode:
        """The exit code of a run that ended (or paused) in ``status``."""
        if status == RunStatus.SUCCEEDED:
            return cls.OK
        if status == RunStatus.PAUSED:
            return cls.PAUSED
        return cls.FAILED
