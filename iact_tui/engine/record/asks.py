"""What a step that waits for a person asks, in words every front end shows alike: who is awaited
and the exact command that answers it from any terminal (headless ``--wait``, the TUI's status
bar, ``watch``, ``show``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Awaited:
    who: str  # "a person", "tech-lead (four eyes: not an operator of the run; signed)"
    command: str  # iact-tui tick RUN STEP [--sign KEY|agent]
    options: str  # what else the command takes


def tick_command(run_id: str, step_id: str) -> str:
    return f"iact-tui tick {run_id} {step_id}"


def awaited(
    step: Any, run_id: str, approver_keys: dict[str, Any] | None = None, *, confirm: bool = False
) -> Awaited:
    """Who the step waits for and how to answer it (``approver_keys``: the run's pinned
    ``[checklist.approvers]``; a role listed there answers with a signed tick)."""
    role = getattr(step, "role", None) or ""
    signed = bool(role and approver_keys and role in approver_keys)
    parts = []
    if getattr(step, "four_eyes", False):
        parts.append("four eyes: not an operator of the run")
    if signed:
        parts.append("signed with a key its approvers list")
    who = role or "a person"
    if parts:
        who += f" ({'; '.join(parts)})"
    command = tick_command(run_id, getattr(step, "id", ""))
    if signed:
        command += " --sign KEY|agent"
    if confirm:
        options = "runs it; --fail: not now (the run pauses); --skip --reason TEXT skips it"
    else:
        options = "--fail, or --skip --reason TEXT; --note TEXT"
    return Awaited(who, command, options)
