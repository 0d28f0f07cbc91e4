"""Read a checklist file: TOML syntax, shape (pydantic), then cross-references.

Every problem becomes a ``Problem`` naming the file, the line where it can be found, the path
(``phases[2].steps[3].kind``) and a hint. ``load_checklist`` raises ``ChecklistError`` holding
all of them; it never lets a traceback reach the operator. The format is documented in
docs/checklist-format.md.
"""

from __future__ import annotations

import bisect
import difflib
import hashlib
import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from iact_tui.engine.checklist import template
from iact_tui.engine.checklist.model import (
    STEP_CLASSES,
    STEP_KINDS,
    Alternative,
    Checklist,
    ChecklistInfo,
    CommandStep,
    Hint,
    Host,
    ManualStep,
    Phase,
    SshStep,
    StepBase,
    SummaryItem,
    SummarySection,
    Targets,
    Troubleshooting,
    Var,
)

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

FORMAT_DOC = "docs/checklist-format.md"

Loc = tuple[int | str, ...]


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
    name = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ChecklistError(
            [
                Problem(
                    name,
                    "",
                    "file not found",
                    hint="check the path; checklists usually live in checklists/",
                )
            ]
        ) from None
    except IsADirectoryError:
        raise ChecklistError(
            [Problem(name, "", "is a directory, not a checklist file", hint="name a .toml file")]
        ) from None
    except PermissionError:
        raise ChecklistError(
            [Problem(name, "", "cannot read the file: permission denied")]
        ) from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ChecklistError([Problem(name, "", f"cannot read the file: {reason}")]) from None
    return parse_checklist(raw, name)


def parse_checklist(raw: bytes, filename: str = "<checklist>") -> LoadedChecklist:
    sha = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        problem = Problem(
            filename,
            "",
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
            line=line,
            hint="save the file as UTF-8",
        )
        raise ChecklistError([problem]) from None
    # Editors on some systems write a byte-order mark; TOML does not allow one, we forgive it.
    text = text.removeprefix("\ufeff")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ChecklistError([_toml_problem(filename, exc)]) from None
    locator = Locator(text)
    if not data:
        raise ChecklistError(
            [
                Problem(
                    filename,
                    "",
                    "the file holds no checklist (it is empty or only comments)",
                    hint=f"start with schema_version = 1, a [checklist] table and a [[phases]] table; see {FORMAT_DOC}",
                )
            ]
        )
    version = data.get("schema_version", 1)
    if version != 1 or isinstance(version, bool):
        raise ChecklistError(
            [
                Problem(
                    filename,
                    "schema_version",
                    f"schema_version {version!r} is not supported; this iact-tui reads schema_version = 1",
                    locator.line_of(("schema_version",)),
                    "write schema_version = 1, or use the iact-tui release that wrote this format",
                )
            ]
        )
    try:
        checklist = Checklist.model_validate(data)
    except ValidationError as exc:
        raise ChecklistError(_shape_problems(filename, exc, data, locator)) from None
    problems = _CrossCheck(checklist, filename, locator).run()
    errors = [p for p in problems if not p.warning]
    if errors:
        raise ChecklistError(errors)
    warnings = [p for p in problems if p.warning]
    return LoadedChecklist(checklist, Path(filename), text, sha, warnings, data)


# -- TOML syntax ------------------------------------------------------------------------------

_TOML_POS = re.compile(r"^(?P<msg>.*) \(at line (?P<line>\d+), column (?P<col>\d+)\)$")
_TOML_END = re.compile(r"^(?P<msg>.*) \(at end of document\)$")

_TOML_HINTS: list[tuple[str, str]] = [
    (
        "Unescaped '\\'",
        "in a \"...\" string write \\\\ for a backslash, or use a '...' literal string (regexes read best that way)",
    ),
    ("Cannot overwrite a value", "this key is already set in the same table"),
    ("Cannot declare", "this table is declared twice; repeated tables are written [[name]]"),
    ("Unterminated string", "a string is not closed: look for a missing quote"),
    ("Expected \"'''\"", "a ''' string is not closed"),
    ('Expected \'"""\'', 'a """ string is not closed'),
    (
        "Illegal character '\\n'",
        'a "..." string ends at the end of its line; close it, or use """ for several lines',
    ),
    (
        "Invalid initial character for a key part",
        "an inline table { ... } must stay on one line; use a [table] for longer ones",
    ),
]


def _toml_problem(filename: str, exc: tomllib.TOMLDecodeError) -> Problem:
    text = str(exc)
    line: int | None = None
    m = _TOML_POS.match(text)
    if m:
        message = f"TOML syntax error: {m['msg']} (column {m['col']})"
        line = int(m["line"])
    elif (m := _TOML_END.match(text)) is not None:
        message = f"TOML syntax error: {m['msg']} at the end of the file"
    else:
        message = f"TOML syntax error: {text}"
    hint = next((h for needle, h in _TOML_HINTS if needle in text), "")
    if not hint:
        hint = (
            "check quotes, brackets and '=' on that line"
            if line
            else "check that every string, [ and { is closed"
        )
    return Problem(filename, "", message, line=line, hint=hint)


# -- shape ------------------------------------------------------------------------------------


