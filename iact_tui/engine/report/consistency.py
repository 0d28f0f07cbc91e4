"""Whether a run's record agrees with itself: report.toml's [run] and [[steps]] tables against
its events (the tables are a projection of them), and the pinned checklist against its sha256.
Export checks both before it writes or signs anything; verify reports them."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any

from iact_tui.engine.record.state import RunState, reduce
from iact_tui.engine.record.store import PINNED, build_report

MAX_DIFFERENCES = 8


def pinned_checklist_problem(folder: Path, state: RunState) -> str:
    path = folder / PINNED
    if not state.checklist_sha256:
        return ""
    if not path.exists():
        return f"{PINNED} is missing (the report pins the checklist by sha256 {state.checklist_sha256[:16]}…)"
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        return f"cannot read {PINNED}: {exc.strerror or exc}"
    if digest != state.checklist_sha256:
        return f"{PINNED} does not match the sha256 the report pins ({state.checklist_sha256[:16]}…, file {digest[:16]}…): it was changed"
    return ""


# -- the tables are a projection of the events ----------------------------------------------


def compare_report(data: dict[str, Any], events: list[dict[str, Any]]) -> list[str]:
    """Where report.toml's [run] and [[steps]] differ from what its events give, in words."""
    # build_report only copies the records into "events": give it none, compare the tables
    expected = build_report([], reduce(events))
    out: list[str] = []
    for key in data:
        if key not in expected:
            out.append(f"report.toml has '{key}', which its events do not give")
    for key in expected:
        if key not in data and key != "events":
            out.append(f"report.toml has no '{key}'")
    run, want_run = data.get("run"), expected.get("run", {})
    if isinstance(run, dict):
        if "iact_tui_version" not in events[0]:  # filled in by the writing version then
            want_run = {**want_run, "iact_tui_version": run.get("iact_tui_version")}
        out += _compare_table("[run]", run, want_run)
    elif "run" in data:
        out.append("report.toml's [run] is not a table")
    steps, want_steps = data.get("steps", []), expected.get("steps", [])
    if not isinstance(steps, list) or not all(isinstance(r, dict) for r in steps):
        out.append("report.toml's [[steps]] is not a list of tables")
    else:
        out += _compare_steps(steps, want_steps)
    if len(out) > MAX_DIFFERENCES:
        out = [*out[:MAX_DIFFERENCES], f"and {len(out) - MAX_DIFFERENCES} more differences"]
    return out


def _compare_steps(rows: list[dict[str, Any]], want: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    by_id = {str(r.get("id")): r for r in rows}
    want_ids = [str(r["id"]) for r in want]
    for r in rows:
        if str(r.get("id")) not in want_ids:
            out.append(f"[[steps]] has a row '{r.get('id')}' that the events do not give")
    for w in want:
        row = by_id.get(str(w["id"]))
        if row is None:
            out.append(f"[[steps]] has no row for step '{w['id']}', which the events give")
            continue
        out += _compare_table(f"[[steps]] row '{w['id']}'", row, w)
    if not out and [str(r.get("id")) for r in rows] != want_ids:
        out.append("the [[steps]] rows are not in the order of the events")
    return out


def _compare_table(name: str, have: dict[str, Any], want: dict[str, Any]) -> list[str]:
    out = []
    for key in have:
        if key not in want:
            out.append(f"{name} has {key} = {_show(have[key])}, which the events do not give")
    for key, value in want.items():
        if key not in have:
            out.append(f"{name} has no {key}; the events say {_show(value)}")
        elif not _same(have[key], value):
            out.append(f"{name}: {key} is {_show(have[key])} but the events say {_show(value)}")
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, datetime) and isinstance(b, datetime):
        return a == b and (a.tzinfo is None) == (b.tzinfo is None)
    if isinstance(a, str) and isinstance(b, str):  # a status is a StrEnum in the projection
        return str(a) == str(b)
    if type(a) is not type(b) and not (isinstance(a, (int, float)) and isinstance(b, (int, float))):
        return False
    return bool(a == b)


def _show(value: Any) -> str:
    if isinstance(value, datetime):
        text = value.isoformat()
    else:
        text = repr(str(value) if isinstance(value, str) else value)  # a StrEnum as its string
    return text if len(text) <= 80 else text[:77] + "…"
