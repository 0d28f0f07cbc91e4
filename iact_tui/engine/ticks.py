"""Ticks: a person's answer to a step (pass, fail, skip with a reason, "it did complete").

One function decides whether a tick is allowed and records it, whether it comes from the
process driving the run (TUI, terminal) or from `iact-tui tick` in another terminal.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from iact_tui.engine.checklist import Checklist
from iact_tui.engine.state import DONE_STATES, RunState
from iact_tui.engine.store import RunStore, atomic_write, now

ACTIONS = ("pass", "fail", "skip")


@dataclass(frozen=True)
class Tick:
    step: str
    action: str  # pass | fail | skip
    by: str
    note: str = ""
    reason: str = ""  # required for skip
    id: str = ""


class TickRefused(Exception):
    pass


def check_tick(state: RunState, checklist: Checklist, tick: Tick) -> None:
    """Raise TickRefused with a sentence when the tick is not allowed."""
    if tick.action not in ACTIONS:
        raise TickRefused(f"unknown tick action '{tick.action}'")
    if tick.step not in state.steps:
        from difflib import get_close_matches

        close = get_close_matches(tick.step, list(state.steps), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise TickRefused(f"run {state.run_id} has no step '{tick.step}'{hint}")
    if state.status in ("succeeded", "rolled_back", "aborted"):
        raise TickRefused(f"run {state.run_id} is {state.status.replace('_', ' ')}; it takes no more ticks")
    if not tick.by.strip():
        raise TickRefused("a tick needs the name of the person giving it")
    rec = state.steps[tick.step]
    if tick.action == "skip" and not tick.reason.strip():
        raise TickRefused("skipping a step needs a reason (--reason)")
    if rec.status in DONE_STATES:
        raise TickRefused(f"step '{tick.step}' is {rec.status.replace('_', ' ')} already")
    try:
        step = checklist.step(tick.step)
    except KeyError:
        step = None
    # a person may answer a manual step, a notice (sent by hand), or any step that waits for one
    manual = rec.status == "waiting" or (step is not None and step.kind in ("manual", "notify"))
    if tick.action == "skip":
        return
    if not manual and rec.status not in ("interrupted", "failed"):
        raise TickRefused(
            f"step '{tick.step}' is automatic ({rec.kind}) and {rec.status}; it can be ticked only when it "
            "was interrupted (to confirm it completed) — or skipped with --skip --reason"
        )
    if not manual and rec.status == "failed" and tick.action == "pass":
        raise TickRefused(
            f"step '{tick.step}' failed; retry it with `resume`, or skip it with --skip --reason"
        )
    if step is not None and getattr(step, "four_eyes", False) and tick.action == "pass":
        if tick.by.strip().lower() == state.operator.strip().lower():
            raise TickRefused(
                f"step '{tick.step}' needs four eyes: {tick.by} is the run's operator, so another person "
                f"({step.role or 'an approver'}) must approve it"
            )


def record_tick(store: RunStore, checklist: Checklist, tick: Tick) -> dict[str, Any]:
    """Check and record a tick; returns the record. Raises TickRefused."""
    check_tick(store.state, checklist, tick)
    if tick.action == "skip":
        return store.append("step_skipped", step=tick.step, reason=tick.reason, by=tick.by, note=tick.note or None)
    try:
        step = checklist.step(tick.step)
        role = getattr(step, "role", None)
    except KeyError:
        role = None
    result = "passed" if tick.action == "pass" else "failed"
    how = "confirmed done" if store.state.steps[tick.step].status == "interrupted" else None
    return store.append(
        "step_ticked", step=tick.step, result=result, by=tick.by, note=tick.note or None, role=role, how=how
    )


# -- the inbox: ticks from another process while a run is live ---------------------------------


def post_request(inbox: Path, tick: Tick) -> str:
    """Leave a tick for the live process; returns the request id."""
    rid = tick.id or uuid.uuid4().hex
    inbox.mkdir(exist_ok=True)
    data = asdict(tick) | {"id": rid, "at": now()}
    atomic_write(inbox / f"{rid}.json", json.dumps(data).encode())
    return rid


def read_result(inbox: Path, rid: str) -> dict[str, Any] | None:
    path = inbox / f"{rid}.result"
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    path.unlink(missing_ok=True)
    return data


def pending_requests(inbox: Path) -> list[tuple[Path, Tick | None]]:
    out: list[tuple[Path, Tick | None]] = []
    if not inbox.is_dir():
        return out
    for path in sorted(inbox.glob("*.json")):
        try:
            data = json.loads(path.read_text())
            out.append((path, Tick(**{k: data[k] for k in ("step", "action", "by", "note", "reason", "id") if k in data})))
        except (ValueError, TypeError, KeyError):
            out.append((path, None))
    return out


def answer_request(path: Path, ok: bool, message: str) -> None:
    rid = path.stem
    atomic_write(path.with_name(f"{rid}.result"), json.dumps({"id": rid, "ok": ok, "message": message}).encode())
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