def format_path(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


def _get(data: Any, loc: Loc) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _model_keys(cls: type[BaseModel]) -> list[str]:
    return [f.alias or n for n, f in cls.model_fields.items()]


def model_at(loc: Loc, data: Any) -> type[BaseModel] | None:
    """The model that governs the table at ``loc`` (for the keys a hint may suggest)."""
    shape: list[str] = []
    for i, part in enumerate(loc):
        if isinstance(part, int):
            shape.append("#")
        elif i == 1 and loc[0] in ("vars", "hosts"):
            shape.append("*")
        else:
            shape.append(part)
    key = ".".join(shape)
    fixed: dict[str, type[BaseModel]] = {
        "": Checklist,
        "checklist": ChecklistInfo,
        "vars.*": Var,
        "hosts.*": Host,
        "phases.#": Phase,
        "phases.#.alternatives.#": Alternative,
        "troubleshooting.#": Troubleshooting,
        "targets": Targets,
        "summary.#": SummarySection,
        "summary.#.items.#": SummaryItem,
    }
    if key in fixed:
        return fixed[key]
    if re.fullmatch(r"phases\.#(\.alternatives\.#)?\.steps\.#", key):
        node = _get(data, loc)
        kind = node.get("kind") if isinstance(node, dict) else None
        return STEP_CLASSES.get(kind, StepBase) if isinstance(kind, str) else StepBase
    if re.fullmatch(r"phases\.#(\.alternatives\.#)?\.steps\.#\.hints\.#", key):
        return Hint
    return None


def did_you_mean(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""


# kept for callers of the first version
_did_you_mean = did_you_mean


_TYPE_WORDS = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "list_type": "an array",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "none_required": "nothing",
}

_VALUE_HINTS: list[tuple[str, str]] = [
    (
        "regular expression",
        "Python regex syntax; write it as a '...' literal string so backslashes stay as they are",
    ),
    ("needs one group", "put the part to keep in parentheses"),
    ("not an identifier", "use letters, digits and '_'; a name cannot start with a digit"),
    (
        "either 'steps' or 'alternatives'",
        "move the steps into an alternative, or drop the alternatives",
    ),
    ("needs 'steps' or 'alternatives'", "add a [[phases.steps]] table"),
    ("needs 'multiple = true'", "add multiple = true to the phase, or name one default"),
    ("either 'json' or 'body'", "keep one of them"),
    (
        "needs 'from_ref'",
        'from_ref is the commit that was deployed before, e.g. from_ref = "{prev_commit}"',
    ),
    ("out of range", "a TCP port is between 1 and 65535"),
]

_MISSING_HINTS = {
    ("checklist",): "add a [checklist] table with id, title and version",
    ("phases",): "add at least one [[phases]] table with id, title and steps",
}


def describe_value(value: Any) -> str:
    """'a string ("600")', 'an array', ... for messages about wrong types."""
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        return f"a number ({value:g})"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f'a string ("{shown}")' if value else "an empty string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, datetime | date | time):
        return f"a date/time ({value})"
    return type(value).__name__


def _clean_loc(loc: Loc, data: Any, etype: str) -> tuple[Loc, bool]:
    """Pydantic's location without union labels (``ssh`` tags, ``int``, ``list[int]``...).

    Returns the path as it exists in the data, and whether a union member's label was dropped.
    """
    out: list[int | str] = []
    node = data
    dropped = False
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, dict) and isinstance(part, str):
            is_tag = part in STEP_KINDS and node.get("kind") == part and not (last and part in node)
            if not is_tag and part in node:
                out.append(part)
                node = node[part]
                continue
            if not is_tag and last and etype in ("missing", "extra_forbidden"):
                out.append(part)
                continue
            dropped = dropped or not is_tag
            continue
        if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            out.append(part)
            node = node[part]
            continue
        dropped = True
    return tuple(out), dropped


def _shape_problems(
    filename: str, exc: ValidationError, data: dict[str, Any], locator: Locator
) -> list[Problem]:
    groups: dict[Loc, list[dict[str, Any]]] = {}
    from_union: dict[Loc, bool] = {}
    for err in exc.errors(include_url=False):
        loc, dropped = _clean_loc(tuple(err["loc"]), data, err["type"])
        groups.setdefault(loc, []).append(dict(err))
        from_union[loc] = from_union.get(loc, True) and dropped
    problems: list[Problem] = []
    for loc, errs in groups.items():
        # A union that failed on every member reports each member; when one member got
        # further (a list with one bad item), that deeper message is the useful one.
        if from_union[loc] and any(len(o) > len(loc) and o[: len(loc)] == loc for o in groups):
            continue
        problems.append(_shape_problem(filename, loc, errs, data, locator))
    return _sorted(problems)


