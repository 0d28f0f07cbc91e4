"""`iact-tui show RUN [STEP] [--json]`: what a run did, or what one step asks and did.

Read-only and lock-free: it works on a run another process drives (docs/team.md). A run's
steps read from report.toml's tables and the journal (``engine/record/summary.py``), so it stays
fast on a long run; one step also reads the pinned checklist (instructions, checks, command).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from iact_tui.cli.common import fail, runs_dir, runs_dir_option
from iact_tui.cli.completion import complete_run_ids, complete_step_ids
from iact_tui.engine.status import RunStatus, StepStatus

TAIL_LINES = 20


@click.command("show")
@click.argument("run_ref", metavar="RUN", shell_complete=complete_run_ids)
@click.argument("step", required=False, shell_complete=complete_step_ids)
@click.option("--json", "as_json", is_flag=True, help="One JSON object, for scripts.")
@click.option(
    "--tail",
    "tail",
    type=click.IntRange(0, 10_000),
    default=TAIL_LINES,
    show_default=True,
    help="Lines of the step's output to show.",
)
@runs_dir_option
def show(run_ref: str, step: str | None, as_json: bool, tail: int, runs_dir: str | None) -> None:
    """Show RUN's steps (status, who, when, duration), or STEP: its instructions, checks,
    resolved command, captures and output tail."""
    from iact_tui.engine.record.store import ReportError, RunLock, resolve_run
    from iact_tui.engine.record.summary import quick_state

    try:
        folder = resolve_run(run_ref, _dir(runs_dir))
        state = quick_state(folder)
    except ReportError as exc:
        fail(str(exc))
    live = RunLock.is_held(folder)
    if step is None:
        data = run_summary(state, folder, live)
        click.echo(json.dumps(data, ensure_ascii=False, indent=1) if as_json else format_run(data))
        return
    if step not in state.steps:
        from difflib import get_close_matches

        close = get_close_matches(step, list(state.steps), n=1)
        fail(
            f"run {state.run_id} has no step '{step}'"
            + (f"; did you mean '{close[0]}'?" if close else "")
        )
    data = step_detail(state, folder, step, tail)
    click.echo(json.dumps(data, ensure_ascii=False, indent=1) if as_json else format_step(data))


def _dir(value: str | None) -> Path:
    return runs_dir(value)


# -- the data (the --json form) ----------------------------------------------------------------


def _who(rec: Any) -> str:
    return str(rec.ticked_by or rec.skipped_by or "")


def run_summary(state: Any, folder: Path, live: bool) -> dict[str, Any]:
    status = str(state.status)
    if status == StepStatus.RUNNING and not live:
        status = StepStatus.INTERRUPTED  # its driver is gone (`resume` continues it)
    done, total = state.progress()
    return {
        "run": {
            "id": state.run_id,
            "folder": str(folder),
            "checklist": state.info.get("checklist_id", ""),
            "title": state.info.get("checklist_title", ""),
            "status": status,
            "live": live,
            "operator": state.operator,
            "started_at": state.started_at or None,
            "finished_at": state.finished_at or None,
            "pause_reason": state.pause_reason or None,
            "done": done,
            "total": total,
        },
        "steps": [
            {
                "id": rec.id,
                "phase": rec.phase,
                "kind": rec.kind,
                "title": rec.title,
                "status": str(rec.status),
                "who": _who(rec) or None,
                "started_at": rec.started_at or None,
                "finished_at": rec.finished_at or None,
                "duration": rec.duration,
                "attempts": rec.attempts,
            }
            for rec in state.steps.values()
        ],
    }


def step_detail(state: Any, folder: Path, step_id: str, tail: int) -> dict[str, Any]:
    from iact_tui.engine.record.follow import LogFollower

    rec = state.steps[step_id]
    step, values = _checklist_step(folder, state, step_id)
    instructions = ""
    checks_list: list[str] = []
    command = rec.command
    if step is not None:
        instructions = _display(values, getattr(step, "instructions", "") or "")
        if step.kind == "notify":
            message = _display(values, getattr(step, "message", "") or "")
            instructions = (instructions + "\n\n" if instructions else "") + message
        checks_list = [_display(values, c) for c in getattr(step, "checks", None) or []]
        if not command and step.kind not in ("manual",):
            command = _describe(step, values)
    lines: list[str] = []
    if tail:
        log = LogFollower(
            folder / "logs" / f"{step_id}.log", start_bytes=max(64 * 1024, tail * 400)
        )
        lines = log.read_new()[-tail:]
    approval = _approval(state, step_id)
    return {
        "run": state.run_id,
        "id": rec.id,
        "title": _display(values, step.title) if step is not None and step.title else rec.title,
        "phase": rec.phase,
        "kind": rec.kind,
        "status": str(rec.status),
        "role": getattr(step, "role", None) if step is not None else None,
        "four_eyes": bool(getattr(step, "four_eyes", False)) if step is not None else False,
        "confirm": bool(getattr(step, "confirm", False)) if step is not None else False,
        "who": _who(rec) or None,
        "started_at": rec.started_at or None,
        "finished_at": rec.finished_at or None,
        "duration": rec.duration,
        "attempts": rec.attempts,
        "exit_status": rec.exit_status,
        "message": rec.message or None,
        "note": rec.note or None,
        "skip_reason": rec.skip_reason or None,
        "approval": approval,
        "instructions": instructions or None,
        "checks": checks_list,
        "command": command or None,
        "captures": dict(rec.captures),
        "hosts": [_host(h) for h in state.fleet.for_step(step_id)],
        "output_tail": lines,
        "log": f"logs/{step_id}.log" if (folder / "logs" / f"{step_id}.log").exists() else None,
        "tick": _tick(state, step, step_id)
        if str(rec.status) in (StepStatus.WAITING, StepStatus.INTERRUPTED, StepStatus.FAILED)
        else None,
    }


def _host(rec: Any) -> dict[str, Any]:
    """One host of a step on a host group, as recorded (``[[host_steps]]``)."""
    return {
        "host": rec.host,
        "status": str(rec.status),
        "batch": rec.batch,
        "attempts": rec.attempts,
        "duration": rec.duration,
        "exit_status": rec.exit_status,
        "result": rec.result or None,
        "message": rec.message or None,
        "log": rec.log or None,
    }


def _tick(state: Any, step: Any, step_id: str) -> str:
    from iact_tui.engine.record.asks import awaited, tick_command

    if step is None:
        return tick_command(state.run_id, step_id)
    return awaited(step, state.run_id, state.info.get("approver_keys")).command


def _approval(state: Any, step_id: str) -> dict[str, Any] | None:
    """The step's signed approval: who signed it, with which key (None: not signed)."""
    rec = state.steps[step_id]
    fingerprint = getattr(rec, "approval_fingerprint", "")
    if not fingerprint:
        return None
    return {
        "signer": getattr(rec, "approval_signer", ""),
        "fingerprint": fingerprint,
        "key_type": getattr(rec, "approval_key_type", ""),
    }


