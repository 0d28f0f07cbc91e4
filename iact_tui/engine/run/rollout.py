"""Rolling a phase over a host group batch by batch (the rolling restart), and the per-host hooks
a group step gets. What ``serial`` and ``max_fail`` mean (batch plans, the failure budget) is in
engine/checklist/rollout.py; the per-host records in engine/executors/hosts.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iact_tui.engine.checklist.rollout import FailBudget, plan_batches
from iact_tui.engine.events import Notice
from iact_tui.engine.executors.hosts import HostHooks
from iact_tui.engine.status import StepStatus


@dataclass(frozen=True)
class PhaseBatch:
    """The batch of a rolling phase that runs now: its group steps run on these hosts only."""

    phase: str
    group: str
    index: int
    hosts: tuple[str, ...]
    max_fail: int  # failed hosts this batch may still have before the rollout stops


def phase_group(checklist: Any, steps: Sequence[Any]) -> str | None:
    """The host group a rolling phase rolls over: the first group its steps name (``host``)."""
    for step in steps:
        host = getattr(step, "host", None)
        spec = checklist.hosts.get(host) if host else None
        if spec is not None and spec.members:
            return str(host)
    return None


async def rolling_phase(runner: Any, phase: Any, steps: Sequence[Any], in_rollback: bool) -> None:
    """A phase with ``serial`` and ``batch = "phase"``: every step of the phase on one batch of
    the group, then the next batch (the rolling restart). A step that fails on a batch stops the
    rollout there and its failure policy applies, unless ``max_fail`` still tolerates the host.
    Steps on no group (an HTTP health check, a notice) run once per batch. On resume, a batch
    whose hosts all finished every group step of the phase is not run again; within a batch,
    a host that finished a step is not run again."""
    from iact_tui.engine.status import DONE_STATES

    checklist, state = runner.checklist, runner.state
    group = phase_group(checklist, steps)
    if group is None:  # nothing to roll over: an ordinary phase
        for step in steps:
            await runner._step(step, in_rollback)
        return
    members = list(checklist.hosts[group].members)
    if in_rollback:
        forward = [s.id for p, _, s in checklist.iter_steps() if not p.rollback and s.changes]
        changed = state.fleet.changed_hosts(forward)
        members = [h for h in changed if h in members] if state.fleet.steps() else members
    grouped = [
        s for s in steps if getattr(s, "host", None) == group and not getattr(s, "once", False)
    ]
    batches = plan_batches(members, phase.serial)
    budget = FailBudget(len(members), phase.max_fail)
    try:
        for index, batch in enumerate(batches):
            if all(
                (r := state.fleet.get(s.id, h)) is not None and r.status == StepStatus.PASSED
                for s in grouped
                for h in batch
            ):
                continue  # this batch finished before (resume)
            runner.phase_batch = PhaseBatch(
                phase.id, group, index, tuple(batch), max(0, budget.limit - len(budget.failed))
            )
            runner.emit(
                Notice(f"{phase.id}: batch {index + 1} of {len(batches)}: {', '.join(batch)}")
            )
            for step in steps:
                rec = state.steps[step.id]
                if getattr(step, "once", False) and index > 0 and rec.status in DONE_STATES:
                    continue  # done once for the whole group (on its first member)
                if (
                    rec.status in DONE_STATES
                    and rec.status != StepStatus.NOT_APPLICABLE
                    and index > 0
                ):
                    pending = step not in grouped or any(
                        (r := state.fleet.get(step.id, h)) is None or r.status != StepStatus.PASSED
                        for h in batch
                    )
                    if pending:
                        runner.record(
                            "step_reset",
                            step=step.id,
                            reason=f"batch {index + 1} of phase {phase.id}",
                            by="iact-tui",
                        )
                await runner._step(step, in_rollback)
            budget.add(
                {
                    h: all(
                        (r := state.fleet.get(s.id, h)) is None or r.status == StepStatus.PASSED
                        for s in grouped
                    )
                    for h in batch
                }
            )
            if budget.exhausted and index < len(batches) - 1:
                untouched = [h for b in batches[index + 1 :] for h in b]
                runner.record(
                    "rollout_stopped",
                    phase=phase.id,
                    failed=budget.failed,
                    limit=budget.limit,
                    reason=budget.describe(),
                )
                runner.emit(
                    Notice(
                        f"{phase.id}: rollout stopped: {budget.describe()}; not started on "
                        f"{', '.join(untouched)}",
                        "warning",
                    )
                )
                break
    finally:
        runner.phase_batch = None


def hooks_for(
    step: Any,
    attempt: int,
    *,
    state: Any,
    checklist: Any,
    logs: Path,
    record: Callable[..., Any],
    emit: Callable[[Any], None],
    redact: Callable[[str], str] | None,
    checklist_dir: Path | None = None,
    batch: PhaseBatch | None = None,
    record_soon: Callable[..., Any] | None = None,
) -> HostHooks | None:
    """The per-host hooks for one attempt of a step that may run on several hosts."""
    kind = getattr(step, "kind", "")
    if kind not in ("ssh", "ansible") and not (kind == "http" and getattr(step, "host", None)):
        return None
    fleet = state.fleet
    if batch is not None and getattr(step, "host", None) == batch.group:
        hooks = HostHooks(
            step.id,
            attempt,
            logs,
            record,
            emit,
            redact,
            checklist_dir=checklist_dir,
            record_soon=record_soon,
            done=lambda h: (
                (r := fleet.get(step.id, h)) is not None and r.status == StepStatus.PASSED
            ),
            scope=lambda members: [h for h in members if h in batch.hosts],
        )
        hooks.batch_index = batch.index
        hooks.rollout_max_fail = batch.max_fail
        return hooks

    def done(host: str) -> bool:
        rec = fleet.get(step.id, host)
        return rec is not None and rec.status == StepStatus.PASSED

    scope = None
    try:
        phase, _ = checklist.phase_of(step.id)
    except KeyError:
        phase = None
    if phase is not None and phase.rollback:
        forward = [s.id for p, _, s in checklist.iter_steps() if not p.rollback and s.changes]
        changed = fleet.changed_hosts(forward)

        def scope(members: list[str]) -> list[str]:
            if not fleet.steps():  # no per-host truth (a run on single hosts): every member
                return members
            return [h for h in changed if h in members]

    return HostHooks(
        step.id,
        attempt,
        logs,
        record,
        emit,
        redact,
        done=done,
        scope=scope,
        record_soon=record_soon,
        checklist_dir=checklist_dir,
    )


def rollback_order(started: Sequence[tuple[int, str]]) -> list[str]:
    """The hosts to roll back, last batch first; within a batch, in reverse start order.

    ``started``: (batch index, host) in the order the hosts were started; a host appears once."""
    seen: set[str] = set()
    ordered = sorted(enumerate(started), key=lambda item: (item[1][0], item[0]), reverse=True)
    out: list[str] = []
    for _, (_, host) in ordered:
        if host not in seen:
            seen.add(host)
            out.append(host)
    return out


__all__ = ["PhaseBatch", "hooks_for", "phase_group", "rollback_order", "rolling_phase"]
