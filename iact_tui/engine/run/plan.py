"""Creating a run: its plan (every step it may run, in order) and its first record."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from iact_tui import __version__
from iact_tui.engine.checklist.approvers import pin_approvers
from iact_tui.engine.checklist.load import LoadedChecklist
from iact_tui.engine.checklist.model import Checklist
from iact_tui.engine.checklist.values import Values
from iact_tui.engine.record.store import RunStore, new_run_id
from iact_tui.engine.report.approvals import agent_fingerprints


def plan_of(checklist: Checklist) -> list[dict[str, Any]]:
    out = []
    for phase, alt, step in checklist.iter_steps():
        item: dict[str, Any] = {
            "id": step.id,
            "phase": phase.id,
            "kind": step.kind,
            "title": step.display_title,
        }
        if alt is not None:
            item["alternative"] = alt.id
        if phase.rollback:
            item["rollback"] = True
        out.append(item)
    return out


def create_run(
    loaded: LoadedChecklist,
    runs_dir: Path,
    values: Values,
    operator_name: str,
    mode: str,
    run_id: str | None = None,
    presets: dict[str, list[str]] | None = None,
    on_failure: str | None = None,
    vars_file: dict[str, Any] | None = None,  # --vars FILE: its path and sha256 (and [hosts])
) -> RunStore:
    c = loaded.checklist
    run_id = run_id or new_run_id(c.checklist.id)
    created = {
        "checklist_id": c.checklist.id,
        "checklist_title": c.checklist.title,
        "checklist_version": c.checklist.version,
        "checklist_sha256": loaded.sha256,
        "checklist_path": str(loaded.path.resolve()) if loaded.path.exists() else str(loaded.path),
        "operator": operator_name,
        "machine": socket.gethostname(),
        "mode": mode,
        "iact_tui_version": __version__,
        "variables": values.public(),
        "secret_variables": sorted(n for n in c.secret_names()) or None,
        "plan": plan_of(c),
        "presets": presets or None,
        "on_failure": on_failure or None,
        "vars_file": vars_file or None,
    }
    if (
        c.checklist.approvers
    ):  # signed approvals (docs/team.md): the lists pinned, the operator's keys
        created["approver_keys"] = pin_approvers(c.checklist.approvers, loaded.path)
        created["operator_keys"] = agent_fingerprints() or None
    return RunStore.create(runs_dir, run_id, loaded.text, created)
