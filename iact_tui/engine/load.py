"""Read a checklist file: TOML syntax, shape (pydantic), then cross-references.

Every problem becomes a ``Problem`` naming the file, the line where it can be found, the path
(``phases[2].steps[3].kind``) and a hint. ``load_checklist`` raises ``ChecklistError`` holding
all of them; it never lets a traceback reach the operator.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from iact_tui.engine import template
from iact_tui.engine.checklist import STEP_KINDS, Checklist, CommandStep, HttpStep, SshStep

BUILTIN_VARS = {
    "run_id": "the run's id",
    "operator": "the operator's name",
    "checklist_id": "the checklist's id",
    "checklist_version": "the checklist's version",
    "date": "the run's start date, YYYY-MM-DD",
    "elapsed_minutes": "minutes since the run started (whole minutes)",
    "rollback_reason": "why the rollback was started (empty before)",
    "run_folder": "the run's folder",
}


@dataclass(frozen=True)
class Problem:
    file: str
    path: str
    message: str
    line: int | None = None
    hint: str = ""
    warning: bool = False

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{where}: {self.path + ': ' if self.path else ''}{self.message}"
        if self.hint:
            text += f" (hint: {self.hint})"
        return text


class ChecklistError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass
class LoadedChecklist:
    checklist: Checklist
    path: Path
    text: str
    sha256: str
    warnings: list[Problem] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


def load_checklist(path: str | Path) -> LoadedChecklist:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ChecklistError([Problem(str(path), "", "file not found")]) from None
    except OSError as exc:
        raise ChecklistError([Problem(str(path), "", f"cannot read the file: {exc.strerror}")]) from None
    return parse_checklist(raw, str(path))


def parse_checklist(raw: bytes, filename: str = "<checklist>") -> LoadedChecklist:
    sha = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ChecklistError([Problem(filename, "", f"not UTF-8 text (byte {exc.start})")]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ChecklistError([_toml_problem(filename, exc)]) from None
    locator = Locator(text)
    try:
        checklist = Checklist.model_validate(data)
    except ValidationError as exc:
        raise ChecklistError(_shape_problems(filename, exc, data, locator)) from None
    problems = cross_check(checklist, filename, locator)
    errors = [p for p in problems if not p.warning]
    if errors:
        raise ChecklistError(errors)
    return LoadedChecklist(
        checklist, Path(filename), text, sha, [p for p in problems if p.warning], data
    )


# -- TOML syntax ------------------------------------------------------------------------------

_TOML_POS = re.compile(r"^(?P<msg>.*) \(at line (?P<line>\d+), column (?P<col>\d+)\)$")


def _toml_problem(filename: str, exc: tomllib.TOMLDecodeError) -> Problem:
    text = str(exc)
    m = _TOML_POS.match(text)
    if m:
        return Problem(
            filename,
            "",
            f"TOML syntax error: {m['msg']} (column {m['col']})",
            line=int(m["line"]),
            hint="check quotes, brackets and '=' on that line",
        )
    return Problem(filename, "", f"TOML syntax error: {text}")


# -- shape ------------------------------------------------------------------------------------


def format_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


def _get(data: Any, loc: tuple[int | str, ...]) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


_MODEL_KEYS: dict[str, list[str]] = {}


def _known_keys(container: Any) -> list[str]:
    from iact_tui.engine import checklist as model

    if isinstance(container, dict) and "kind" in container:
        cls = {
            "ssh": model.SshStep,
            "local": model.LocalStep,
            "http": model.HttpStep,
            "manual": model.ManualStep,
            "notify": model.NotifyStep,
        }.get(container.get("kind"))
        if cls:
            return [f.alias or n for n, f in cls.model_fields.items()]
    keys: set[str] = set()
    for cls in (
        model.StepBase,
        model.SshStep,
        model.LocalStep,
        model.HttpStep,
        model.ManualStep,
        model.NotifyStep,
        model.Phase,
        model.Alternative,
        model.Checklist,
        model.ChecklistInfo,
        model.Var,
        model.Host,
        model.Hint,
        model.Troubleshooting,
        model.Targets,
    ):
        keys.update(f.alias or n for n, f in cls.model_fields.items())
    return sorted(keys)


def _did_you_mean(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""


def _shape_problems(
    filename: str, exc: ValidationError, data: dict[str, Any], locator: Locator
) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for err in exc.errors():
        loc = tuple(err["loc"])
        etype = err["type"]
        # A tagged union reports the tag as part of the path: phases.0.steps.1.ssh.run
        clean = tuple(p for p in loc if not (isinstance(p, str) and p in STEP_KINDS and _is_tag(loc, p)))
        path = format_path(clean)
        hint = ""
        if etype == "union_tag_invalid":
            kind = _get(data, clean + ("kind",))
            message = f"unknown step kind {kind!r}; the kinds are {', '.join(STEP_KINDS)}"
            hint = _did_you_mean(str(kind), STEP_KINDS)
            path = format_path(clean + ("kind",))
            clean = clean + ("kind",)
        elif etype == "union_tag_not_found":
            message = "missing 'kind'"
            hint = f"add kind = one of {', '.join(STEP_KINDS)}"
        elif etype == "extra_forbidden":
            key = str(clean[-1])
            message = f"unknown key '{key}'"
            parent = _get(data, clean[:-1])
            hint = _did_you_mean(key, _known_keys(parent)) or "see the README for the keys"
        elif etype == "missing":
            message = f"missing required key '{clean[-1]}'"
        elif etype == "literal_error":
            expected = err.get("ctx", {}).get("expected", "")
            message = f"{err['input']!r} is not allowed here; expected {expected}"
            options = re.findall(r"'([^']*)'", str(expected))
            hint = _did_you_mean(str(err["input"]), options)
        elif etype == "string_pattern_mismatch":
            message = f"{err['input']!r} is not a valid id"
            hint = "ids use lower-case letters, digits, '.', '_' and '-'"
        elif etype == "value_error":
            message = str(err["msg"]).removeprefix("Value error, ")
        else:
            message = err["msg"]
        key = (path, message)
        if key in seen:
            continue
        seen.add(key)
        problems.append(Problem(filename, path, message, locator.line_of(clean), hint))
    return problems


def _is_tag(loc: tuple[Any, ...], part: str) -> bool:
    i = loc.index(part)
    return i > 0 and isinstance(loc[i - 1], int) and i >= 2 and loc[i - 2] == "steps"


# -- cross-references -------------------------------------------------------------------------


def _step_path(checklist: Checklist, step_id: str) -> tuple[int | str, ...]:
    for pi, phase in enumerate(checklist.phases):
        for si, s in enumerate(phase.steps):
            if s.id == step_id:
                return ("phases", pi, "steps", si)
        for ai, alt in enumerate(phase.alternatives):
            for si, s in enumerate(alt.steps):
                if s.id == step_id:
                    return ("phases", pi, "alternatives", ai, "steps", si)
    return ()


def cross_check(checklist: Checklist, filename: str, locator: Locator) -> list[Problem]:
    problems: list[Problem] = []

    def problem(loc: tuple[int | str, ...], message: str, hint: str = "", warning: bool = False) -> None:
        problems.append(
            Problem(filename, format_path(loc), message, locator.line_of(loc), hint, warning)
        )

    var_names = set(checklist.vars) | set(BUILTIN_VARS)
    hosts = checklist.hosts

    for name, host in hosts.items():
        for member in host.members or []:
            if member not in hosts:
                problem(("hosts", name, "members"), f"unknown host '{member}'", _did_you_mean(member, list(hosts)))
    for name, var in checklist.vars.items():
        if var.choices and var.default is not None and str(var.default) not in var.choices:
            problem(("vars", name, "default"), f"default {var.default!r} is not one of the choices")

    seen_ids: dict[str, tuple[int | str, ...]] = {}
    phase_ids: set[str] = set()
    captures_so_far: set[str] = set()
    forward_captures: set[str] = set()

    for pi, phase in enumerate(checklist.phases):
        ploc: tuple[int | str, ...] = ("phases", pi)
        if phase.id in phase_ids:
            problem(ploc + ("id",), f"duplicate phase id '{phase.id}'")
        phase_ids.add(phase.id)
        alt_ids = [a.id for a in phase.alternatives]
        for ai, alt in enumerate(phase.alternatives):
            if alt_ids.count(alt.id) > 1 and alt_ids.index(alt.id) != ai:
                problem(ploc + ("alternatives", ai, "id"), f"duplicate alternative id '{alt.id}'")
        for d in phase.defaults:
            if d not in alt_ids:
                problem(ploc + ("default",), f"unknown alternative '{d}'", _did_you_mean(d, alt_ids))
        if phase.default is not None and not phase.alternatives:
            problem(ploc + ("default",), "'default' only applies to a phase with alternatives")
        phase_captures: set[str] = set()
        for alt, step in phase.all_steps():
            sloc = _step_path(checklist, step.id) if step.id not in seen_ids else ploc
            if step.id in seen_ids:
                # find this exact occurrence's location
                sloc = _nth_step_path(checklist, step.id, 1)
                problem(
                    sloc + ("id",),
                    f"duplicate step id '{step.id}' (first at {format_path(seen_ids[step.id])})",
                    "step ids are unique in the whole checklist: `tick` names steps by id",
                )
            else:
                seen_ids[step.id] = sloc
            known = var_names | captures_so_far | phase_captures
            if phase.rollback:
                known = known | forward_captures
            _check_step_refs(checklist, step, sloc, known, problem)
            if isinstance(step, SshStep):
                if step.host not in hosts:
                    problem(sloc + ("host",), f"unknown host '{step.host}'", _did_you_mean(step.host, list(hosts)) or f"declare [hosts.{step.host}]")
            if isinstance(step, CommandStep):
                for q in template.quoted_placeholders(step.run):
                    problem(
                        sloc + ("run",),
                        f"{q}: values are shell-quoted already; quoting them again breaks values with spaces",
                        "write the placeholder without quotes",
                        warning=True,
                    )
            new = set(getattr(step, "capture", {}) or {}) | set(getattr(step, "capture_json", {}) or {})
            if alt is None:
                phase_captures |= new
            else:
                # a capture inside an alternative is known after the phase only if every
                # alternative defines it; within its own alternative it is known at once
                phase_captures |= new
            if not phase.rollback:
                forward_captures |= new
            if step.kind == "manual" and step.role and checklist.checklist.roles and step.role not in checklist.checklist.roles:
                problem(sloc + ("role",), f"unknown role '{step.role}'", _did_you_mean(step.role, checklist.checklist.roles))
        captures_so_far |= phase_captures

    all_ids = list(seen_ids)
    for ti, t in enumerate(checklist.troubleshooting):
        for sid in t.steps or []:
            if sid not in seen_ids:
                problem(("troubleshooting", ti, "steps"), f"unknown step '{sid}'", _did_you_mean(sid, all_ids))
    for si, section in enumerate(checklist.summary):
        for ii, item in enumerate(section.items):
            for sid in item.steps:
                if sid not in seen_ids:
                    problem(("summary", si, "items", ii, "steps"), f"unknown step '{sid}'", _did_you_mean(sid, all_ids))
    if not any(not p.rollback for p in checklist.phases):
        problem(("phases",), "every phase is a rollback phase: nothing would run")
    return problems


def _nth_step_path(checklist: Checklist, step_id: str, n: int) -> tuple[int | str, ...]:
    found = 0
    for pi, phase in enumerate(checklist.phases):
        for si, s in enumerate(phase.steps):
            if s.id == step_id:
                if found == n:
                    return ("phases", pi, "steps", si)
                found += 1
        for ai, alt in enumerate(phase.alternatives):
            for si, s in enumerate(alt.steps):
                if s.id == step_id:
                    if found == n:
                        return ("phases", pi, "alternatives", ai, "steps", si)
                    found += 1
    return ()


_TEMPLATE_FIELDS = ("run", "url", "headers", "json_body", "body", "message", "webhook", "cwd", "env", "artifact", "instructions", "title")


def _check_step_refs(checklist: Checklist, step: Any, sloc: tuple[int | str, ...], known: set[str], problem: Any) -> None:
    for fname in _TEMPLATE_FIELDS:
        value = getattr(step, fname, None)
        if value in (None, "", {}, []):
            continue
        for name in template.names_in(value):
            if name not in known:
                key = "json" if fname == "json_body" else fname
                hint = _did_you_mean(name, sorted(known)) or (
                    f"declare [vars.{name}] or capture it in an earlier step"
                )
                problem(sloc + (key,), f"unknown variable or capture '{{{name}}}'", hint)
    if step.when is not None and step.when not in known:
        problem(sloc + ("when",), f"unknown variable or capture '{step.when}'", _did_you_mean(step.when, sorted(known)))
    if isinstance(step, HttpStep):
        for name in step.capture_json:
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
                problem(sloc + ("capture_json",), f"capture name {name!r} is not an identifier")


# -- line numbers -----------------------------------------------------------------------------


class Locator:
    """Maps a data path (``phases[2].steps[3].kind``) to a line of the TOML text.

    tomllib keeps no positions, so this follows table headers (``[[phases]]``,
    ``[[phases.steps]]``, ``[vars.x]``) and ``key =`` lines. It answers for the usual layout
    and returns None where it is unsure (the message then names the path only).
    """

    _HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
    _KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"'.]+)\s*=")

    def __init__(self, text: str) -> None:
        self.lines: dict[tuple[int | str, ...], int] = {}
        counters: dict[tuple[int | str, ...], int] = {}
        current: tuple[int | str, ...] = ()
        for lineno, line in enumerate(text.splitlines(), start=1):
            m = self._HEADER.match(line)
            if m and not line.strip().startswith("#"):
                is_array = m.group(1) == "[["
                parts = [p.strip().strip("\"'") for p in m.group(2).split(".")]
                path = self._resolve(parts, counters, is_array)
                current = path
                self.lines.setdefault(path, lineno)
                continue
            k = self._KEY.match(line)
            if k and not line.strip().startswith("#"):
                keys = [p.strip().strip("\"'") for p in k.group(1).split(".")]
                path = current + tuple(keys)
                self.lines.setdefault(path, lineno)

    def _resolve(self, parts: list[str], counters: dict[tuple[int | str, ...], int], is_array: bool) -> tuple[int | str, ...]:
        path: tuple[int | str, ...] = ()
        for i, part in enumerate(parts):
            path = path + (part,)
            last = i == len(parts) - 1
            if last and is_array:
                n = counters.get(path, -1) + 1
                counters[path] = n
                # a new element resets the counters of arrays nested below it
                for key in [k for k in counters if len(k) > len(path) and k[: len(path)] == path]:
                    del counters[key]
                path = path + (n,)
            elif path in counters:
                path = path + (counters[path],)
        return path

    def line_of(self, loc: tuple[int | str, ...]) -> int | None:
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return None


def describe(loaded: LoadedChecklist) -> str:
    """The text `iact-tui check` prints for a valid checklist."""
    c = loaded.checklist
    out = [f"{c.checklist.id} {c.checklist.version}: {c.checklist.title}", f"  file {loaded.path}  sha256 {loaded.sha256[:16]}"]
    n_steps = 0
    for phase in c.phases:
        tag = " (rollback)" if phase.rollback else ""
        out.append(f"{phase.id}: {phase.title}{tag}")
        if phase.steps:
            for s in phase.steps:
                out.append(_step_line(s, "  "))
                n_steps += 1
        for alt in phase.alternatives:
            default = " [default]" if alt.id in phase.defaults else ""
            out.append(f"  alternative {alt.id}: {alt.title}{default}")
            for s in alt.steps:
                out.append(_step_line(s, "    "))
                n_steps += 1
    out.append(
        f"ok: {len(c.phases)} phases, {n_steps} steps, {len(c.vars)} variables, {len(c.hosts)} hosts"
    )
    for w in loaded.warnings:
        out.append(f"warning: {w}")
    return "\n".join(out)


def _step_line(step: Any, indent: str) -> str:
    marks = []
    if step.changes:
        marks.append("changes target")
    if step.confirm:
        marks.append("confirm")
    if getattr(step, "role", None):
        marks.append(f"role {step.role}")
    extra = f"  ({', '.join(marks)})" if marks else ""
    return f"{indent}{step.id:<28} {step.kind:<7} {step.display_title}{extra}"