def _shape_problem(
    filename: str, loc: Loc, errs: list[dict[str, Any]], data: dict[str, Any], locator: Locator
) -> Problem:
    err = errs[0]
    etype = err["type"]
    hint = ""
    if etype == "union_tag_invalid":
        loc = (*loc, "kind")
        kind = _get(data, loc)
        if isinstance(kind, str):
            message = f"unknown step kind '{kind}'; the kinds are {', '.join(STEP_KINDS)}"
            hint = did_you_mean(kind, STEP_KINDS)
        else:
            message = f"'kind' must be a string, not {describe_value(kind)}"
            hint = f"kind is one of {', '.join(STEP_KINDS)}"
    elif etype == "union_tag_not_found":
        message = "this step has no 'kind'"
        hint = f"add kind = one of {', '.join(repr(k) for k in STEP_KINDS)}"
    elif etype == "extra_forbidden":
        message, hint = _unknown_key(loc, data)
    elif etype == "missing":
        key = str(loc[-1])
        message = f"missing required key '{key}'"
        parent = model_at(loc[:-1], data)
        kind = _get(data, (*loc[:-1], "kind"))
        if loc in _MISSING_HINTS:
            hint = _MISSING_HINTS[loc]
        elif parent is not None and issubclass(parent, StepBase) and isinstance(kind, str):
            hint = f"every {kind} step needs '{key}'"
        else:
            hint = f"add {key} = ... to this table"
    elif etype == "literal_error":
        expected = str(err.get("ctx", {}).get("expected", ""))
        value = err["input"]
        shown = f"'{value}'" if isinstance(value, str) else describe_value(value)
        message = f"{shown} is not allowed here; expected {expected}"
        options = re.findall(r"'([^']*)'", expected)
        hint = did_you_mean(str(value), options) if isinstance(value, str) else ""
        if not hint and isinstance(value, str) and value.upper() in options:
            hint = f"did you mean '{value.upper()}'?"
    elif etype == "string_pattern_mismatch":
        message = f"'{err['input']}' is not a valid id"
        hint = (
            "ids use lower-case letters, digits, '.', '_' and '-', and start with a letter or digit"
        )
    elif etype in ("too_short", "string_too_short"):
        message = "must not be empty" if etype == "string_too_short" else "needs at least one item"
        if loc == ("phases",):
            hint = _MISSING_HINTS[("phases",)]
        elif loc[-1:] == ("steps",):
            hint = "add at least one step ([[...steps]] table)"
    elif etype == "value_error":
        message = str(err["msg"]).removeprefix("Value error, ")
        hint = next((h for needle, h in _VALUE_HINTS if needle in message), "")
    elif all(e["type"] in _TYPE_WORDS for e in errs):
        words = list(dict.fromkeys(_TYPE_WORDS[e["type"]] for e in errs))
        expected = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]
        value = err["input"]
        message = f"expected {expected}, got {describe_value(value)}"
        if isinstance(value, dict) and "an array" in words:
            name = format_path(loc)
            hint = f"write [[{_header_name(loc)}]] (double brackets) for each entry of {name}"
        elif isinstance(value, str) and any(w in words for w in ("an integer", "a number")):
            hint = "write numbers without quotes"
        elif isinstance(value, str) and "true or false" in words:
            hint = "write true or false without quotes"
    elif etype in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        message = f"{err['input']!r} is out of range: " + str(err["msg"]).replace(
            "Input should be", "must be"
        )
    else:
        message = str(err["msg"])
    return Problem(filename, format_path(loc), message, locator.line_of(loc), hint)


def _header_name(loc: Loc) -> str:
    return ".".join(p for p in loc if isinstance(p, str))


def _unknown_key(loc: Loc, data: Any) -> tuple[str, str]:
    key = str(loc[-1])
    parent_loc = loc[:-1]
    model = model_at(parent_loc, data)
    message = f"unknown key '{key}'"
    if model is None:
        return message, f"see {FORMAT_DOC} for the keys"
    allowed = _model_keys(model)
    hint = did_you_mean(key, allowed)
    if issubclass(model, StepBase):
        kind = _get(data, (*parent_loc, "kind"))
        owners = [k for k, cls in STEP_CLASSES.items() if key in _model_keys(cls)]
        if not hint and owners and isinstance(kind, str):
            message = f"unknown key '{key}' for a {kind} step"
            hint = f"'{key}' belongs to {' and '.join(owners)} steps"
    if not hint:
        hint = "the keys here are " + ", ".join(sorted(allowed))
    return message, hint


# -- cross-references -------------------------------------------------------------------------


@dataclass
class _Capture:
    step: str
    phase: str
    alternative: str | None
    rollback: bool
    order: int  # position of the step in the file


def _captures_of(step: Any) -> list[str]:
    return [
        *(getattr(step, "capture", None) or {}),
        *(getattr(step, "capture_json", None) or {}),
        *(getattr(step, "capture_run", None) or {}),
    ]


def _sorted(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.line is None, p.line or 0))


