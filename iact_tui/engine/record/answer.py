"""A person's answer to a step given from outside the process that drives the run: ``iact-tui
tick`` and a watcher's p / f / s (``iact-tui watch``) both come through here, so that they
behave and speak alike.

When a process drives the run (it holds the run's lock), the tick goes through the run's inbox
and that process checks and records it, and says whether it was accepted; when none does (a
paused or stopped run), the lock is taken here and the tick is checked and recorded directly —
the same checks either way (``ticks.record_tick``: four eyes, signed approvals).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from iact_tui.engine.record.store import ReportError, RunLock, RunLocked, RunStore
from iact_tui.engine.record.ticks import ApprovalCheck, ProcessCheck, Tick

ANSWER_WAIT = 15.0  # seconds a process driving the run gets to answer
POLL = 0.1  # seconds between two looks for its answer


class Outcome(StrEnum):
    RECORDED = "recorded"
    REFUSED = "refused"  # the tick was checked and not allowed (the message says why)
    UNANSWERED = "unanswered"  # the driving process did not answer in time (the tick waits)
    FAILED = "failed"  # nothing could be done: the run, its inbox or its checklist cannot be used


@dataclass(frozen=True)
class Answer:
    outcome: Outcome
    message: str  # what happened, for the person (a refusal starts with "refused: ")
    then: str = ""  # what to do next, when the tick was recorded here ("continue with: …")

    @property
    def ok(self) -> bool:
        return self.outcome == Outcome.RECORDED


def answer_step(
    folder: Path,
    tick: Tick,
    check_approval: ApprovalCheck | None = None,
    *,
    wait: float = ANSWER_WAIT,
    stop: threading.Event | None = None,
    process_alive: ProcessCheck | None = None,
) -> Answer:
    """Give ``tick`` to the run in ``folder``: through its inbox when a process drives it (waiting
    up to ``wait`` seconds for its answer, less if ``stop`` is set), else recorded here
    (``process_alive``: how a process an interrupted step started is told gone; without one, a
    tick on such a step is refused until a resume has checked it)."""
    try:
        try:
            store = RunStore.open(folder)
        except ReportError:
            if not RunLock.is_held(folder):
                raise
            # the lock belongs to another user (a group-shared runs folder): the run is driven
            raise RunLocked(str(folder)) from None
    except RunLocked:
        return _through_the_inbox(folder, tick, wait, stop)
    except ReportError as exc:
        return Answer(Outcome.FAILED, str(exc))
    try:
        return _record_here(store, folder, tick, check_approval, process_alive)
    finally:
        store.close()


def _through_the_inbox(
    folder: Path, tick: Tick, wait: float, stop: threading.Event | None
) -> Answer:
    from iact_tui.engine.record.ticks import post_request, read_result

    inbox = folder / "inbox"
    try:
        rid = post_request(inbox, tick)
    except OSError as exc:
        return Answer(
            Outcome.FAILED,
            f"cannot leave the tick in the run's inbox {inbox}: {exc.strerror or exc}",
        )
    stop = stop or threading.Event()
    deadline = time.monotonic() + wait
    while True:  # bounded: by the deadline, or sooner when whoever waits goes away
        result = read_result(inbox, rid)
        if result is not None:
            if result["ok"]:
                return Answer(Outcome.RECORDED, str(result["message"]))
            return Answer(Outcome.REFUSED, f"refused: {result['message']}")
        left = deadline - time.monotonic()
        if left <= 0 or stop.wait(min(POLL, left)):
            break
    return Answer(
        Outcome.UNANSWERED,
        f"the process driving the run did not answer within {wait:g} s; the tick is left in its "
        "inbox and will be taken when it looks",
    )


def _record_here(
    store: RunStore,
    folder: Path,
    tick: Tick,
    check_approval: ApprovalCheck | None,
    process_alive: ProcessCheck | None,
) -> Answer:
    from iact_tui.engine.checklist.load import parse_checklist
    from iact_tui.engine.checklist.problems import ChecklistError
    from iact_tui.engine.record.asks import resume_command
    from iact_tui.engine.record.store import PINNED
    from iact_tui.engine.record.ticks import TickRefused, describe, record_tick
    from iact_tui.engine.status import RunStatus

    try:
        checklist = parse_checklist(
            (folder / PINNED).read_bytes(), str(folder / PINNED), pinned=True
        ).checklist
    except (OSError, ChecklistError) as exc:
        return Answer(Outcome.FAILED, f"the run's pinned checklist cannot be read: {exc}")
    from iact_tui.engine.status import StepStatus

    step = store.state.steps.get(tick.step)
    if step is not None and step.status == StepStatus.RUNNING and not tick.ahead:
        # recorded as running, and no process drives the run: its driver was killed mid-step
        return Answer(
            Outcome.REFUSED,
            f"refused: step '{tick.step}' was running when the process driving the run stopped; "
            f"resume the run first, which finds out whether its command still runs: "
            f"{resume_command(store.state.run_id, folder)}",
        )
    try:
        rec = record_tick(store, checklist, tick, check_approval, process_alive)
    except TickRefused as exc:
        return Answer(Outcome.REFUSED, f"refused: {exc}")
    then = ""
    if store.state.status in (RunStatus.PAUSED, RunStatus.FAILED, RunStatus.RUNNING):
        then = f"continue with: {resume_command(store.state.run_id, folder)}"
    return Answer(Outcome.RECORDED, describe(store, tick, rec), then)
