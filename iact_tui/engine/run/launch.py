"""Starting and resuming runs: the steps every front end shares.

``new_session`` and ``resume_session`` turn command-line input into a ready ``Runner``; the
TUI and the headless front end differ only in the ``Operator`` they pass and in how they ask for
missing values.
"""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from iact_tui.engine.checklist.approvers import ApproversError
from iact_tui.engine.checklist.diff import checklist_changes
from iact_tui.engine.checklist.hosts_override import recorded_hosts, with_hosts
from iact_tui.engine.checklist.load import LoadedChecklist, load_checklist, parse_checklist
from iact_tui.engine.checklist.masking import MASK
from iact_tui.engine.checklist.needed import unneeded_vars
from iact_tui.engine.checklist.problems import ChecklistError
from iact_tui.engine.checklist.values import Values, unsafe_values
from iact_tui.engine.checklist.varsfile import VarsFileError, apply_vars_file
from iact_tui.engine.errors import IactError
from iact_tui.engine.events import Emit
from iact_tui.engine.record.identity import name_problem, not_utf8, shown
from iact_tui.engine.record.store import PINNED, ReportError, RunStore, list_runs
from iact_tui.engine.run.operator import Operator, RunOptions
from iact_tui.engine.run.plan import create_run
from iact_tui.engine.run.runner import Runner
from iact_tui.engine.status import FINAL_RUN_STATES


class BadInput(IactError):
    """Bad arguments, checklist or report: exit 2 with this message."""


class NeedsPerson(IactError):
    """A decision is needed and nobody can make it here: exit 3 with this message."""


@dataclass
class SessionSpec:
    runs_dir: Path
    operator: str
    overrides: dict[str, str] = field(default_factory=dict)
    options: RunOptions = field(default_factory=RunOptions)
    checklist_changed: str | None = None  # use-new | keep-pinned (resume of a changed checklist)
    vars_file: str | None = None  # --vars FILE: values between the defaults and --var (varsfile.py)


@dataclass
class Launch:
    """Everything `run`/`resume`/`demo` hand to a front end."""

    runs_dir: Path
    checklist: str | None = None  # run
    run_ref: str | None = None  # resume
    overrides: dict[str, str] = field(default_factory=dict)
    choices: dict[str, list[str]] = field(default_factory=dict)
    operator: str | None = None
    on_failure: str | None = None  # None: the run's remembered choice, else stop
    assume_yes: bool = False
    wait: bool = False  # headless: stay alive at a step that waits for a person until it is ticked
    verbose: bool = False
    rerun: tuple[str, ...] = ()
    wait_running: tuple[str, ...] = ()  # resume: an interrupted step whose process still runs
    stop_running: tuple[str, ...] = ()
    rollback: bool = False
    rollback_reason: str = ""
    checklist_changed: str | None = None
    mode: str = "headless"
    auto_tick: str | None = None
    auto_tick_note: str = ""
    ssh_config: list[str] | None = None
    known_hosts: str | None = None
    vars_file: str | None = None  # --vars FILE
    banner: str = ""  # shown first (the demo names its sandbox here)
    resumable: bool = True  # False: the run's world is gone afterwards (the demo's sandbox)


def spec_for(launch: Launch) -> SessionSpec:
    """What the engine needs to start or resume the run a ``Launch`` asks for."""
    options = RunOptions(
        mode=launch.mode,
        choices=launch.choices,
        rerun=set(launch.rerun),
        wait_running=set(launch.wait_running),
        stop_running=set(launch.stop_running),
        rollback=launch.rollback,
        rollback_reason=launch.rollback_reason,
        on_failure=launch.on_failure,
        ssh_config=launch.ssh_config,
        known_hosts=launch.known_hosts,
    )
    return SessionSpec(
        runs_dir=launch.runs_dir,
        operator=launch.operator or default_operator(),
        overrides=launch.overrides,
        options=options,
        checklist_changed=launch.checklist_changed,
        vars_file=launch.vars_file,
    )


# a front end's way to ask for a value: (name, prompt, secret, default) -> value or None
AskValue = Callable[[str, str, bool, str | None], str | None]
# a front end's way to decide about a changed checklist: (changes) -> use-new | keep-pinned | None
AskChange = Callable[[list[str]], str | None]


def default_operator() -> str:
    env = os.environ.get("IACT_OPERATOR")
    if env:
        return env
    if shutil.which("git"):
        try:
            out = subprocess.run(
                ["git", "config", "--get", "user.name"],
                capture_output=True,
                text=True,
                errors="surrogateescape",  # bytes that are not UTF-8 are refused, not a traceback
                timeout=3,
                check=False,
            )
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            pass
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "operator"