class _CrossCheck:
    """Names and ids that must exist: variables, captures, hosts, roles, alternatives, steps."""

    def __init__(self, checklist: Checklist, filename: str, locator: Locator) -> None:
        self.c = checklist
        self.filename = filename
        self.locator = locator
        self.problems: list[Problem] = []
        self.base_names = set(checklist.vars) | set(BUILTIN_VARS)
        self.used_vars: set[str] = set()
        self.captures: dict[str, list[_Capture]] = {}
        self.step_order: dict[str, int] = {}

    def problem(self, loc: Loc, message: str, hint: str = "", warning: bool = False) -> None:
        self.problems.append(
            Problem(
                self.filename, format_path(loc), message, self.locator.line_of(loc), hint, warning
            )
        )

    def run(self) -> list[Problem]:
        self._collect_captures()
        self._vars()
        self._hosts()
        self._roles()
        self._phases()
        self._troubleshooting_and_summary()
        self._unused_vars()
        self._builtin_shadows()
        self._host_cycles()
        self._exit_codes()
        self._unsafe_defaults()
        self._secret_defaults()
        return _sorted(self.problems)

    # -- the parts -----------------------------------------------------------------------------

    def _collect_captures(self) -> None:
        for order, (phase, alt, step) in enumerate(self.c.iter_steps()):
            self.step_order.setdefault(step.id, order)
            for name in _captures_of(step):
                cap = _Capture(step.id, phase.id, alt.id if alt else None, phase.rollback, order)
                self.captures.setdefault(name, []).append(cap)

    def _vars(self) -> None:
        for name, var in self.c.vars.items():
            loc: Loc = ("vars", name)
            if (
                var.choices is not None
                and var.default is not None
                and str(var.default) not in var.choices
            ):
                self.problem(
                    (*loc, "default"),
                    f"default {var.default!r} is not one of the choices",
                    did_you_mean(str(var.default), var.choices),
                )
        for name in self.captures:
            spec = self.c.vars.get(name)
            first = self.captures[name][0].step
            loc = (*self._step_loc(first), "capture")
            if name in BUILTIN_VARS:
                self.problem(
                    loc,
                    f"capture '{name}' has the name of a built-in variable",
                    "choose another name; built-ins are " + ", ".join(BUILTIN_VARS),
                )
            elif spec is not None and spec.command:
                self.problem(
                    loc,
                    f"capture '{name}' would fill the command variable '{name}', "
                    "which is inserted unquoted; a captured value must never run as a command",
                    "capture into another name",
                )

    def _hosts(self) -> None:
        all_captures = set(self.captures)
        known = self.base_names | all_captures
        for name, host in self.c.hosts.items():
            loc: Loc = ("hosts", name)
            for member in host.members or []:
                if member not in self.c.hosts:
                    self.problem(
                        (*loc, "members"),
                        f"unknown host '{member}'",
                        did_you_mean(member, self.c.hosts),
                    )
                elif member == name:
                    self.problem((*loc, "members"), f"host group '{name}' names itself")
            for fname in Host.templated:
                value = getattr(host, fname)
                for ref in template.names_in(value) if isinstance(value, str) else []:
                    self.used_vars.add(ref)
                    if ref not in known:
                        self.problem(
                            (*loc, fname),
                            f"unknown variable '{{{ref}}}'",
                            did_you_mean(ref, known) or f"declare [vars.{ref}]",
                        )

    def _roles(self) -> None:
        roles = self.c.checklist.roles
        for role in self.c.checklist.responsibilities:
            if role not in roles:
                self.problem(
                    ("checklist", "responsibilities", role),
                    f"unknown role '{role}'",
                    did_you_mean(role, roles) or "add it to roles",
                )

    def _phases(self) -> None:
        c = self.c
        if not any(not p.rollback for p in c.phases):
            self.problem(
                ("phases",),
                "every phase is a rollback phase: nothing would run",
                "a rollback phase runs only after a forward step fails",
            )
        has_rollback = any(p.rollback for p in c.phases)
        forward_captures = {
            n for n, caps in self.captures.items() if any(not x.rollback for x in caps)
        }
        seen_phases: dict[str, int] = {}
        seen_steps: dict[str, Loc] = {}
        known_forward: set[str] = set()  # captures known after the forward phases so far
        known_rollback: set[str] = set()
        for pi, phase in enumerate(c.phases):
            ploc: Loc = ("phases", pi)
            if phase.id in seen_phases:
                self.problem(
                    (*ploc, "id"),
                    f"duplicate phase id '{phase.id}' (first at phases[{seen_phases[phase.id]}])",
                    "phase ids are unique: --choose and the report name phases by id",
                )
            seen_phases.setdefault(phase.id, pi)
            self._alternatives(phase, ploc)
            start = self.base_names | (
                forward_captures | known_rollback if phase.rollback else known_forward
            )
            made: list[set[str]] = []
            groups: list[tuple[Loc, Alternative | None, list[Any]]]
            if phase.alternatives:
                groups = [
                    ((*ploc, "alternatives", ai), alt, list(alt.steps))
                    for ai, alt in enumerate(phase.alternatives)
                ]
            else:
                groups = [(ploc, None, list(phase.steps))]
            for gloc, alt, steps in groups:
                known = set(start)
                for si, step in enumerate(steps):
                    sloc: Loc = (*gloc, "steps", si)
                    if step.id in seen_steps:
                        self.problem(
                            (*sloc, "id"),
                            f"duplicate step id '{step.id}' (first at {format_path(seen_steps[step.id])})",
                            "step ids are unique in the whole checklist: `tick` names steps by id",
                        )
                    else:
                        seen_steps[step.id] = sloc
                    self._step(step, sloc, known, alt, has_rollback)
                    known |= set(_captures_of(step))
                made.append(known - start)
            # After a choice between alternatives only what every alternative captures is sure.
            new = set.intersection(*made) if made else set()
            if phase.rollback:
                known_rollback |= new
            else:
                known_forward |= new

    def _alternatives(self, phase: Phase, ploc: Loc) -> None:
        ids = [a.id for a in phase.alternatives]
        for ai, alt_id in enumerate(ids):
            if alt_id in ids[:ai]:
                self.problem(
                    (*ploc, "alternatives", ai, "id"), f"duplicate alternative id '{alt_id}'"
                )
        for d in phase.defaults:
            if phase.alternatives and d not in ids:
                self.problem(
                    (*ploc, "default"),
                    f"unknown alternative '{d}'",
                    did_you_mean(d, ids) or "the alternatives are " + ", ".join(ids),
                )
        if phase.default is not None and not phase.alternatives:
            self.problem((*ploc, "default"), "'default' only applies to a phase with alternatives")
        if phase.multiple and not phase.alternatives:
            self.problem(
                (*ploc, "multiple"), "'multiple' only applies to a phase with alternatives"
            )

    def _step(
        self, step: Any, sloc: Loc, known: set[str], alt: Alternative | None, has_rollback: bool
    ) -> None:
        for fname in type(step).templated:
            value = getattr(step, fname, None)
            if value in (None, "", {}, []):
                continue
            key = "json" if fname == "json_body" else fname
            # The artifact is looked at after the command, so it may name the step's own captures.
            names_here = known | set(_captures_of(step)) if fname == "artifact" else known
            for name in template.names_in(value):
                self._use(name, step, (*sloc, key), names_here)
        if step.when is not None:
            self._use(step.when, step, (*sloc, "when"), known, placeholder=False)
        for name in step.unless_names:
            self._use(name, step, (*sloc, "unless"), known, placeholder=False)
        self._service_keys(step, sloc)
        if isinstance(step, SshStep) and step.host not in self.c.hosts:
            self.problem(
                (*sloc, "host"),
                f"unknown host '{step.host}'",
                did_you_mean(step.host, self.c.hosts) or f"declare [hosts.{step.host}]",
            )
        if isinstance(step, CommandStep):
            for text in quoted_placeholders(step.run):
                self.problem(
                    (*sloc, "run"),
                    f"'{text}' is inside quotes: values are shell-quoted already, and quoting them again breaks values with spaces or quotes",
                    "write the placeholder without quotes around it",
                    warning=True,
                )
        if (
            isinstance(step, ManualStep)
            and step.role is not None
            and step.role not in self.c.checklist.roles
        ):
            roles = self.c.checklist.roles
            self.problem(
                (*sloc, "role"),
                f"unknown role '{step.role}'",
                did_you_mean(step.role, roles)
                or (
                    "the roles are " + ", ".join(roles)
                    if roles
                    else "declare roles = [...] in [checklist]"
                ),
            )
        if step.on_failure == "rollback" and not has_rollback:
            self.problem(
                (*sloc, "on_failure"),
                "on_failure = 'rollback' but the checklist has no rollback phase",
                "add a [[phases]] table with rollback = true",
            )

    def _service_keys(self, step: Any, sloc: Loc) -> None:
        """Tokens only from secret variables, URLs that are URLs, no secret in a team notice."""
        token = getattr(step, "token", None)
        if isinstance(token, str) and token.strip():
            literal = template.render(token, lambda _name: "").strip()
            secret = self.c.secret_names()
            known = set(self.c.vars) | set(BUILTIN_VARS) | set(self.captures)
            not_secret = [n for n in template.names(token) if n in known and n not in secret]
            if literal or not_secret:
                if not_secret:
                    what = f"'{{{not_secret[0]}}}' is not a secret variable"
                else:
                    what = "it is written in the checklist"
                example = "github_token" if step.kind.startswith("github") else "jenkins_token"
                self.problem(
                    (*sloc, "token"),
                    f"a token must come from a secret variable: {what}",
                    f'write token = "{{{example}}}" and declare [vars.{example}] with '
                    "secret = true (and env = ... to read it from the environment)",
                )
        for key in ("api_url", "url"):
            value = getattr(step, key, None)
            if (
                step.kind != "http"
                and isinstance(value, str)
                and value
                and not template.names(value)
                and not re.match(r"https?://[^/\s]+", value)
            ):
                self.problem(
                    (*sloc, key),
                    f"'{value}' is not an http:// or https:// URL",
                    "write the service's base URL, e.g. https://api.github.com",
                )
        repo = getattr(step, "repo", None)
        if (
            step.kind.startswith("github")
            and isinstance(repo, str)
            and not template.names(repo)
            and not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repo)
        ):
            self.problem(
                (*sloc, "repo"),
                f"'{repo}' is not a GitHub repository name",
                "write it as owner/name, e.g. iact-org/iact-project",
            )
        if step.kind == "notify":
            secrets = [n for n in template.names(step.message) if n in self.c.secret_names()]
            if secrets:
                self.problem(
                    (*sloc, "message"),
                    f"a team notice must not contain the secret '{{{secrets[0]}}}'",
                    "the message is posted to a channel; leave the secret out",
                )

    def _use(
        self, name: str, step: Any, loc: Loc, known: set[str], placeholder: bool = True
    ) -> None:
        if name in self.c.vars:
            self.used_vars.add(name)
        if name in known:
            return
        shown = f"{{{name}}}" if placeholder else name
        caps = self.captures.get(name, [])
        here = self.step_order.get(step.id, 0)
        phase, _ = self.c.phase_of(step.id)
        forward = [cap for cap in caps if not cap.rollback]
        if any(cap.step == step.id for cap in caps):
            message = (
                f"'{shown}' is captured by this same step; a capture is known only after its step"
            )
            hint = "use it in a later step"
        elif caps and not forward and not phase.rollback:
            message = f"'{shown}' is captured only by rollback step '{caps[0].step}'"
            hint = "forward steps cannot use captures of rollback steps"
        elif alts := [c for c in caps if c.alternative and (c.phase == phase.id or c.order < here)]:
            where = ", ".join(sorted({f"'{c.alternative}' of phase '{c.phase}'" for c in alts}))
            message = f"'{shown}' is captured only in alternative {where}, so it may not exist here"
            hint = "capture it in every alternative of that phase, or use it inside that alternative only"
        elif later := [c for c in caps if c.order > here]:
            message = f"'{shown}' is captured by step '{later[0].step}', which comes later"
            hint = "a capture is known only after the step that captures it"
        else:
            message = f"unknown variable or capture '{shown}'"
            hint = (
                did_you_mean(name, known)
                or f"declare [vars.{name}] or capture it in an earlier step"
            )
        self.problem(loc, message, hint)

    def _troubleshooting_and_summary(self) -> None:
        ids = self.c.step_ids
        known = set(ids)
        seen: set[str] = set()
        for ti, t in enumerate(self.c.troubleshooting):
            if t.id in seen:
                self.problem(
                    ("troubleshooting", ti, "id"), f"duplicate troubleshooting id '{t.id}'"
                )
            seen.add(t.id)
            for sid in t.steps or []:
                if sid not in known:
                    self.problem(
                        ("troubleshooting", ti, "steps"),
                        f"unknown step '{sid}'",
                        did_you_mean(sid, ids),
                    )
        for si, section in enumerate(self.c.summary):
            for ii, item in enumerate(section.items):
                for sid in item.steps:
                    if sid not in known:
                        self.problem(
                            ("summary", si, "items", ii, "steps"),
                            f"unknown step '{sid}'",
                            did_you_mean(sid, ids),
                        )

    def _unused_vars(self) -> None:
        for name in self.c.vars:
            if name not in self.used_vars and name not in self.captures:
                self.problem(
                    ("vars", name),
                    f"variable '{name}' is never used",
                    "remove it, or use it as {" + name + "}",
                    warning=True,
                )

    def _builtin_shadows(self) -> None:
        """A variable named like a built-in would be silently replaced by iact-tui's value."""
        for name in self.c.vars:
            if name in BUILTIN_VARS:
                self.problem(
                    ("vars", name),
                    f"variable '{name}' has the name of a built-in ({BUILTIN_VARS[name]}), "
                    "which iact-tui sets itself",
                    "rename the variable; the built-ins are " + ", ".join(BUILTIN_VARS),
                )

    def _host_cycles(self) -> None:
        """Host groups: a member is a single host; a group inside a group (or a circle of
        groups) is refused, since a step on a group runs on its members as single hosts."""
        hosts = self.c.hosts
        circles: set[frozenset[str]] = set()
        for name, host in hosts.items():
            for member in host.members or []:
                inner = hosts.get(member)
                if member == name or inner is None or not inner.members:
                    continue
                cycle = self._group_cycle(name)
                if cycle and frozenset(cycle) in circles:
                    break  # that circle is reported once, at its first group
                if cycle:
                    circles.add(frozenset(cycle))
                    message = "circular host groups: " + " -> ".join(cycle)
                    hint = "a group's members are single hosts; remove the group from the members"
                else:
                    message = f"member '{member}' is itself a host group; groups are not nested"
                    hint = f"list the hosts of '{member}' in the members of '{name}' instead"
                self.problem(("hosts", name, "members"), message, hint)

    def _group_cycle(self, start: str) -> list[str]:
        """The names along a circle of host groups through ``start`` (empty when there is none)."""
        hosts = self.c.hosts
        path = [start]
        stack: list[tuple[str, list[str]]] = [(start, list(hosts[start].members or []))]
        seen: set[str] = set()
        while stack:  # depth-first, each host at most once: bounded by the number of hosts
            _node, todo = stack[-1]
            if not todo:
                stack.pop()
                path.pop()
                continue
            member = todo.pop(0)
            if member == start:
                return [*path, start]
            inner = hosts.get(member)
            if member in seen or inner is None or not inner.members:
                continue
            seen.add(member)
            path.append(member)
            stack.append((member, list(inner.members)))
        return []

    def _exit_codes(self) -> None:
        """An exit status is 0 to 255: a command can never end with another."""
        for _phase, _alt, step in self.c.iter_steps():
            if not isinstance(step, CommandStep):
                continue
            codes = step.exit_codes
            for i, code in enumerate(codes):
                if not 0 <= code <= 255:
                    loc = (*self._step_loc(step.id), "expect_exit")
                    if isinstance(step.expect_exit, list):
                        loc = (*loc, i)
                    self.problem(
                        loc,
                        f"expect_exit {code} is out of range: an exit status is 0 to 255",
                        "a command killed by a signal N ends with 128 + N, e.g. 143 for SIGTERM",
                    )

    def _secret_defaults(self) -> None:
        """A secret's value is never written anywhere, but a default is part of the checklist,
        which is pinned into every run folder and export bundle. An empty default ("not set")
        gives nothing away and is allowed."""
        for name, var in self.c.vars.items():
            if var.secret and var.default is not None and str(var.default) != "":
                self.problem(
                    ("vars", name, "default"),
                    f"the secret '{name}' has a default: it would be copied, unmasked, into the "
                    "checklist pinned in every run folder and every export",
                    f'remove the default; give the value with env = "..." in [vars.{name}], '
                    f"--var {name}=..., or at the prompt",
                )

    def _unsafe_defaults(self) -> None:
        """Defaults that every run would refuse at start (values.injection_problems): a value
        starting with '-' in a command, a line break in an HTTP header."""
        reported: set[str] = set()
        for _phase, _alt, step in self.c.iter_steps():
            sloc = self._step_loc(step.id)
            if isinstance(step, CommandStep):
                for name in template.names(step.run):
                    spec = self.c.vars.get(name)
                    if spec is None or spec.option or spec.command or name in reported:
                        continue
                    default = spec.default
                    if default is not None and not isinstance(default, bool) and str(default).startswith("-"):
                        reported.add(name)
                        self.problem(
                            ("vars", name, "default"),
                            f"the default of '{name}' starts with '-' and fills the command of "
                            f"step '{step.id}', where it could be taken as an option; such a "
                            "value is refused when a run starts",
                            f"declare option = true in [vars.{name}] if it may be an option",
                        )
            headers = getattr(step, "headers", None)
            if step.kind != "http" or not isinstance(headers, dict):
                continue
            for key, text in headers.items():
                if any(ch in f"{key}{text}" for ch in "\r\n"):
                    self.problem(
                        (*sloc, "headers", key),
                        f"header {key!r} has a line break (CR or LF): it would add or "
                        "split HTTP headers",
                        "write the header on one line",
                    )
                for name in template.names(f"{key} {text}"):
                    spec = self.c.vars.get(name)
                    default = spec.default if spec is not None else None
                    if name in reported:
                        continue
                    if isinstance(default, str) and ("\r" in default or "\n" in default):
                        reported.add(name)
                        self.problem(
                            ("vars", name, "default"),
                            f"the default of '{name}' has a line break and fills header "
                            f"{key.strip()!r} of step '{step.id}'",
                            "remove the line break",
                        )

    def _step_loc(self, step_id: str) -> Loc:
        for pi, phase in enumerate(self.c.phases):
            for si, s in enumerate(phase.steps):
                if s.id == step_id:
                    return ("phases", pi, "steps", si)
            for ai, alt in enumerate(phase.alternatives):
                for si, s in enumerate(alt.steps):
                    if s.id == step_id:
                        return ("phases", pi, "alternatives", ai, "steps", si)
        return ()