def _checklist_step(folder: Path, state: Any, step_id: str) -> tuple[Any, Any]:
    """The step as the pinned checklist has it, and the run's values (secrets masked), or
    (None, None) when the pinned checklist cannot be read."""
    from iact_tui.engine.checklist.hosts_override import recorded_hosts, with_hosts
    from iact_tui.engine.checklist.load import ChecklistError, parse_checklist
    from iact_tui.engine.checklist.values import Values
    from iact_tui.engine.record.store import PINNED

    try:
        checklist = with_hosts(  # and the hosts the run started with (its vars file's)
            parse_checklist((folder / PINNED).read_bytes(), str(folder / PINNED), pinned=True),
            recorded_hosts(state.info),
        ).checklist
        step = checklist.step(step_id)
    except (OSError, ChecklistError, KeyError):
        return None, None
    recorded = {k: str(v) for k, v in dict(state.info.get("variables", {})).items()}
    builtins = {"run_id": state.run_id, "operator": state.operator, "run_folder": str(folder)}
    try:
        values = Values.resolve(checklist, recorded, builtins=builtins, environ={})
    except Exception:  # a variable that only a prompt could give: show the text as written
        return step, None
    for name, value in state.captures.items():
        values.values.setdefault(name, str(value))
    return step, values


def _display(values: Any, text: str) -> str:
    if values is None:
        return text
    try:
        return str(values.display_text(text))
    except Exception:
        return text


def _describe(step: Any, values: Any) -> str:
    if values is None:
        return ""
    from iact_tui.engine.executors import executor_for

    try:
        return str(executor_for(step.kind).describe(step, values))
    except Exception as exc:  # a capture this run has not made yet, e.g.
        return f"<{exc}>"


# -- the text form ------------------------------------------------------------------------------


