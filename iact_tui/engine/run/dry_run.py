"""The dry run: every resolved command and request of a checklist, nothing executed."""

from __future__ import annotations

from iact_tui.engine.checklist.load import LoadedChecklist
from iact_tui.engine.checklist.outline import outline_of
from iact_tui.engine.checklist.values import Values
from iact_tui.engine.executors import executor_for


def dry_run_lines(loaded: LoadedChecklist, values: Values) -> list[str]:
    """Every resolved command and request (secrets masked), marking what changes the target."""
    out = [
        f"dry run of {loaded.checklist.checklist.id} {loaded.checklist.checklist.version}: nothing is executed",
        "  [changes] marks steps that change the target; <name> is a value captured at run time",
    ]
    for phase in outline_of(loaded.checklist).phases.values():
        tag = " (only when a rollback is started)" if phase.rollback else ""
        out.append(f"phase {phase.id}: {phase.title}{tag}")
        for group in phase.groups:
            indent = "  "
            if group.heading:
                out.append(f"  {group.heading}")
                indent = "    "
            for step in group.steps:
                executor = executor_for(step.kind)
                mark = "[changes]" if step.changes else "[reads]  "
                if executor.needs_person(step, values):
                    mark = "[person] "
                when = f" (when {step.when})" if step.when else ""
                if step.unless_names:
                    when += f" (unless {' or '.join(step.unless_names)})"
                confirm = " (asks for confirmation)" if step.confirm else ""
                described = executor.describe(step, values)
                lines = described.splitlines() or [""]
                out.append(f"{indent}{mark} {step.id}{when}{confirm}: {lines[0]}")
                out.extend(f"{indent}          {line}" for line in lines[1:])
    return out