def cross_check(checklist: Checklist, filename: str, locator: Locator) -> list[Problem]:
    """Problems (and warnings) of references between the parts of a well-shaped checklist."""
    return _CrossCheck(checklist, filename, locator).run()


# -- placeholders inside shell quotes ---------------------------------------------------------


def quoted_placeholders(command: str) -> list[str]:
    """Placeholders written inside '...' or "..." in a shell command.

    Such a value would be quoted twice (``"{dir}"`` becomes ``"'my dir'"``), so the loader warns.
    Follows the shell's quoting: ``$( ... )`` inside double quotes starts an unquoted context
    again; a ``#`` that begins a word starts a comment.
    """
    tokens = {m.start(): m for m in template._TOKEN.finditer(command)}
    found: list[str] = []
    stack = ["u"]  # u: unquoted, s: $( ... ), ': single quotes, ": double quotes
    i, n = 0, len(command)
    while i < n:
        top = stack[-1]
        token = tokens.get(i)
        if token is not None:
            if token.group(1) and top in ("'", '"'):
                found.append(token.group(0))
            i = token.end()
            continue
        c = command[i]
        if top == "'":
            if c == "'":
                stack.pop()
        elif top == '"':
            if c == "\\":
                i += 2
                continue
            if c == '"':
                stack.pop()
            elif command.startswith("$(", i):
                stack.append("s")
                i += 2
                continue
        else:
            if c == "\\":
                i += 2
                continue
            if c in ("'", '"'):
                stack.append(c)
            elif command.startswith("$(", i):
                stack.append("s")
                i += 2
                continue
            elif c == ")" and top == "s":
                stack.pop()
            elif c == "#" and (i == 0 or command[i - 1] in " \t\n;&|("):
                end = command.find("\n", i)
                i = n if end < 0 else end
                continue
        i += 1
    return found


