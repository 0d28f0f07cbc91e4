"""Which variables a run needs, given the values it starts with.

A variable that only steps which do not apply use (their ``when`` / ``unless``) needs no value:
with ``smoke_login_path = ""`` the smoke login does not run, so nobody should be asked for the
smoke-test password. Everything else keeps its rule: a variable with neither value nor default is
asked for, or the run stops before it starts (exit 2 headless).

A step whose ``when``/``unless`` names a value captured at run time may still apply, so its
variables stay needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iact_tui.engine.checklist import template
from iact_tui.engine.checklist.model import Checklist, Host


def _captured(checklist: Checklist) -> set[str]:
    names: set[str] = set()
    for _, _, step in checklist.iter_steps():
        for key in ("capture", "capture_json", "capture_run"):
            names |= set(getattr(step, key, None) or {})
    return names


def _step_names(step: Any) -> set[str]:
    fields = [getattr(step, f, None) for f in type(step).templated]
    names = set(template.names_in([f for f in fields if f]))
    if step.when:
        names.add(step.when)
    names |= set(step.unless_names)
    return names


def _host_names(checklist: Checklist, host_name: str, seen: set[str] | None = None) -> set[str]:
    seen = seen if seen is not None else set()
    host = checklist.hosts.get(host_name)
    if host is None or host_name in seen:
        return set()
    seen.add(host_name)
    names: set[str] = set()
    for fname in Host.templated:
        value = getattr(host, fname)
        if isinstance(value, str):
            names |= set(template.names(value))
    for member in host.members or []:
        names |= _host_names(checklist, member, seen)
    return names


def unneeded_vars(checklist: Checklist, values: Mapping[str, str]) -> set[str]:
    """Declared variables that some step uses and only steps that do not apply use."""
    captured = _captured(checklist)
    used: set[str] = set()
    needed: set[str] = set()
    for _, _, step in checklist.iter_steps():
        names = _step_names(step)
        host = getattr(step, "host", None)
        if isinstance(host, str):
            names |= _host_names(checklist, host)
        used |= names
        decided_now = not ({step.when, *step.unless_names} & captured)
        if not decided_now or not step.not_applicable_reason(values):
            needed |= names
    return {n for n in checklist.vars if n in used and n not in needed}