def _time(value: str | None) -> str:
    if not value:
        return ""
    try:
        return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return value


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def format_run(data: dict[str, Any]) -> str:
    run = data["run"]
    head = [
        f"run {run['id']}  {run['title'] or run['checklist']}",
        f"status {run['status'].replace('_', ' ')}{' (live)' if run['live'] else ''}, "
        f"{run['done']}/{run['total']} steps done, operator {run['operator'] or '-'}, "
        f"started {_time(run['started_at'])} UTC"
        + (f", finished {_time(run['finished_at'])} UTC" if run["finished_at"] else ""),
    ]
    if run.get("pause_reason") and run["status"] == RunStatus.PAUSED:
        head.append(f"paused: {run['pause_reason']}")
    steps = data["steps"]
    width = max([len("STEP"), *(len(s["id"]) for s in steps)])
    who_width = max([len("WHO"), *(len(s["who"] or "") for s in steps)])
    rows = [
        f"{'STEP':<{width}}  {'STATUS':<14}  {'WHO':<{who_width}}  {'STARTED (UTC)':<19}  DURATION"
    ]
    for s in steps:
        status = s["status"].replace("_", " ") + (f" ×{s['attempts']}" if s["attempts"] > 1 else "")
        rows.append(
            f"{s['id']:<{width}}  {status:<14}  {s['who'] or '':<{who_width}}  "
            f"{_time(s['started_at']):<19}  {_duration(s['duration'])}".rstrip()
        )
    return "\n".join([*head, "", *rows])


def format_step(data: dict[str, Any]) -> str:
    out = [
        f"{data['id']}  {data['title']}",
        f"run {data['run']}, phase {data['phase']}, kind {data['kind']}",
    ]
    status = data["status"].replace("_", " ")
    facts = [f"status {status}"]
    if data["attempts"]:
        facts.append(f"attempt {data['attempts']}")
    if data["who"]:
        facts.append(f"by {data['who']}")
    if data["started_at"]:
        facts.append(f"started {_time(data['started_at'])} UTC")
    if data["finished_at"]:
        facts.append(f"finished {_time(data['finished_at'])} UTC")
    if data["duration"] is not None:
        facts.append(f"took {_duration(data['duration'])}")
    if data["exit_status"] is not None:
        facts.append(f"exit status {data['exit_status']}")
    out.append(", ".join(facts))
    if data["role"]:
        out.append(
            f"role: {data['role']}"
            + (" (four eyes: not an operator of the run)" if data["four_eyes"] else "")
        )
    approval = data.get("approval")
    if approval:
        out.append(
            f"approval signed by {approval.get('signer', '')} with {approval.get('key_type', '')} key "
            f"{approval.get('fingerprint', '')}"
        )
    for label, key in (("message", "message"), ("note", "note"), ("skip reason", "skip_reason")):
        if data[key]:
            out.append(f"{label}: {data[key]}")
    if data["instructions"]:
        out += ["", "Instructions:", *("  " + line for line in data["instructions"].splitlines())]
    if data["checks"]:
        out += ["", "Checks:", *(f"  - [ ] {c}" for c in data["checks"])]
    if data["command"]:
        out += [
            "",
            "Command:"
            if not data["confirm"]
            else "Command (asks for a confirmation before it runs):",
            *("  " + line for line in data["command"].splitlines()),
        ]
    if data["captures"]:
        out += ["", "Captures:", *(f"  {k} = {v}" for k, v in data["captures"].items())]
    if data["hosts"]:
        out += ["", "Hosts:"]
        for host in data["hosts"]:
            facts = [host["status"].replace("_", " ")]
            if host["batch"] is not None:
                facts.append(f"batch {host['batch'] + 1}")
            if host["duration"] is not None:
                facts.append(_duration(host["duration"]))
            if host["exit_status"] is not None:
                facts.append(f"exit {host['exit_status']}")
            line = f"  {host['host']}: {', '.join(facts)}"
            if host["message"]:
                line += f" — {host['message']}"
            if host["log"]:
                line += f"  ({host['log']})"
            out.append(line)
    if data["output_tail"]:
        out += [
            "",
            f"Output (last {len(data['output_tail'])} lines of {data['log']}):",
            *("  " + line for line in data["output_tail"]),
        ]
    if data["tick"]:
        out += ["", f"Tick it: {data['tick']}   (--fail, or --skip --reason TEXT)"]
    return "\n".join(out)