# -- line numbers -----------------------------------------------------------------------------


class Locator:
    """Maps a data path (``phases[2].steps[3].kind``) to its line in the TOML text.

    tomllib keeps no positions, so this scans the (already valid) text once, on first use:
    table headers (``[[phases.alternatives.steps]]`` included), keys, dotted keys, inline
    tables and array items, skipping strings and comments. ``line_of`` answers with the
    nearest enclosing entry it knows.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self._lines: dict[Loc, int] | None = None

    @property
    def lines(self) -> dict[Loc, int]:
        if self._lines is None:
            self._lines = {}
            try:
                _TomlScanner(self.text, self._lines).scan()
            except (IndexError, ValueError, tomllib.TOMLDecodeError):
                # Positions are a courtesy: a text the scanner misreads keeps what it found.
                pass
        return self._lines

    def line_of(self, loc: Iterable[int | str]) -> int | None:
        loc = tuple(loc)
        lines = self.lines
        while loc:
            if loc in lines:
                return lines[loc]
            loc = loc[:-1]
        return None


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


class _TomlScanner:
    def __init__(self, text: str, lines: dict[Loc, int]) -> None:
        self.s = text
        self.i = 0
        self.out = lines
        self.newlines = [m.start() for m in re.finditer("\n", text)]
        self.counters: dict[Loc, int] = {}  # array-of-tables path -> index of its last element

    def line(self, pos: int | None = None) -> int:
        return bisect.bisect_left(self.newlines, self.i if pos is None else pos) + 1

    def record(self, loc: Loc, pos: int) -> None:
        line = self.line(pos)
        # tables made implicitly by a header or dotted key ([variables.x]) start there too
        for end in range(1, len(loc) + 1):
            self.out.setdefault(loc[:end], line)

    # -- lexical helpers ---------------------------------------------------------------------

    def skip_space(self, newlines: bool) -> None:
        s, n = self.s, len(self.s)
        while self.i < n:
            c = s[self.i]
            if c in " \t\r" or (newlines and c == "\n"):
                self.i += 1
            elif c == "#":
                end = s.find("\n", self.i)
                self.i = n if end < 0 else end
            else:
                return

    def key(self) -> list[str]:
        parts: list[str] = []
        while True:
            self.skip_space(False)
            c = self.s[self.i]
            if c in "\"'":
                start = self.i
                self.string()
                raw = self.s[start : self.i]
                parts.append(tomllib.loads(f"k = {raw}")["k"] if c == '"' else raw[1:-1])
            else:
                m = _BARE_KEY.match(self.s, self.i)
                if not m:
                    raise ValueError(f"no key at offset {self.i}")
                parts.append(m.group(0))
                self.i = m.end()
            self.skip_space(False)
            if self.i < len(self.s) and self.s[self.i] == ".":
                self.i += 1
                continue
            return parts

    def string(self) -> None:
        s = self.s
        for quote in ('"""', "'''"):
            if s.startswith(quote, self.i):
                j = self.i + 3
                j = s.index(quote, j) if quote == "'''" else self._basic_end(j, quote)
                # up to two quotes of the content may stand right before the closing three
                while s.startswith(quote[0], j + 3):
                    j += 1
                self.i = j + 3
                return
        q = s[self.i]
        self.i = s.index("'", self.i + 1) + 1 if q == "'" else self._basic_end(self.i + 1, '"') + 1

    def _basic_end(self, j: int, closing: str) -> int:
        s = self.s
        while True:
            c = s[j]
            if c == "\\":
                j += 2
            elif s.startswith(closing, j):
                return j
            else:
                j += 1

    # -- structure ---------------------------------------------------------------------------

    def scan(self) -> None:
        s = self.s
        table: Loc = ()
        guard = len(s) + 1
        while guard:
            guard -= 1
            self.skip_space(True)
            if self.i >= len(s):
                return
            start = self.i
            if s.startswith("[[", self.i):
                self.i += 2
                parts = self.key()
                self.i = s.index("]]", self.i) + 2
                table = self.resolve(parts, array=True)
            elif s[self.i] == "[":
                self.i += 1
                parts = self.key()
                self.i = s.index("]", self.i) + 1
                table = self.resolve(parts, array=False)
            else:
                parts = self.key()
                loc = (*table, *parts)
                self.record(loc, start)
                self.i = s.index("=", self.i) + 1
                self.value(loc)
                continue
            self.record(table, start)

    def resolve(self, parts: list[str], array: bool) -> Loc:
        loc: Loc = ()
        for n, part in enumerate(parts):
            loc = (*loc, part)
            if array and n == len(parts) - 1:
                index = self.counters.get(loc, -1) + 1
                self.counters[loc] = index
                loc = (*loc, index)
            elif loc in self.counters:
                loc = (*loc, self.counters[loc])
        return loc

    def value(self, loc: Loc) -> None:
        self.skip_space(False)
        s = self.s
        c = s[self.i]
        if c in "\"'":
            self.string()
        elif c == "[":
            self.i += 1
            index = 0
            while True:
                self.skip_space(True)
                if s[self.i] == "]":
                    self.i += 1
                    return
                self.record((*loc, index), self.i)
                self.value((*loc, index))
                self.skip_space(True)
                if s[self.i] == ",":
                    self.i += 1
                index += 1
        elif c == "{":
            self.i += 1
            while True:
                self.skip_space(True)
                if s[self.i] == "}":
                    self.i += 1
                    return
                start = self.i
                parts = self.key()
                self.record((*loc, *parts), start)
                self.i = s.index("=", self.i) + 1
                self.value((*loc, *parts))
                self.skip_space(True)
                if s[self.i] == ",":
                    self.i += 1
        else:
            # a number, boolean or date: up to the next separator
            while self.i < len(s) and s[self.i] not in ",]}#\n":
                self.i += 1


