"""A run's state read fast, for `iact-tui show` on a long run.

``report.toml`` is written as the ``[run]`` and ``[[steps]]`` tables (the state, as of the
rewrite) followed by every ``[[events]]`` table; on a run of 1,000 steps the events are most of
its 2 MB, and parsing all of it costs most of a second. The tables are what a summary shows, so
this reads only them, plus the last event (its ``seq`` and ``hash``), and then folds the journal
records newer than the report into that state, as a full read would. Anything unexpected (no
events, a table of another shape) falls back to the full read: the result is never a guess.
"""

from __future__ import annotations

import json
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any

from iact_tui.engine.record.hosts import HostRecords
from iact_tui.engine.record.state import RunState, StepRecord, reduce
from iact_tui.engine.record.store import (
    JOURNAL,
    READ_ERRORS,
    REPORT,
    SCHEMA_VERSION,
    ReportError,
    read_records,
)

_EVENTS = b"\n[[events]]\n"
_STEP_FIELDS = set(StepRecord.__dataclass_fields__)


def quick_state(folder: Path) -> RunState:
    """The run's state; ReportError (with the reason) when the folder cannot be read."""
    try:
        state = _from_tables(folder)
    except (ReportError, OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, *READ_ERRORS):
        state = None
    if state is not None:
        return state
    try:
        return reduce(read_records(folder))
    except READ_ERRORS as exc:
        raise ReportError(
            f"{folder}: the report is damaged: its records cannot be interpreted ({exc})"
        ) from None


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value or "")


def _from_tables(folder: Path) -> RunState | None:
    raw = (folder / REPORT).read_bytes()
    cut = raw.find(_EVENTS)
    last_cut = raw.rfind(_EVENTS)
    if cut < 0:
        return None
    head = tomllib.loads(raw[:cut].decode("utf-8"))
    last = tomllib.loads(raw[last_cut + 1 :].decode("utf-8"))["events"][0]
    if head.get("schema_version") != SCHEMA_VERSION or not isinstance(last.get("seq"), int):
        return None
    run = head["run"]
    if not _readable_run_table(run):
        return None  # edited by hand or damaged: the events it is made from are read instead
    state = RunState()
    state.run_id = str(run["id"])
    state.status = str(run["status"])
    state.started_at = _iso(run.get("started_at"))
    state.finished_at = _iso(run.get("finished_at"))
    state.checklist_sha256 = str(run.get("checklist_sha256", ""))
    state.pause_reason = str(run.get("pause_reason", ""))
    state.rollback_started = "rollback_reason" in run
    state.rollback_reason = str(run.get("rollback_reason", ""))
    state.on_failure = str(run.get("on_failure", ""))
    state.info = {
        "checklist_id": run.get("checklist_id", ""),
        "checklist_title": run.get("checklist_title", ""),
        "checklist_version": run.get("checklist_version", ""),
        "checklist_path": run.get("checklist_path", ""),
        "operator": run.get("operator", ""),
        "machine": run.get("host", ""),
        "mode": run.get("mode", ""),
        "variables": dict(run.get("variables", {})),
    }
    if run.get("vars_file"):  # its [hosts.NAME] tables: show describes a step on the run's hosts
        state.info["vars_file"] = dict(run["vars_file"])
    state.operators = [str(run["operator"])] if run.get("operator") else []
    state.captures = dict(run.get("captures", {}))
    state.choices = {k: list(v) for k, v in dict(run.get("choices", {})).items()}
    state.approvers = dict(run.get("approvers", {}))
    roles = run.get("signed_roles", [])
    if isinstance(roles, list):
        state.info["signed_roles"] = [str(r) for r in roles]
    state.hosts = {str(h["host"]): dict(h) for h in run.get("hosts", []) if "host" in h}
    for table in head.get("steps", []):
        fields: dict[str, Any] = {
            k: (_iso(v) if isinstance(v, datetime) else v)
            for k, v in table.items()
            if k in _STEP_FIELDS
        }
        rec = StepRecord(**fields)
        state.steps[rec.id] = rec
    state.fleet = HostRecords.from_toml(list(head.get("host_steps", [])))
    state.last_seq = int(last["seq"])
    state.last_hash = str(last["hash"])
    _fold_journal(folder, state)
    return state


_RUN_TEXT = ("id", "status", "operator", "checklist_id", "checklist_title", "checklist_version")
_RUN_OPTIONAL_TEXT = ("pause_reason", "rollback_reason", "on_failure", "checklist_sha256", "host")


def _readable_run_table(run: Any) -> bool:
    """The [run] table's fields are of the types the report writes (text, times, tables)."""
    if not isinstance(run, dict):
        return False
    for name in _RUN_TEXT:
        if not isinstance(run.get(name, ""), str):
            return False
    for name in _RUN_OPTIONAL_TEXT:
        if name in run and not isinstance(run[name], str):
            return False
    for name in ("started_at", "finished_at"):
        if name in run and not isinstance(run[name], str | datetime):
            return False
    tables = ("variables", "captures", "choices", "approvers", "vars_file")
    return all(isinstance(run.get(name, {}), dict) for name in tables) and isinstance(
        run.get("hosts", []), list
    )


def _fold_journal(folder: Path, state: RunState) -> None:
    """Apply the journal's records newer than the report (complete lines that continue it)."""
    try:
        data = (folder / JOURNAL).read_bytes()
    except FileNotFoundError:
        return
    for line in data.split(b"\n")[:-1]:  # the part after the last newline was never acknowledged
        if not line.strip():
            continue
        rec = json.loads(line)
        if rec["seq"] <= state.last_seq:
            continue
        if rec["seq"] != state.last_seq + 1 or rec["prev"] != state.last_hash:
            raise ReportError("the journal does not continue the report")
        state.apply(rec)