def parse_vars(pairs: list[str] | tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise BadInput(f"--var takes NAME=VALUE, got {pair!r}")
        out[name.strip()] = value
    return out


def parse_choices(pairs: list[str] | tuple[str, ...]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for pair in pairs:
        phase, sep, alts = pair.partition("=")
        if not sep or not phase.strip() or not alts.strip():
            raise BadInput(f"--choose takes PHASE=ALTERNATIVE[,ALTERNATIVE], got {pair!r}")
        out[phase.strip()] = [a.strip() for a in alts.split(",") if a.strip()]
    return out


def captured_names(loaded: LoadedChecklist) -> set[str]:
    names: set[str] = set()
    for _, _, step in loaded.checklist.iter_steps():
        names |= set(getattr(step, "capture", {}) or {})
        names |= set(getattr(step, "capture_json", {}) or {})
    return names


def refuse_injection(values: Values) -> None:
    """Exit 2 before anything is recorded or run: a value starting with '-' for a command, a line
    break for an HTTP header (see values.injection_problems)."""
    from iact_tui.engine.checklist.values import injection_problems

    problems = injection_problems(values)
    if problems:
        raise BadInput(
            problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
        )


def _check_names(loaded: LoadedChecklist, spec: SessionSpec) -> None:
    from difflib import get_close_matches

    c = loaded.checklist
    for name in spec.overrides:
        if name not in c.vars:
            close = get_close_matches(name, list(c.vars), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise BadInput(f"--var {name}: the checklist declares no variable '{name}'{hint}")
        choices = c.vars[name].choices
        if choices and spec.overrides[name] not in choices:
            raise BadInput(
                f"--var {name}: {spec.overrides[name]!r} is not one of {', '.join(choices)}"
            )
    for phase_id, alts in spec.options.choices.items():
        try:
            phase = c.phase(phase_id)
        except KeyError:
            having = [p.id for p in c.phases if p.alternatives]
            raise BadInput(
                f"--choose {phase_id}: no such phase; "
                + (
                    "phases with alternatives: " + ", ".join(having)
                    if having
                    else "this checklist has no phase with alternatives"
                )
            ) from None
        ids = [a.id for a in phase.alternatives]
        if not ids:
            having = [p.id for p in c.phases if p.alternatives]
            raise BadInput(
                f"--choose {phase_id}: phase '{phase_id}' has no alternatives to choose; "
                + (
                    "phases with alternatives: " + ", ".join(having)
                    if having
                    else "this checklist has no phase with alternatives"
                )
            )
        for alt in alts:
            if alt not in ids:
                raise BadInput(
                    f"--choose {phase_id}={alt}: no such alternative; they are {', '.join(ids)}"
                )
        if len(alts) > 1 and not phase.multiple:
            raise BadInput(f"--choose {phase_id}: this phase takes one alternative")
    for option, given in (
        ("--rerun", spec.options.rerun),
        ("--wait-running", spec.options.wait_running),
        ("--stop-running", spec.options.stop_running),
    ):
        for sid in sorted(given):
            if sid not in c.step_ids:
                raise BadInput(f"{option} {shown(sid)}: the checklist has no step '{shown(sid)}'")


def resolve_values(
    loaded: LoadedChecklist,
    spec: SessionSpec,
    ask: AskValue | None,
    *,
    operator: str,
    prompt_all: bool,
) -> Values:
    """Values for a run; asks for what is missing (and for `prompt` variables when prompt_all)."""
    c = loaded.checklist
    builtins = {
        "operator": operator,
        "checklist_id": c.checklist.id,
        "checklist_version": c.checklist.version,
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "elapsed_minutes": "0",
        "rollback_reason": "",
    }
    values = Values.resolve(c, spec.overrides, builtins=builtins)
    later = captured_names(loaded)
    unneeded = unneeded_vars(c, values.values)  # used only by steps that do not apply (when/unless)
    for name, var in c.vars.items():
        present = name in values.values
        if (name in later or name in unneeded) and not present:
            continue  # captured during the run, or not needed by this run
        wants_prompt = (
            var.prompt is not None
            and prompt_all
            and name not in spec.overrides
            and not (var.env and os.environ.get(var.env))
        )
        if present and not wants_prompt:
            continue
        answer = None
        if ask is not None:
            answer = ask(
                name,
                var.prompt or name,
                var.secret,
                None if var.secret else values.values.get(name),
            )
        if answer is not None:
            values.set(name, answer)
        elif not present:
            where = f" or set ${var.env}" if var.env else ""
            raise BadInput(f"variable '{name}' has no value: pass --var {name}=VALUE{where}")
    return values


@dataclass(frozen=True)
class ValueQuestion:
    """A value a front end with a form asks for before the run starts (see value_questions)."""

    name: str
    prompt: str
    secret: bool
    default: str | None  # None for secrets: their value is never shown
    required: bool  # no value yet: the run cannot start without one
    description: str = ""
    choices: tuple[str, ...] = ()


def value_questions(
    loaded: LoadedChecklist, spec: SessionSpec, *, prompt_all: bool
) -> list[ValueQuestion]:
    """The values `new_session` (or `resume_session`) would ask for, in the order it asks, so that a
    front end can show them in one form first and answer them from it. Raises BadInput for bad
    --var/--choose/--rerun input. Asks nobody: it only records the questions."""
    spec, record = with_vars_file(loaded, spec)
    loaded = hosts_over(loaded, record)
    _check_names(loaded, spec)
    return _recorded_questions(loaded, spec, prompt_all=prompt_all)


def _recorded_questions(
    loaded: LoadedChecklist, spec: SessionSpec, *, prompt_all: bool
) -> list[ValueQuestion]:
    c = loaded.checklist
    present = set(Values.resolve(c, spec.overrides).values)
    asked: list[ValueQuestion] = []

    def record(name: str, prompt: str, secret: bool, default: str | None) -> str:
        var = c.vars[name]
        asked.append(
            ValueQuestion(
                name,
                prompt,
                secret,
                default,
                required=name not in present,
                description=var.description,
                choices=tuple(var.choices or ()),
            )
        )
        return default if default is not None else ""

    resolve_values(loaded, spec, record, operator=spec.operator, prompt_all=prompt_all)
    return asked


def resume_value_questions(folder: Path, spec: SessionSpec) -> list[ValueQuestion]:
    """The values `resume_session` will ask for (secrets are never recorded, so a resume asks for
    them again), for the checklist version that spec.checklist_changed selects."""
    from iact_tui.engine.record.store import read_state

    try:
        state = read_state(folder)
        pinned = parse_checklist((folder / PINNED).read_bytes(), str(folder / PINNED), pinned=True)
    except (ReportError, ChecklistError, OSError) as exc:
        raise BadInput(f"the run in {folder} cannot be resumed: {exc}") from None
    loaded = pinned
    path = Path(str(state.info.get("checklist_path", "")))
    if spec.checklist_changed != "keep-pinned" and path.is_file():
        try:
            loaded = load_checklist(path, pinned=True)
        except ChecklistError as exc:
            raise BadInput(
                f"the checklist {path} has changed and no longer loads:\n{exc}"
            ) from None
    spec, given = with_vars_file(loaded, spec)
    loaded = resumed_hosts(loaded, state.info, given)
    _check_names(loaded, spec)
    recorded: dict[str, str] = dict(state.info.get("variables", {}))
    recorded.update(spec.overrides)
    resume_spec = SessionSpec(
        spec.runs_dir, state.operator or spec.operator, recorded, spec.options
    )
    return _recorded_questions(loaded, resume_spec, prompt_all=False)


def new_session(
    checklist_path: str | Path,
    spec: SessionSpec,
    operator: Operator,
    emit: Emit,
    ask: AskValue | None,
    *,
    prompt_all: bool,
) -> Runner:
    refuse_bad_text(spec)
    try:
        loaded = load_checklist(checklist_path)
    except ChecklistError as exc:
        raise BadInput(str(exc)) from None
    spec, vars_file = with_vars_file(loaded, spec)
    loaded = hosts_over(loaded, vars_file)  # the vars file's [hosts.NAME] over the checklist's
    _check_names(loaded, spec)
    values = resolve_values(loaded, spec, ask, operator=spec.operator, prompt_all=prompt_all)
    refuse_unsafe_values(values)
    refuse_injection(values)
    try:
        store = create_run(
            loaded,
            spec.runs_dir,
            values,
            spec.operator,
            spec.options.mode,
            presets=spec.options.choices,
            on_failure=spec.options.on_failure,
            vars_file=vars_file,
        )
    except (ReportError, ApproversError) as exc:
        raise BadInput(str(exc)) from None
    return Runner(loaded, store, values, operator, emit, spec.options)


def with_vars_file(
    loaded: LoadedChecklist, spec: SessionSpec
) -> tuple[SessionSpec, dict[str, Any] | None]:
    """``spec`` with its --vars FILE's values under its --var ones, and the file's record (path,
    sha256) for run_created; a bad file is bad input (exit 2, one line naming file and line)."""
    try:
        return apply_vars_file(loaded.checklist, spec)
    except VarsFileError as exc:
        raise BadInput(str(exc)) from None


def hosts_over(loaded: LoadedChecklist, vars_file: dict[str, Any] | None) -> LoadedChecklist:
    """The checklist with the vars file's ``[hosts.NAME]`` tables over its own (hosts_override.py);
    hosts that do not make a valid checklist are bad input."""
    hosts = (vars_file or {}).get("hosts")
    try:
        return with_hosts(loaded, hosts, str((vars_file or {}).get("path", "")))
    except ChecklistError as exc:
        raise BadInput(str(exc)) from None


def resumed_hosts(
    loaded: LoadedChecklist, info: dict[str, Any], given: dict[str, Any] | None
) -> LoadedChecklist:
    """On resume, the hosts the run started with: a vars file given now may not change them."""
    recorded = recorded_hosts(info)
    if given is not None and given.get("hosts") and given.get("hosts") != recorded:
        raise BadInput(
            f"{given.get('path')} has other [hosts] than the run started with; a run keeps its hosts "
            "(start a new run for other hosts)"
        )
    return hosts_over(
        loaded, {"hosts": recorded, "path": (info.get("vars_file") or {}).get("path", "")}
    )


def refuse_bad_text(spec: SessionSpec) -> None:
    """Exit 2 before anything is created or recorded: the operator's name must be a person's
    name (valid UTF-8, no control characters: an escape sequence would make it read as another
    name), and a --var must be valid UTF-8 (no record or file can hold anything else)."""
    problem = name_problem("the operator name", spec.operator)
    if isinstance(spec.operator, str) and not spec.operator.strip():
        problem = "the operator name is blank: a run needs the name of the person running it"
    if problem:
        raise BadInput(f"{problem} (--operator, $IACT_OPERATOR, git's user.name or the login)")
    for name, value in spec.overrides.items():
        if not_utf8(name) or not_utf8(value):
            raise BadInput(f"--var {shown(name)}: not valid UTF-8 text; give it as UTF-8")
    options = spec.options
    given = [("--reason", options.rollback_reason or "")]
    for option in ("rerun", "wait_running", "stop_running", "choices"):
        for value in _texts(getattr(options, option, None)):
            given.append((f"--{option.replace('_', '-')}", value))
    for option, value in given:
        if not_utf8(value):
            raise BadInput(f"{option} {shown(value)}: not valid UTF-8 text; give it as UTF-8")


def _texts(value: Any) -> list[str]:
    """The text in an option's value (a string, a list of them, a table of lists)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in [str(k), *_texts(v)]]
    if isinstance(value, list | tuple | set):
        return [t for v in value for t in _texts(v)]
    return []


def refuse_unsafe_values(values: Values) -> None:
    """Exit 2 before anything is recorded or run: a value that is not UTF-8 (from an environment
    variable or a terminal), a secret too short to mask, or a plain value that contains a secret
    (see values.unsafe_values)."""
    for name, value in values.values.items():
        if isinstance(value, str) and not_utf8(value):
            raise BadInput(f"the value of '{name}' is not valid UTF-8 text; give it as UTF-8")
    problems = unsafe_values(values)
    if problems:
        raise BadInput(
            problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
        )


def _refuse_masked_records(
    recorded: dict[str, str], spec: SessionSpec, loaded: LoadedChecklist
) -> None:
    """A run started before values were recorded exactly may hold a plain value recorded with a
    secret masked in it ('release-***.2'); resuming with that text would deploy it. Refuse, and say
    how to give the real value back."""
    if not loaded.checklist.secret_names():
        return
    for name, value in recorded.items():
        if MASK in str(value) and name not in spec.overrides and name in loaded.checklist.vars:
            raise BadInput(
                f"variable '{name}' was recorded masked ({value!r}) because it contained a secret's value; "
                f"resume with --var {name}=VALUE, the value the run started with"
            )


def latest_unfinished(runs_dir: Path) -> Path:
    """The newest run that is not finished; damaged runs are passed over (`list` names them)."""
    try:
        runs = list_runs(runs_dir)
    except ReportError as exc:
        raise BadInput(str(exc)) from None
    for folder, state, _problem in runs:
        if state is not None and state.status not in FINAL_RUN_STATES:
            return folder
    raise BadInput(f"no unfinished run in {runs_dir}")


def resume_session(
    folder: Path,
    spec: SessionSpec,
    operator: Operator,
    emit: Emit,
    ask: AskValue | None,
    ask_change: AskChange | None,
) -> Runner:
    refuse_bad_text(spec)
    try:
        store = RunStore.open(folder)
    except ReportError as exc:
        raise BadInput(str(exc)) from None
    try:
        state = store.state
        if state.status in FINAL_RUN_STATES:
            raise BadInput(
                f"run {state.run_id} is {state.status.replace('_', ' ')}; there is nothing to resume"
            )
        loaded = _checklist_for_resume(store, spec, ask_change)
        spec, given = with_vars_file(loaded, spec)
        loaded = resumed_hosts(loaded, state.info, given)
        _check_names(loaded, spec)
        # values: those recorded at the start, then secrets and anything new
        recorded: dict[str, str] = dict(state.info.get("variables", {}))
        _refuse_masked_records(recorded, spec, loaded)
        recorded.update(spec.overrides)
        resume_spec = SessionSpec(spec.runs_dir, spec.operator, recorded, spec.options)
        values = resolve_values(
            loaded, resume_spec, ask, operator=state.operator or spec.operator, prompt_all=False
        )
        refuse_unsafe_values(values)
        refuse_injection(values)
        return Runner(loaded, store, values, operator, emit, spec.options)
    except BaseException:
        store.lock.release()
        raise


def pending_checklist_changes(folder: Path) -> list[str] | None:
    """For a front end that asks before resuming: what changed in the run's checklist file
    since the run started (None when it did not change or cannot be compared)."""
    from iact_tui.engine.record.store import read_state

    try:
        state = read_state(folder)
        pinned = parse_checklist((folder / PINNED).read_bytes(), str(folder / PINNED), pinned=True)
        path = Path(str(state.info.get("checklist_path", "")))
        if not path.is_file():
            return None
        current = load_checklist(path, pinned=True)
    except (ReportError, ChecklistError, OSError):
        return None
    if current.sha256 == state.checklist_sha256:
        return None
    return checklist_changes(pinned.checklist, current.checklist) or [
        "the file changed (no step changed)"
    ]


def _checklist_for_resume(
    store: RunStore, spec: SessionSpec, ask_change: AskChange | None
) -> LoadedChecklist:
    state = store.state
    pinned_path = store.folder / PINNED
    try:
        pinned = parse_checklist(pinned_path.read_bytes(), str(pinned_path), pinned=True)
    except (OSError, ChecklistError) as exc:
        raise BadInput(f"the run's pinned checklist cannot be read: {exc}") from None
    path = Path(str(state.info.get("checklist_path", "")))
    if not path.is_file():
        return pinned
    try:
        current = load_checklist(path, pinned=True)
    except ChecklistError as exc:
        raise BadInput(f"the checklist {path} has changed and no longer loads:\n{exc}") from None
    if current.sha256 == state.checklist_sha256:
        return current
    changes = checklist_changes(pinned.checklist, current.checklist) or [
        "the file changed (no step changed)"
    ]
    decision = spec.checklist_changed
    if decision is None and ask_change is not None:
        decision = ask_change(changes)
    if decision is None:
        listing = "\n".join(f"  - {c}" for c in changes)
        raise NeedsPerson(
            f"{path} changed since the run started:\n{listing}\n"
            "resume with --checklist-changed use-new (run the new version) or keep-pinned (the version the run started with)"
        )
    if decision not in ("use-new", "keep-pinned"):
        raise BadInput(f"--checklist-changed takes use-new or keep-pinned, not {decision!r}")
    from iact_tui.engine.record.store import atomic_write
    from iact_tui.engine.run.plan import plan_of

    if decision == "use-new":
        approver_keys = None
        if current.checklist.checklist.approvers:  # pinned with the decision, as a run pins them
            from iact_tui.engine.checklist.approvers import pin_approvers

            try:
                approver_keys = pin_approvers(current.checklist.checklist.approvers, path)
            except ApproversError as exc:
                raise BadInput(f"the changed checklist {path}: {exc}") from None
        store.append(
            "checklist_changed",
            decision="use-new",
            sha256_old=state.checklist_sha256,
            sha256_new=current.sha256,
            changes=changes,
            plan=plan_of(current.checklist),
            approver_keys=approver_keys,
            by=spec.operator,
        )
        atomic_write(pinned_path, current.text.encode())
        return current
    store.append(
        "checklist_changed",
        decision="keep-pinned",
        sha256_old=state.checklist_sha256,
        sha256_new=current.sha256,
        changes=changes,
        by=spec.operator,
    )
    return pinned
