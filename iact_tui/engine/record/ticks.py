"""Ticks: a person's answer to a step (pass, fail, skip with a reason, "it did complete").

One function decides whether a tick is allowed and records it, whether it comes from the
process driving the run (TUI, terminal) or from `iact-tui tick` in another terminal.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from iact_tui.engine.checklist.model import Checklist
from iact_tui.engine.errors import IactError
from iact_tui.engine.formatting import printable
from iact_tui.engine.record.identity import name_problem, not_utf8, text_problem
from iact_tui.engine.record.state import RunState
from iact_tui.engine.record.store import RunStore, atomic_write, now
from iact_tui.engine.status import DONE_STATES, FINAL_RUN_STATES, RunStatus, StepStatus

ACTIONS = ("pass", "fail", "skip")


@dataclass(frozen=True)
class Tick:
    step: str
    action: str  # pass | fail | skip
    by: str
    note: str = ""
    reason: str = ""  # required for skip
    id: str = ""
    ahead: bool = False  # for a step the run has not reached yet (`tick --ahead`)
    # a signed answer (`tick --sign`; docs/team.md): the armored SSHSIG signature over the
    # approval payload, and the run's newest record hash it was signed over
    signature: str = ""
    chain_head: str = ""


class TickRefused(IactError):
    pass


# Checks a signed answer and returns what to record of it (``signed``: signer, key fingerprint, the
# signature …), or None when the step's role takes no signed approvals; raises an IactError saying
# why it is refused. engine/report/approvals.py's ``check_signed_tick`` is the one there is: the
# record layer cannot check SSH signatures itself, so whoever records a tick passes it in.
ApprovalCheck = Callable[[RunState, set[str], Any, "Tick"], "dict[str, str] | None"]


def needs_signature(state: RunState, step: Any) -> bool:
    """Whether the step's role lists approvers (``[checklist.approvers]``, pinned at the start)."""
    keys = state.info.get("approver_keys")
    role = getattr(step, "role", None)
    return bool(role and isinstance(keys, dict) and role in keys)


WAITS_FOR_A_PERSON = (StepStatus.WAITING, StepStatus.INTERRUPTED, StepStatus.FAILED)

# Whether the process a step started (its ``step_process`` record) still runs: True, False, or
# None when it cannot be told here (a remote one: only a resume, with its SSH connection, checks).
# engine/executors/processes.py knows how; the record layer cannot import it, so whoever records
# a tick passes one in (without one, no process can be told gone: fail closed).
ProcessCheck = Callable[[dict[str, Any]], "bool | None"]


def asks_confirmation(state: RunState, step_id: str) -> bool:
    """Whether the paused run asked for a confirmation of the step before it runs (``confirm =
    true``) that nobody gave: a tick gives it (pass), declines it (fail) or skips the step."""
    rec = state.steps.get(step_id)
    return (
        state.status == RunStatus.PAUSED
        and step_id in state.confirmation_asked
        and step_id not in state.confirmed
        and rec is not None
        and rec.status == StepStatus.PENDING
    )


def check_input(tick: Tick) -> None:
    """Raise TickRefused when what a person typed cannot be recorded: text that is not UTF-8, or
    a name with control characters (it would read as another name on a terminal)."""
    for problem in (
        name_problem("the name", tick.by),
        text_problem("the note", tick.note),
        text_problem("the reason", tick.reason),
    ):
        if problem:
            raise TickRefused(problem)