# -- the summary `iact-tui check` prints ------------------------------------------------------


def describe(loaded: LoadedChecklist) -> str:
    """The text `iact-tui check` prints for a valid checklist: its phases and steps."""
    c = loaded.checklist
    info = c.checklist
    out = [
        f"{info.id} {info.version}: {info.title}",
        f"  file {loaded.path}  sha256 {loaded.sha256[:16]}",
    ]
    hosts = ", ".join(c.hosts) or "none"
    roles = ", ".join(info.roles) or "none"
    out.append(f"  roles: {roles}; hosts: {hosts}; {len(c.vars)} variables")
    n_steps = 0
    for phase in c.phases:
        tags = []
        if phase.rollback:
            tags.append("rollback")
        if phase.alternatives:
            how = "choose one or more" if phase.multiple else "choose one"
            default = f", default {', '.join(phase.defaults)}" if phase.defaults else ""
            tags.append(how + default)
        tag = f"  ({'; '.join(tags)})" if tags else ""
        out.append(f"{phase.id}: {phase.title}{tag}")
        for s in phase.steps:
            out.append(_step_line(s, "  "))
            n_steps += 1
        for alt in phase.alternatives:
            default = " [default]" if alt.id in phase.defaults else ""
            out.append(f"  alternative {alt.id}: {alt.title}{default}")
            for s in alt.steps:
                out.append(_step_line(s, "    "))
                n_steps += 1
    if c.troubleshooting:
        out.append("troubleshooting: " + ", ".join(t.id for t in c.troubleshooting))
    targets = _targets_line(c.targets)
    if targets:
        out.append("targets: " + targets)
    n_forward = sum(1 for p in c.phases if not p.rollback)
    out.append(
        f"ok: {len(c.phases)} phases ({n_forward} forward, {len(c.phases) - n_forward} rollback), "
        f"{_count(n_steps, 'step')}, {_count(len(c.vars), 'variable')}, {_count(len(c.hosts), 'host')}"
    )
    for w in loaded.warnings:
        out.append(f"warning: {w}")
    return "\n".join(out)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _targets_line(t: Targets) -> str:
    parts = []
    if t.deployment_frequency_per_week is not None:
        parts.append(f"deployment frequency >= {t.deployment_frequency_per_week:g}/week")
    if t.lead_time_hours is not None:
        parts.append(f"lead time < {t.lead_time_hours:g} h")
    if t.change_failure_rate is not None:
        parts.append(f"change failure rate < {t.change_failure_rate * 100:g} %")
    if t.mttr_minutes is not None:
        parts.append(f"MTTR < {t.mttr_minutes:g} min")
    return ", ".join(parts)


_MARKS: list[tuple[str, Callable[[Any], str]]] = [
    ("changes", lambda s: "changes target" if s.changes else ""),
    ("confirm", lambda s: "confirm" if s.confirm else ""),
    (
        "role",
        lambda s: (
            f"role {s.role}{' (four eyes)' if s.four_eyes else ''}"
            if getattr(s, "role", None)
            else ""
        ),
    ),
    ("when", lambda s: f"when {s.when}" if s.when else ""),
    ("unless", lambda s: f"unless {' or '.join(s.unless_names)}" if s.unless_names else ""),
    ("retries", lambda s: f"retries {s.retries}" if s.retries else ""),
    ("on_failure", lambda s: f"on failure {s.on_failure}" if s.on_failure != "stop" else ""),
]


def _step_line(step: Any, indent: str) -> str:
    marks = [m for _, f in _MARKS if (m := f(step))]
    extra = f"  ({', '.join(marks)})" if marks else ""
    return f"{indent}{step.id:<26} {step.kind:<{_KIND_WIDTH}} {step.display_title}{extra}"


_KIND_WIDTH = max(7, *(len(k) for k in STEP_KINDS))
