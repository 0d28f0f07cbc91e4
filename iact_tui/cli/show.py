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
from iact_tui.engine.formatting import printable, printable_lines
from iact_tui.engine.status import FINAL_RUN_STATES, RunStatus, StepStatus

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
    from iact_tui.engine.record.store import REPORT, ReportError, RunLock, resolve_run
    from iact_tui.engine.record.summary import quick_state

    try:
        folder = resolve_run(run_ref, _dir(runs_dir))
        state = quick_state(folder)
    except ReportError as exc:
        fail(str(exc))
    problem = damaged(state)
    if problem:  # never a traceback on a report edited by hand or by a bug: bad input (exit 2)
        fail(f"{folder / REPORT}: {printable(problem)}; the report is damaged")
    live = RunLock.is_held(folder)
    if step is None:
        data = run_summary(state, folder, live)
        click.echo(json.dumps(data, ensure_ascii=False, indent=1) if as_json else format_run(data))
        return
    if step not in state.steps:
        from difflib import get_close_matches

        close = get_close_matches(step, list(state.steps), n=1)
        fail(
            f"run {state.run_id} has no step '{printable(step)}'"
            + (f"; did you mean '{close[0]}'?" if close else "")
        )
    data = step_detail(state, folder, step, tail)
    click.echo(json.dumps(data, ensure_ascii=False, indent=1) if as_json else format_step(data))


def _dir(value: str | None) -> Path:
    return runs_dir(value)


# -- a damaged report ---------------------------------------------------------------------------

_TEXT = (str,)
_STEP_TYPES: dict[str, tuple[type, ...]] = {
    "id": _TEXT,
    "phase": _TEXT,
    "kind": _TEXT,
    "title": _TEXT,
    "status": _TEXT,
    "started_at": _TEXT,
    "finished_at": _TEXT,
    "command": _TEXT,
    "message": _TEXT,
    "note": _TEXT,
    "ticked_by": _TEXT,
    "skip_reason": _TEXT,
    "skipped_by": _TEXT,
    "approval_signer": _TEXT,
    "approval_fingerprint": _TEXT,
    "approval_key_type": _TEXT,
    "attempts": (int,),
    "duration": (int, float, type(None)),
    "exit_status": (int, type(None)),
    "captures": (dict,),
    "output_tail": (list,),
}
_HOST_TYPES: dict[str, tuple[type, ...]] = {
    "host": _TEXT,
    "status": _TEXT,
    "message": _TEXT,
    "result": _TEXT,
    "log": _TEXT,
    "attempts": (int,),
    "batch": (int, type(None)),
    "duration": (int, float, type(None)),
    "exit_status": (int, type(None)),
}
_WORDS = {str: "text", int: "a whole number", float: "a number", dict: "a table", list: "a list"}


def _wrong(value: Any, types: tuple[type, ...]) -> str:
    """'' when ``value`` is of one of ``types`` (a bool is no number), else what is wrong."""
    if isinstance(value, types) and not (isinstance(value, bool) and bool not in types):
        return ""
    wanted = " or ".join(dict.fromkeys(_WORDS.get(t, "empty") for t in types))
    return f"is {value!r}, not {wanted}"


def damaged(state: Any) -> str:
    """What is wrong with the fields `show` reads ('' when nothing): a value of the wrong type in
    report.toml (edited by hand, say) is said, never a traceback."""
    for n, rec in enumerate(state.steps.values(), start=1):
        for name, types in _STEP_TYPES.items():
            why = _wrong(getattr(rec, name, ""), types)
            if why:
                label = f"'{rec.id}'" if isinstance(rec.id, str) else f"number {n}"
                return f"step {label}: {name} {why}"
        if not all(isinstance(line, str) for line in rec.output_tail):
            return f"step '{rec.id}': output_tail holds a line that is not text"
        for host in state.fleet.for_step(rec.id):
            for name, types in _HOST_TYPES.items():
                why = _wrong(getattr(host, name, ""), types)
                if why:
                    return f"step '{rec.id}', host {host.host!r}: {name} {why}"
            if isinstance(host.batch, int) and host.batch < 0:
                return f"step '{rec.id}', host {host.host!r}: batch is {host.batch}, not a batch"
    for name, value in (
        ("id", state.run_id),
        ("status", state.status),
        ("operator", state.operator),
        ("started_at", state.started_at),
        ("finished_at", state.finished_at),
        ("pause_reason", state.pause_reason),
    ):
        why = _wrong(value, _TEXT)
        if why:
            return f"run: {name} {why}"
    return ""


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
            "waiting_for": _waiting_for(state, folder, live),
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
    confirmation = (
        _confirmation(folder, step_id, live=_live(folder))
        if _asks_confirm(step, rec, state)
        else ""
    )
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
    tick = _tick(state, step, rec, folder, confirmation)
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
        # "waiting": the run asks for it now (a tick answers); "paused": the run paused there
        "confirmation": confirmation or None,
        "evidence": bool(getattr(step, "evidence", False)) if step is not None else False,
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
        "tick": tick[0] if tick else None,  # the command, with only what it takes now
        "tick_options": tick[1] if tick else None,
    }


