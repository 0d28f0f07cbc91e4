"""Runs made with the engine for the TUI tests: an interrupted one, finished ones."""

from __future__ import annotations

import textwrap
from pathlib import Path

from iact_tui.engine.checklist.load import load_checklist
from iact_tui.engine.checklist.values import Values
from iact_tui.engine.record.store import RunStore
from iact_tui.engine.run.plan import create_run

INTERRUPTED_CHECKLIST = """
schema_version = 1

[checklist]
id = "TUI-RESUME"
title = "Resume test"
version = "1.0.0"

[[phases]]
id = "deploy"
title = "Deploy"

[[phases.steps]]
id = "migrate"
title = "Apply the migrations"
kind = "local"
run = "echo migrated"

[[phases.steps]]
id = "restart"
kind = "local"
run = "echo restarted"
"""


def new_run(
    tmp_path: Path, text: str, name: str, run_id: str | None = None, operator: str = "ana"
) -> RunStore:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    loaded = load_checklist(path)
    values = Values.resolve(loaded.checklist, {}, builtins={"operator": operator})
    return create_run(loaded, tmp_path / "runs", values, operator, "tui", run_id=run_id)


def interrupted_run(tmp_path: Path, run_id: str | None = None) -> Path:
    """A run whose process died while `migrate` ran: "started" is recorded, "finished" is not."""
    store = new_run(tmp_path, INTERRUPTED_CHECKLIST, "resume.toml", run_id)
    store.append("step_started", step="migrate", attempt=1, command="echo migrated")
    store.compact()
    store.lock.release()
    return store.folder


def recorded_run(tmp_path: Path, run_id: str, status: str, *, operator: str = "ana") -> Path:
    """A run of the resume checklist recorded to the end state ``status`` (for the runs screen):
    succeeded, rolled_back (after `migrate` failed), paused, or running (its process died)."""
    store = new_run(tmp_path, INTERRUPTED_CHECKLIST, "resume.toml", run_id, operator)
    store.append("step_started", step="migrate", attempt=1, command="echo migrated")
    ok = status != "rolled_back"
    store.append(
        "step_finished",
        step="migrate",
        attempt=1,
        status="passed" if ok else "failed",
        exit_status=0 if ok else 1,
        duration=2.0,
        message=None if ok else "the command exited with status 1 (expected 0)",
    )
    if status == "succeeded":
        store.append("step_started", step="restart", attempt=1, command="echo restarted")
        store.append(
            "step_finished", step="restart", attempt=1, status="passed", exit_status=0, duration=1.0
        )
    if status == "rolled_back":
        store.append(
            "failure_decision",
            step="migrate",
            decision="rollback",
            reason="migration failed",
            by=operator,
        )
        store.append("rollback_started", reason="migration failed", by=operator, step="migrate")
        store.append("step_not_applicable", step="restart", reason="rollback started")
    if status == "paused":
        store.append("run_paused", reason="the operator quit")
    if status in ("succeeded", "rolled_back"):
        store.append("run_finished", status=status, counts=store.state.counts())
    store.compact()
    store.lock.release()
    return store.folder


def change_step(folder: Path, old: str, new: str) -> None:
    """Edit the checklist file a run started from (the run keeps its pinned copy)."""
    from iact_tui.engine.record.state import reduce
    from iact_tui.engine.record.store import read_records

    path = Path(str(reduce(read_records(folder)).info["checklist_path"]))
    path.write_text(path.read_text().replace(old, new))
