"""What a step that waits for a person asks, in words every front end shows alike: who is awaited
and the exact command that answers it from any terminal (headless ``--wait``, the TUI's status
bar, ``watch``, ``show``)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Awaited:
    who: str  # "a person", "tech-lead (four eyes: not an operator of the run; signed)"
    command: str  # iact-tui tick RUN STEP [--sign KEY|agent]
    options: str  # what else the command takes


def runs_dir_arg(folder: str | Path | None) -> str:
    """`` --runs-dir DIR`` when the run's folder is not in the runs folder a command pasted into
    another terminal looks in by default (the per-user state folder, with ``$IACT_RUNS_DIR``
    unset there and here), else ``""``: a printed command works as printed."""
    if not folder:
        return ""
    import platformdirs

    from iact_tui.engine.record.store import default_runs_dir

    parent = Path(folder).absolute().parent
    try:
        per_user = (Path(platformdirs.user_state_dir("iact-tui")) / "runs").resolve()
        if parent.resolve() == per_user == default_runs_dir().resolve():
            return ""
    except (OSError, RuntimeError):
        pass
    return f" --runs-dir {shlex.quote(str(parent))}"


def tick_command(run_id: str, step_id: str, folder: str | Path | None = None) -> str:
    """The command that ticks ``step_id`` from any terminal (``folder``: the run's folder, for
    ``--runs-dir`` when it is needed)."""
    return f"iact-tui tick {run_id} {step_id}{runs_dir_arg(folder)}"


def resume_command(run_id: str, folder: str | Path | None = None, extra: str = "") -> str:
    """The command that resumes the run (``extra``: its options, e.g. ``--rerun STEP``)."""
    return f"iact-tui resume {run_id}{' ' + extra if extra else ''}{runs_dir_arg(folder)}"


def awaited(
    step: Any,
    run_id: str,
    approver_keys: dict[str, Any] | None = None,
    *,
    confirm: bool = False,
    interrupted: bool = False,
    folder: str | Path | None = None,
) -> Awaited:
    """Who the step waits for and how to answer it (``approver_keys``: the run's pinned
    ``[checklist.approvers]``; a role listed there answers with a signed tick; ``folder``: the
    run's folder, so that the command names its runs folder when it must)."""
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
    command = tick_command(run_id, getattr(step, "id", ""), folder)
    if signed:  # after --runs-dir, as the run's pause line prints it
        command += " --sign KEY|agent"
    if confirm:
        options = "runs it; --fail: not now (the run pauses); --skip --reason TEXT skips it"
    elif interrupted:
        options = (
            "it completed; --fail: it did not, it runs again; --skip --reason TEXT skips it; "
            "--note TEXT: what you checked"
        )
    else:
        options = "--fail, or --skip --reason TEXT; --note TEXT"
    if getattr(step, "evidence", False) and not confirm:
        options += "; evidence wanted: --note 'evidence: LINK'"
    return Awaited(who, command, options)