def _host(rec: Any) -> dict[str, Any]:
    """One host of a step on a host group, as recorded (``[[host_steps]]``)."""
    return {
        "host": rec.host,
        "status": str(rec.status),
        # 1-based, as people count and the text says (report.toml records the 0-based index)
        "batch": rec.batch + 1 if isinstance(rec.batch, int) else None,
        "attempts": rec.attempts,
        "duration": rec.duration,
        "exit_status": rec.exit_status,
        "result": rec.result or None,
        "message": rec.message or None,
        "log": rec.log or None,
    }


def _tick(
    state: Any, step: Any, rec: Any, folder: Path, confirmation: str
) -> tuple[str, str] | None:
    """The tick command that answers the step now, and what else it takes — only what `tick`
    accepts for it (None: nothing answers it now)."""
    from iact_tui.engine.record.asks import awaited, resume_command, runs_dir_arg, tick_command

    status = str(rec.status)
    if str(state.status) in FINAL_RUN_STATES:
        return None
    person = rec.kind in ("manual", "notify")
    if status == StepStatus.FAILED and not person:
        # a failed automatic step is retried by `resume`; a tick can only skip it
        return (
            f"iact-tui tick {state.run_id} {rec.id} --skip --reason TEXT{runs_dir_arg(folder)}",
            f"or retry it: {resume_command(state.run_id, folder)}",
        )
    # the roles that take signed answers: those the run pinned lists for (a use-new may have
    # pinned some the checklist in the folder no longer names) and those that checklist names
    signed = {
        **_declared_approvers(folder),
        **dict.fromkeys(state.info.get("signed_roles", []), True),
        **(state.info.get("approver_keys") or {}),
    }
    if confirmation in ("waiting", "paused"):  # a tick confirms it (a paused run's too)
        if step is None:
            return tick_command(state.run_id, rec.id, folder), ""
        how = awaited(step, state.run_id, signed, confirm=True, folder=folder)
        return how.command, how.options
    if status not in (StepStatus.WAITING, StepStatus.INTERRUPTED, StepStatus.FAILED):
        return None
    if step is None:
        return tick_command(state.run_id, rec.id, folder), ""
    how = awaited(
        step,
        state.run_id,
        signed,
        interrupted=status == StepStatus.INTERRUPTED,
        folder=folder,
    )
    return how.command, how.options