def check_tick(state: RunState, checklist: Checklist, tick: Tick) -> None:
    """Raise TickRefused with a sentence when the tick is not allowed.

    A tick answers a step that waits for a person now: a manual step at its question, an
    interrupted step (to confirm it completed) or a failed one (to skip it, or to fail or pass a
    manual one again). A step the run has not reached takes a tick only with ``ahead`` (kept until
    the run gets there), and a rollback step never before a rollback has started.
    """
    if tick.action not in ACTIONS:
        raise TickRefused(f"unknown tick action '{printable(tick.action)}'")
    check_input(tick)
    if tick.step not in state.steps:
        from difflib import get_close_matches

        close = get_close_matches(tick.step, list(state.steps), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise TickRefused(f"run {state.run_id} has no step '{printable(tick.step)}'{hint}")
    if state.status in FINAL_RUN_STATES:
        raise TickRefused(
            f"run {state.run_id} is {state.status.replace('_', ' ')}; it takes no more ticks"
        )
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
    manual = rec.status == StepStatus.WAITING or (
        step is not None and step.kind in ("manual", "notify")
    )
    if rec.status == StepStatus.RUNNING:
        raise TickRefused(
            f"step '{tick.step}' is running now; it can be ticked when it waits for a person"
        )
    if rec.rollback and not state.rollback_started:
        raise TickRefused(
            f"step '{tick.step}' is a rollback step and no rollback has started; it cannot be ticked "
            "(not even ahead) before one starts"
        )
    if asks_confirmation(state, tick.step):  # the paused run waits for this confirmation
        check_four_eyes(state, step, tick)
        return
    if rec.status not in WAITS_FOR_A_PERSON:
        if not tick.ahead:
            raise TickRefused(
                f"step '{tick.step}' does not wait for a person now (it is {rec.status.replace('_', ' ')}); "
                "to answer it before the run gets there, tick it ahead with --ahead"
            )
        earlier = state.ahead.get(tick.step)
        if earlier is not None:
            raise TickRefused(
                f"step '{tick.step}' was ticked ahead already ({printable(earlier.get('action'))} by "
                f"{printable(earlier.get('by'))} at {printable(earlier.get('at'))})"
            )
        if not manual and tick.action != "skip":
            raise TickRefused(
                f"step '{tick.step}' is automatic ({rec.kind}); ahead of the run it can only be skipped "
                "(--ahead --skip --reason)"
            )
    if tick.action != "skip":
        if not manual and rec.status not in (StepStatus.INTERRUPTED, StepStatus.FAILED):
            raise TickRefused(
                f"step '{tick.step}' is automatic ({rec.kind}) and {rec.status}; it can be ticked only when it "
                "was interrupted (to confirm it completed) — or skipped with --skip --reason"
            )
        if not manual and rec.status == StepStatus.FAILED and tick.action == "pass":
            raise TickRefused(
                f"step '{tick.step}' failed; retry it with `resume`, or skip it with --skip --reason"
            )
    check_four_eyes(state, step, tick)


def check_four_eyes(state: RunState, step: Any, tick: Tick) -> None:
    """An approval with four eyes is passed or skipped only by someone who does not run the run
    (its operator, or whoever resumed it); names compare as a reader sees them (identity.py)."""
    if step is None or not getattr(step, "four_eyes", False) or tick.action == "fail":
        return
    from iact_tui.engine.record.identity import same_person

    for operator in state.operators or [state.operator]:
        if operator and same_person(tick.by, operator):
            alike = (
                ""
                if tick.by.strip().casefold() == operator.strip().casefold()
                else f" reads as {printable(operator)}, and"
            )
            verb = "approve" if tick.action == "pass" else "skip"
            raise TickRefused(
                f"step '{tick.step}' needs four eyes: {printable(tick.by)}{alike} is an operator of the "
                f"run, so another person ({step.role or 'an approver'}) must {verb} it"
            )


def check_not_running(
    state: RunState, folder: Path, tick: Tick, process_alive: ProcessCheck | None
) -> None:
    """Raise TickRefused when the interrupted step's command may still run (it outlived a killed
    driver): a tick never answers it; resume waits for it or stops it (docs/team.md)."""
    from iact_tui.engine.record.asks import resume_command

    rec = state.steps.get(tick.step)
    if rec is None or rec.status != StepStatus.INTERRUPTED:
        return
    running: list[str] = []
    unknown = False
    for proc in state.processes.get(tick.step, []):
        alive = process_alive(proc) if process_alive is not None else None
        if alive is False:
            continue
        unknown = unknown or alive is None
        where = f"on {printable(proc.get('host'))}" if proc.get("host") else "on this machine"
        running.append(f"process group {printable(proc.get('pid'))} {where}")
    if not running:
        return
    what = ", ".join(running)
    verb = "may still run (only a resume can check it)" if unknown else "still runs"
    wait = resume_command(state.run_id, folder, f"--wait-running {tick.step}")
    stop = resume_command(state.run_id, folder, f"--stop-running {tick.step}")
    raise TickRefused(
        f"step '{tick.step}' was interrupted and its command ({what}) {verb}; a tick does not "
        f"answer a command that may still run: wait for it to end with `{wait}` or stop it with "
        f"`{stop}`"
    )


def record_tick(
    store: RunStore,
    checklist: Checklist,
    tick: Tick,
    check_approval: ApprovalCheck | None = None,
    process_alive: ProcessCheck | None = None,
) -> dict[str, Any]:
    """Check and record a tick; returns the record. Raises TickRefused.

    A step whose role lists approvers takes only a signed answer, checked by ``check_approval``
    (without one, such a tick is refused: fail closed); the signer it names is who answered.
    An interrupted step whose recorded process may still run takes none (``process_alive`` tells
    a local one gone). On a confirmation the paused run asked for, a pass records the
    confirmation (``step_confirmed``, how "tick": the next resume runs the step without asking),
    a fail records nothing (the returned ``confirmation_declined`` is not recorded)."""
    check_input(tick)
    signed = _check_signed(store, checklist, tick, check_approval)
    if signed is not None:
        tick = replace(tick, by=signed["signer"])
    check_tick(store.state, checklist, tick)
    check_not_running(store.state, store.folder, tick, process_alive)
    if asks_confirmation(store.state, tick.step) and tick.action != "skip":
        if tick.action == "fail":
            return {"type": "confirmation_declined", "step": tick.step, "by": tick.by}
        return store.append(
            "step_confirmed",
            step=tick.step,
            by=tick.by,
            note=tick.note or None,
            how="tick",
            signed=signed,
        )
    if tick.ahead and store.state.steps[tick.step].status not in WAITS_FOR_A_PERSON:
        return store.append(
            "step_ticked_ahead",
            step=tick.step,
            action=tick.action,
            by=tick.by,
            note=tick.note or None,
            reason=tick.reason or None,
            role=_role(checklist, tick.step),
            signed=signed,
        )
    return _append(store, checklist, tick, signed=signed)


def _check_signed(
    store: RunStore, checklist: Checklist, tick: Tick, check_approval: ApprovalCheck | None
) -> dict[str, str] | None:
    try:
        step = checklist.step(tick.step)
    except KeyError:
        step = None
    if step is None or not (tick.signature or needs_signature(store.state, step)):
        return None
    if check_approval is None:
        raise TickRefused(
            f"step '{tick.step}' takes a signed answer, and signatures cannot be checked here"
        )
    try:
        return check_approval(store.state, {str(r.get("hash")) for r in store.records}, step, tick)
    except IactError as exc:
        raise TickRefused(str(exc)) from None


def apply_ahead(store: RunStore, checklist: Checklist, step_id: str) -> dict[str, Any]:
    """The run reached a step ticked ahead: record the answer given then (four eyes still apply to
    who gave it). Raises TickRefused, after recording why the answer is not used."""
    ahead = store.state.ahead[step_id]
    tick = Tick(
        step_id,
        str(ahead.get("action", "")),
        str(ahead.get("by", "")),
        note=str(ahead.get("note") or ""),
        reason=str(ahead.get("reason") or ""),
    )
    signed = ahead.get("signed") if isinstance(ahead.get("signed"), dict) else None
    try:
        step = checklist.step(step_id)
    except KeyError:
        step = None
    try:
        if tick.action not in ACTIONS:
            raise TickRefused(f"unknown tick action '{printable(tick.action)}'")
        _still_answers(store.state, step, ahead, signed)
        check_four_eyes(store.state, step, tick)
    except TickRefused as exc:
        store.append("step_ahead_dropped", step=step_id, reason=str(exc))
        raise
    return _append(store, checklist, tick, ahead_at=str(ahead.get("at", "")), signed=signed)


def _still_answers(
    state: RunState, step: Any, ahead: dict[str, Any], signed: dict[str, Any] | None
) -> None:
    """An answer ticked ahead for a step whose role takes signed answers, when the run gets there:
    given without a signature (the checklist changed since, with use-new, and now lists the role's
    approvers), or signed over another version of the checklist (what the signer approved, and
    maybe a list that no longer names them), it is not used: the step asks again."""
    if step is None or not needs_signature(state, step):
        return
    if signed is None:
        raise TickRefused(
            f"role '{getattr(step, 'role', '')}' takes signed answers since the checklist changed "
            "(use-new); answer it again with --sign"
        )
    if ahead.get("checklist_sha256", state.checklist_sha256) != state.checklist_sha256:
        raise TickRefused(
            "it was signed for another version of the checklist (changed since, with use-new); "
            "answer it again"
        )


def _role(checklist: Checklist, step_id: str) -> str | None:
    try:
        return getattr(checklist.step(step_id), "role", None)
    except KeyError:
        return None


def _append(
    store: RunStore,
    checklist: Checklist,
    tick: Tick,
    ahead_at: str = "",
    signed: dict[str, str] | None = None,
) -> dict[str, Any]:
    try:
        approval = bool(getattr(checklist.step(tick.step), "four_eyes", False))
    except KeyError:
        approval = False
    if tick.action == "skip":
        return store.append(
            "step_skipped",
            step=tick.step,
            reason=tick.reason,
            by=tick.by,
            note=tick.note or None,
            approval=approval or None,
            ahead_at=ahead_at or None,
            signed=signed,
        )
    role = _role(checklist, tick.step)
    result = StepStatus.PASSED if tick.action == "pass" else StepStatus.FAILED
    how = (
        "confirmed done" if store.state.steps[tick.step].status == StepStatus.INTERRUPTED else None
    )
    if ahead_at:
        how = "ticked ahead"
    return store.append(
        "step_ticked",
        step=tick.step,
        result=result,
        by=tick.by,
        note=tick.note or None,
        role=role,
        how=how,
        ahead_at=ahead_at or None,
        signed=signed,
    )


def describe(store: RunStore, tick: Tick, rec: dict[str, Any]) -> str:
    """The line that tells the person what was recorded: who as recorded (a signed answer's
    signer), every text printable (it came from a person)."""
    by = printable(rec.get("by") or tick.by)
    signed = rec.get("signed")
    key = (
        f", signed with {printable(signed.get('fingerprint'))}" if isinstance(signed, dict) else ""
    )
    if rec.get("type") == "step_confirmed":
        return (
            f"confirmed: {tick.step} by {by}{key}; it runs when the run is resumed, without "
            "asking again"
        )
    if rec.get("type") == "confirmation_declined":
        return (
            f"not confirmed: {tick.step} stays unconfirmed (nothing recorded); the run asks "
            "again when it is resumed"
        )
    if rec.get("type") == "step_ticked_ahead":
        return (
            f"recorded ahead: {tick.step} {tick.action} by {by}{key} at {rec.get('at', '')}; "
            "it is applied when the run reaches the step"
        )
    status = store.state.steps[tick.step].status
    return f"recorded: {tick.step} {status.replace('_', ' ')} by {by}{key}"


# -- the inbox: ticks from another process while a run is live ---------------------------------

MAX_REQUEST_BYTES = 64 * 1024
REJECTED = "rejected"  # inbox/rejected/: requests that could not be read, moved aside
_TEXT_FIELDS = ("step", "action", "by", "note", "reason", "id", "signature", "chain_head")
_REQUIRED = ("step", "action", "by")


class BadRequest(IactError):
    """A request file in the inbox that is not a tick (the message says why)."""


def post_request(inbox: Path, tick: Tick) -> str:
    """Leave a tick for the live process; returns the request id."""
    rid = tick.id or uuid.uuid4().hex
    make_inbox(inbox)
    data = asdict(tick) | {"id": rid, "at": now()}
    atomic_write(inbox / f"{rid}.json", json.dumps(data).encode())
    return rid


def make_inbox(inbox: Path) -> None:
    """The run's inbox, made if it is not there (a run made before iact-tui made it at once) with
    the run folder's permissions, whatever the umask of whoever makes it: in a group-shared runs
    folder, every member and the driver leave and answer requests in it (docs/team.md)."""
    try:
        inbox.mkdir()
    except FileExistsError:
        return
    with contextlib.suppress(OSError):  # the folder's own bits (setgid, group write) or as made
        os.chmod(inbox, inbox.parent.stat().st_mode & 0o7777)


def read_result(inbox: Path, rid: str) -> dict[str, Any] | None:
    path = inbox / f"{rid}.result"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return {
            "id": rid,
            "ok": False,
            "message": f"the answer {path.name} cannot be read: {exc.strerror}",
        }
    try:
        data = json.loads(raw)
        ok, message = data["ok"], data["message"]
        if not isinstance(ok, bool) or not isinstance(message, str):
            raise TypeError
    except (ValueError, TypeError, KeyError, RecursionError):
        return {"id": rid, "ok": False, "message": f"the answer {path.name} is not readable"}
    path.unlink(missing_ok=True)
    return {"id": rid, "ok": ok, "message": message}


def read_request(path: Path) -> Tick:
    """The tick in a request file; raises BadRequest with a reason a person understands."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        what = (
            "is a symbolic link" if exc.errno == errno.ELOOP else f"cannot be read ({exc.strerror})"
        )
        raise BadRequest(what) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise BadRequest(
                "is a directory" if stat.S_ISDIR(info.st_mode) else "is not a regular file"
            )
        if info.st_size > MAX_REQUEST_BYTES:
            raise BadRequest(
                f"is {info.st_size} bytes; a request is at most {MAX_REQUEST_BYTES // 1024} KiB"
            )
        raw = b""
        while len(raw) <= MAX_REQUEST_BYTES:  # bounded: it stops one byte past the limit
            chunk = os.read(fd, MAX_REQUEST_BYTES + 1 - len(raw))
            if not chunk:
                break
            raw += chunk
    finally:
        os.close(fd)
    if len(raw) > MAX_REQUEST_BYTES:
        raise BadRequest(f"is over {MAX_REQUEST_BYTES // 1024} KiB; a request is at most that")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadRequest("is not UTF-8 text") from None
    except (ValueError, RecursionError):
        raise BadRequest("is not JSON") from None
    if not isinstance(data, dict):
        raise BadRequest(
            f"holds a JSON {type(data).__name__}, not an object with step, action and by"
        )
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise BadRequest(f"has no {', '.join(missing)}")
    for key in _TEXT_FIELDS:
        if key in data and data[key] is not None and not isinstance(data[key], str):
            raise BadRequest(f"has a {key} that is not text ({type(data[key]).__name__})")
    ahead = data.get("ahead", False)
    if not isinstance(ahead, bool):
        raise BadRequest(f"has an ahead that is not true or false ({type(ahead).__name__})")
    for key in _TEXT_FIELDS:
        if isinstance(data.get(key), str) and not_utf8(data[key]):
            raise BadRequest(f"has a {key} that is not valid UTF-8 text")
    fields = {k: data[k] for k in _TEXT_FIELDS if isinstance(data.get(k), str)}
    return Tick(**fields, ahead=ahead)


def pending_requests(inbox: Path) -> list[tuple[Path, Tick | None, str]]:
    """Each request file in the inbox: (path, tick, "") or (path, None, why it is no tick)."""
    out: list[tuple[Path, Tick | None, str]] = []
    try:
        if not inbox.is_dir():
            return out
        paths = sorted(inbox.glob("*.json"))
    except OSError:
        return out
    for path in paths:
        try:
            out.append((path, read_request(path), ""))
        except BadRequest as exc:
            out.append((path, None, str(exc)))
        except OSError as exc:  # it went away, or the disk refused: say so, never stop the run
            out.append((path, None, f"cannot be read ({exc.strerror or exc})"))
    return out


def answer_request(path: Path, ok: bool, message: str) -> None:
    rid = path.stem
    atomic_write(
        path.with_name(f"{rid}.result"),
        json.dumps({"id": rid, "ok": ok, "message": message}).encode(),
    )
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def reject_request(path: Path, why: str) -> str:
    """Move a request that is no tick aside (inbox/rejected/), answer it; returns the message."""
    rejected = path.parent / REJECTED
    where = "it could not be moved aside"
    try:
        rejected.mkdir(exist_ok=True)
        dest = rejected / path.name
        if os.path.lexists(dest):
            dest = rejected / f"{path.stem}-{uuid.uuid4().hex[:8]}{path.suffix}"
        os.rename(path, dest)
        where = f"moved to inbox/{REJECTED}/{dest.name}"
    except OSError:
        pass
    message = f"the request {path.name} {why}; {where}"
    with contextlib.suppress(OSError):
        rid = path.stem
        atomic_write(
            path.with_name(f"{rid}.result"),
            json.dumps({"id": rid, "ok": False, "message": message}).encode(),
        )
    return message
