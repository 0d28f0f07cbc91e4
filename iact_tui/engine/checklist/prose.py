"""Stale prose: text a person reads that no longer says what the checklist does.

Checked by ``iact-tui check`` (called from the cross-check), after a checklist was adapted to
another app:

- **error**: a ``{placeholder}`` in prose that no variable, built-in or step capture provides.
  The steps' own texts (instructions, messages, checks) are checked with the steps; this covers
  the rest a person reads with its placeholders filled: the titles and descriptions of phases
  and alternatives, hints, troubleshooting advice and the summary.
- **warning**: an instruction that names a URL or a path the step does not use. An ``http``
  step whose instructions say ``curl -f {base_url}/api/health`` while it requests
  ``{base_url}{health_path}``; an ``ssh``/``local`` step whose instructions quote a command
  (in backticks) that its ``run`` no longer contains, or an absolute path its ``run`` does not
  name.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from iact_tui.engine.checklist import template
from iact_tui.engine.checklist.locator import Loc
from iact_tui.engine.checklist.model import BUILTIN_VARS, Checklist, CommandStep, HttpStep

ProblemAt = Callable[..., None]  # (loc, message, hint="", warning=False)

_CODE_SPAN = re.compile(r"`([^`\n]+)`")
# a URL written out, or one that starts with a placeholder: {base_url}/api/health
_URL = re.compile(r"""(?:https?://|(?<![\w$])\{[A-Za-z_][A-Za-z0-9_]*\}(?=/))[^\s`'"<>()\[\]]*""")
_ABS_PATH = re.compile(r"""(?<![\w.:/{}$~-])/[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*/?""")
_TRAILING = ".,;:!?"


def check_prose(checklist: Checklist, problem: ProblemAt, step_loc: Callable[[str], Loc]) -> None:
    """Report stale prose through ``problem(loc, message, hint, warning=...)``."""
    known = set(checklist.vars) | set(BUILTIN_VARS) | _captures(checklist)
    for loc, text in _prose(checklist):
        for name in template.names(text):
            if name not in known:
                close = [k for k in sorted(known) if _close(name, k)]
                problem(
                    loc,
                    f"'{{{name}}}' is no variable, built-in or capture: a reader would see it as written",
                    f"did you mean '{{{close[0]}}}'?"
                    if close
                    else f"declare [vars.{name}], or write {{{{{name}}}}} for literal braces",
                )
    for _phase, _alt, step in checklist.iter_steps():
        if not step.instructions:
            continue
        loc = (*step_loc(step.id), "instructions")
        for message, hint in stale_mentions(step):
            problem(loc, message, hint, warning=True)


def stale_mentions(step: Any) -> list[tuple[str, str]]:
    """(message, hint) for each URL or path the step's instructions name and the step does not use."""
    text = step.instructions
    out: list[tuple[str, str]] = []
    if isinstance(step, HttpStep):
        url = step.url.strip()
        for found in _urls(text):
            if _same_base(found, url) and _norm(found) != _norm(url):
                out.append(
                    (
                        f"the instructions name {found} but the step requests {url}",
                        "update the instructions (write the step's own placeholders, e.g. the same url), or the url",
                    )
                )
        for path in _paths(text):
            if path not in url and not any(path in u for u in _urls(text)):
                out.append(
                    (
                        f"the instructions name the path {path} but the step requests {url}",
                        "update the instructions, or the url",
                    )
                )
    elif isinstance(step, CommandStep):
        run = " ".join(step.run.split())
        first_words = {
            w for w in (_first_word(part) for part in re.split(r"&&|\|\||[;|\n]", step.run)) if w
        }
        for span in _CODE_SPAN.findall(text):
            span_text = " ".join(span.split())
            word = _first_word(span_text)
            if word and word in first_words and span_text not in run:
                out.append(
                    (
                        f"the instructions quote `{span_text}` but the step runs something else",
                        "update the instructions to the step's `run`, or drop the quote",
                    )
                )
        for path in _paths(text):
            if path not in step.run:
                out.append(
                    (
                        f"the instructions name the path {path}, which the step's command does not use",
                        "update the instructions (a placeholder such as {app_dir} follows the variable)",
                    )
                )
    return out


# -- helpers ----------------------------------------------------------------------------------


def _captures(checklist: Checklist) -> set[str]:
    names: set[str] = set()
    for _, _, step in checklist.iter_steps():
        for key in ("capture", "capture_json", "capture_run"):
            names |= set(getattr(step, key, None) or {})
    return names


def _prose(checklist: Checklist) -> list[tuple[Loc, str]]:
    """The texts a person reads that the steps' own checks do not cover."""
    out: list[tuple[Loc, str]] = []
    for pi, phase in enumerate(checklist.phases):
        out += [
            (("phases", pi, "title"), phase.title),
            (("phases", pi, "description"), phase.description),
        ]
        for ai, alt in enumerate(phase.alternatives):
            aloc: Loc = ("phases", pi, "alternatives", ai)
            out += [((*aloc, "title"), alt.title), ((*aloc, "description"), alt.description)]
            for si, step in enumerate(alt.steps):
                out += _hint_texts((*aloc, "steps", si), step)
        for si, step in enumerate(phase.steps):
            out += _hint_texts(("phases", pi, "steps", si), step)
    for ti, t in enumerate(checklist.troubleshooting):
        out += [
            (("troubleshooting", ti, "title"), t.title),
            (("troubleshooting", ti, "advice"), t.advice),
        ]
    for si, section in enumerate(checklist.summary):
        out.append((("summary", si, "title"), section.title))
        for ii, item in enumerate(section.items):
            out.append((("summary", si, "items", ii, "text"), item.text))
    return [(loc, text) for loc, text in out if text]


def _hint_texts(sloc: Loc, step: Any) -> list[tuple[Loc, str]]:
    out: list[tuple[Loc, str]] = []
    for hi, hint in enumerate(step.hints):
        out += [
            ((*sloc, "hints", hi, "title"), hint.title),
            ((*sloc, "hints", hi, "advice"), hint.advice),
        ]
    return out


def _close(a: str, b: str) -> bool:
    import difflib

    return difflib.SequenceMatcher(None, a, b).ratio() >= 0.8


def _urls(text: str) -> list[str]:
    return [m.group(0).rstrip(_TRAILING) for m in _URL.finditer(text)]


def _paths(text: str) -> list[str]:
    """Absolute paths written in code spans (`/etc/nginx`), not the path part of a URL."""
    found: list[str] = []
    for span in _CODE_SPAN.findall(text):
        without_urls = _URL.sub(" ", span)
        for m in _ABS_PATH.finditer(without_urls):
            path = m.group(0).rstrip(_TRAILING)
            if len(path) > 1 and path not in found:
                found.append(path)
    return found


def _same_base(a: str, b: str) -> bool:
    """Both start with the same placeholder, or with the same scheme and host."""
    pa, pb = _base(a), _base(b)
    return bool(pa) and pa == pb


def _base(url: str) -> str:
    m = re.match(r"\{[A-Za-z_][A-Za-z0-9_]*\}|https?://[^/\s{]+", url)
    return m.group(0) if m else ""


def _norm(url: str) -> str:
    return url.rstrip("/")


def _first_word(command: str) -> str:
    words = command.strip().split()
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=\S*", words[0]):  # VAR=value cmd
        words = words[1:]
    if words and words[0] in ("sudo", "-n", "exec", "env"):
        words = [w for w in words[1:] if not w.startswith("-")] or words
    return words[0] if words and not words[0].startswith("{") else ""
