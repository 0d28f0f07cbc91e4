"""What changed between two versions of a checklist, step by step, in words (shown when a run is
resumed against a checklist file that changed since the run pinned it)."""

from __future__ import annotations

from iact_tui.engine.checklist.model import Checklist


def checklist_changes(old: Checklist, new: Checklist) -> list[str]:
    """Per-step differences between the pinned checklist and the current file, in words."""
    changes: list[str] = []
    old_steps = {s.id: s for _, _, s in old.iter_steps()}
    new_steps = {s.id: s for _, _, s in new.iter_steps()}
    for sid in old_steps:
        if sid not in new_steps:
            changes.append(f"step '{sid}' was removed")
    for sid, step in new_steps.items():
        if sid not in old_steps:
            changes.append(f"step '{sid}' was added")
            continue
        a = old_steps[sid].model_dump(by_alias=True, exclude_defaults=True)
        b = step.model_dump(by_alias=True, exclude_defaults=True)
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                changes.append(f"step '{sid}': {key} changed from {a.get(key)!r} to {b.get(key)!r}")
    old_lists, new_lists = old.checklist.approvers or {}, new.checklist.approvers or {}
    for role in sorted(set(old_lists) | set(new_lists)):
        before, after = old_lists.get(role), new_lists.get(role)
        if before == after:
            continue
        if before is None:
            changes.append(f"approvers of role '{role}' added ({after}): its answers are signed")
        elif after is None:
            changes.append(
                f"approvers of role '{role}' removed ({before}): the run keeps the list it pinned"
            )
        else:
            changes.append(f"approvers of role '{role}' changed from {before!r} to {after!r}")
    old_vars = old.model_dump(include={"vars", "hosts"})
    new_vars = new.model_dump(include={"vars", "hosts"})
    if old_vars != new_vars:
        changes.append("variables or hosts changed")
    old_order = [s for s in old_steps if s in new_steps]
    new_order = [s for s in new_steps if s in old_steps]
    if old_order != new_order:
        changes.append("the order of the steps changed")
    return changes