def _declared_approvers(folder: Path) -> dict[str, Any]:
    """The roles whose answers the run's pinned checklist wants signed ([checklist.approvers]):
    what `tick` asks `--sign` for (the quick read of a run has no first record to take them from)."""
    import tomllib

    from iact_tui.engine.record.store import PINNED

    try:
        data = tomllib.loads((folder / PINNED).read_text(encoding="utf-8"))
        approvers = data.get("checklist", {}).get("approvers", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return dict.fromkeys(approvers, True) if isinstance(approvers, dict) else {}


def _live(folder: Path) -> bool:
    from iact_tui.engine.record.store import RunLock

    return bool(RunLock.is_held(folder))


def _asks_confirm(step: Any, rec: Any, state: Any) -> bool:
    """Whether the run may be asking for the step's confirmation (read the records to know)."""
    return bool(
        step is not None
        and getattr(step, "confirm", False)
        and str(rec.status) == StepStatus.PENDING
        and rec.id not in state.confirmed
        and str(state.status) not in FINAL_RUN_STATES
    )


_ANSWERED = ("step_confirmed", "step_started", "step_skipped", "step_not_applicable", "step_ticked")


def _asked(records: list[dict[str, Any]]) -> tuple[str, str]:
    """(the step whose confirmation the run asks for now, the step it paused at asking), from
    the records of a run: the runner records ``confirmation_asked`` when it asks."""
    asking = paused = ""
    for r in records:
        kind = r.get("type")
        if kind == "confirmation_asked":
            asking, paused = str(r.get("step", "")), ""
        elif kind in _ANSWERED and r.get("step") in (asking, paused):
            asking = paused = ""  # confirmed (a tick on the paused run, too), started, skipped
        elif kind == "run_paused":
            asking, paused = "", asking
        elif kind in ("run_resumed", "run_finished", "run_created"):
            asking = paused = ""
    return asking, paused


def _confirmation(folder: Path, step_id: str, *, live: bool) -> str:
    """ "waiting" when the run asks for the step's confirmation now (a tick answers it), "paused"
    when it paused asking, else ""."""
    from iact_tui.engine.record.store import READ_ERRORS, ReportError, read_records

    try:
        asking, paused = _asked(read_records(folder))
    except (ReportError, OSError, *READ_ERRORS):
        return ""
    if asking == step_id:
        return "waiting" if live else ""  # its driver is gone: `resume` asks again
    return "paused" if paused == step_id else ""


def _journal(folder: Path) -> list[dict[str, Any]]:
    """The records of the run's current session (cheap: the journal holds only those while a
    driver runs it); [] when it cannot be read."""
    from iact_tui.engine.record.store import JOURNAL

    out = []
    try:
        data = (folder / JOURNAL).read_bytes()
    except OSError:
        return []
    for line in data.split(b"\n")[:-1]:
        try:
            rec = json.loads(line)
        except ValueError:
            return []
        if isinstance(rec, dict):
            out.append(rec)
    return out


def _waiting_for(state: Any, folder: Path, live: bool) -> list[dict[str, Any]]:
    """What the run waits for now: the steps that wait for a person, and the confirmation it asks
    for, each with the tick that answers it."""
    if str(state.status) in FINAL_RUN_STATES:
        return []
    wanted = [
        (rec.id, "person") for rec in state.steps.values() if rec.status == StepStatus.WAITING
    ]
    if live:
        asking, _ = _asked(_journal(folder))
        if asking in state.steps and state.steps[asking].status == StepStatus.PENDING:
            wanted.append((asking, "confirmation"))
    out = []
    for step_id, asks in wanted:
        step, _ = _checklist_step(folder, state, step_id)
        rec = state.steps[step_id]
        tick = _tick(state, step, rec, folder, "waiting" if asks == "confirmation" else "")
        out.append({"step": step_id, "asks": asks, "tick": tick[0] if tick else None})
    return out


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
    """The run as text: every value from the records made printable (a name or a note cannot
    start a line of its own or send the terminal a control sequence), columns measured after."""
    p = printable
    run = data["run"]
    head = [
        f"run {p(run['id'])}  {p(run['title'] or run['checklist'])}",
        f"status {p(run['status']).replace('_', ' ')}{' (live)' if run['live'] else ''}, "
        f"{run['done']}/{run['total']} steps done, operator {p(run['operator'] or '-')}, "
        f"started {p(_time(run['started_at']))} UTC"
        + (f", finished {p(_time(run['finished_at']))} UTC" if run["finished_at"] else ""),
    ]
    if run.get("pause_reason") and run["status"] == RunStatus.PAUSED:
        head.append(f"paused: {p(run['pause_reason'])}")
    for wait in run.get("waiting_for") or []:
        what = "a confirmation of" if wait["asks"] == "confirmation" else "a person at"
        tick = f": {p(wait['tick'])}" if wait.get("tick") else ""
        head.append(f"waits for {what} {p(wait['step'])}{tick}")
    rows_data = [
        (
            p(s["id"]),
            p(s["status"]).replace("_", " ") + (f" ×{s['attempts']}" if s["attempts"] > 1 else ""),
            p(s["who"] or ""),
            p(_time(s["started_at"])),
            _duration(s["duration"]),
        )
        for s in data["steps"]
    ]
    width = max([len("STEP"), *(len(r[0]) for r in rows_data)])
    who_width = max([len("WHO"), *(len(r[2]) for r in rows_data)])
    rows = [
        f"{'STEP':<{width}}  {'STATUS':<14}  {'WHO':<{who_width}}  {'STARTED (UTC)':<19}  DURATION"
    ]
    for step_id, status, who, started, took in rows_data:
        rows.append(
            f"{step_id:<{width}}  {status:<14}  {who:<{who_width}}  {started:<19}  {took}".rstrip()
        )
    return "\n".join([*head, "", *rows])


def format_step(data: dict[str, Any]) -> str:
    """One step as text, every value from the records or the run's values made printable."""
    p = printable
    out = [
        f"{p(data['id'])}  {p(data['title'])}",
        f"run {p(data['run'])}, phase {p(data['phase'])}, kind {p(data['kind'])}",
    ]
    status = p(data["status"]).replace("_", " ")
    if data.get("confirmation") == "waiting":
        status += " (the run asks for its confirmation now)"
    elif data.get("confirmation") == "paused":
        status += " (the run paused asking for its confirmation)"
    facts = [f"status {status}"]
    if data["attempts"]:
        facts.append(f"attempt {data['attempts']}")
    if data["who"]:
        facts.append(f"by {p(data['who'])}")
    if data["started_at"]:
        facts.append(f"started {p(_time(data['started_at']))} UTC")
    if data["finished_at"]:
        facts.append(f"finished {p(_time(data['finished_at']))} UTC")
    if data["duration"] is not None:
        facts.append(f"took {_duration(data['duration'])}")
    if data["exit_status"] is not None:
        facts.append(f"exit status {data['exit_status']}")
    out.append(", ".join(facts))
    if data["role"]:
        out.append(
            f"role: {p(data['role'])}"
            + (" (four eyes: not an operator of the run)" if data["four_eyes"] else "")
        )
    approval = data.get("approval")
    if approval:
        out.append(
            f"approval signed by {p(approval.get('signer', ''))} with "
            f"{p(approval.get('key_type', ''))} key {p(approval.get('fingerprint', ''))}"
        )
    for label, key in (("message", "message"), ("note", "note"), ("skip reason", "skip_reason")):
        if data[key]:
            out.append(f"{label}: {p(data[key])}")
    if data.get("evidence"):
        out.append("evidence: wanted — a link, or where to find it, in the tick's --note")
    if data["instructions"]:
        out += [
            "",
            "Instructions:",
            *("  " + line for line in printable_lines(data["instructions"])),
        ]
    if data["checks"]:
        out += ["", "Checks:", *(f"  - [ ] {p(c)}" for c in data["checks"])]
    if data["command"]:
        out += [
            "",
            "Command:"
            if not data["confirm"]
            else "Command (asks for a confirmation before it runs):",
            *("  " + line for line in printable_lines(data["command"])),
        ]
    if data["captures"]:
        out += ["", "Captures:", *(f"  {p(k)} = {p(v)}" for k, v in data["captures"].items())]
    if data["hosts"]:
        out += ["", "Hosts:"]
        for host in data["hosts"]:
            facts = [p(host["status"]).replace("_", " ")]
            if host["batch"] is not None:
                facts.append(f"batch {host['batch']}")
            if host["duration"] is not None:
                facts.append(_duration(host["duration"]))
            if host["exit_status"] is not None:
                facts.append(f"exit {host['exit_status']}")
            line = f"  {p(host['host'])}: {', '.join(facts)}"
            if host["message"]:
                line += f" — {p(host['message'])}"
            if host["log"]:
                line += f"  ({p(host['log'])})"
            out.append(line)
    if data["output_tail"]:
        out += [
            "",
            f"Output (last {len(data['output_tail'])} lines of {p(data['log'])}):",
            *("  " + p(line) for line in data["output_tail"]),
        ]
    if data["tick"]:
        options = f"   ({p(data['tick_options'])})" if data.get("tick_options") else ""
        out += ["", f"Tick it: {p(data['tick'])}{options}"]
    return "\n".join(out)
