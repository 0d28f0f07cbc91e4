"""The statuses a step and a run can be in, as the journal and report.toml spell them.

They are `StrEnum`s: a member is its string (`StepStatus.PASSED == "passed"`), so records and
reports written before and after read the same, and a misspelt status fails at import time.
"""

from __future__ import annotations

from enum import StrEnum


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"  # for a person: a tick, a skip or a failure
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    NOT_APPLICABLE = "not_applicable"  # an alternative not chosen, or its `when` is false
    INTERRUPTED = "interrupted"  # in flight when the driver died or was stopped


class RunStatus(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    ABORTED = "aborted"
    # never recorded: how `list` and the metrics show a run left running by a driver that died
    INTERRUPTED = "interrupted"


# a step in one of these counts as done: the run goes past it
DONE_STATES = frozenset({StepStatus.PASSED, StepStatus.SKIPPED, StepStatus.NOT_APPLICABLE})
# a run in one of these is over: it cannot be resumed
FINAL_RUN_STATES = frozenset({RunStatus.SUCCEEDED, RunStatus.ROLLED_BACK, RunStatus.ABORTED})
