"""What is wrong with a checklist file, in words: ``Problem`` (file, line, path, message, hint),
``ChecklistError`` holding them, and the wording of TOML syntax errors and of pydantic's shape
errors (wrong type, missing or unknown key, unknown kind), with a "did you mean" where one fits.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from pydantic import BaseModel, ValidationError

from iact_tui.engine.checklist.locator import Loc, Locator
from iact_tui.engine.checklist.model import (
    STEP_CLASSES,
    STEP_KINDS,
    Alternative,
    Checklist,
    ChecklistInfo,
    Hint,
    Host,
    Phase,
    StepBase,
    SummaryItem,
    SummarySection,
    Targets,
    Troubleshooting,
    Var,
)
from iact_tui.engine.errors import IactError

FORMAT_DOC = "docs/checklist-format.md"


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


class ChecklistError(IactError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def _sorted(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.line is None, p.line or 0))


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


def toml_problem(filename: str, exc: tomllib.TOMLDecodeError) -> Problem:
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


def shape_problems(
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
            kinds = ", ".join(owners[:-1]) + " and " + owners[-1] if len(owners) > 1 else owners[0]
            hint = f"'{key}' belongs to {kinds} steps"
    if not hint:
        hint = "the keys here are " + ", ".join(sorted(allowed))
    return message, hint
