"""The outline of a checklist: its phases, each phase's steps or alternatives, and the closing
summary. Every printout of a checklist walks this one outline: `iact-tui check` (``describe``,
here), the dry run and the exported documents."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # an export reads outlines with read_outline and never needs pydantic
    from iact_tui.engine.checklist.load import LoadedChecklist
    from iact_tui.engine.checklist.model import Checklist, Targets

Summary = list[tuple[str, list[tuple[str, list[str]]]]]  # (section title, [(item text, step ids)])


@dataclass(frozen=True)
class StepGroup:
    """The steps of a phase, or of one of its alternatives (``alternative`` is its id)."""

    steps: tuple[Any, ...]  # the checklist's steps; empty in an outline read by read_outline
    alternative: str = ""
    title: str = ""
    default: bool = False

    @property
    def heading(self) -> str:
        """``alternative manual: Option B [default]``; empty for a phase's own steps."""
        if not self.alternative:
            return ""
        return f"alternative {self.alternative}: {self.title}" + (
            " [default]" if self.default else ""
        )


@dataclass(frozen=True)
class PhaseOutline:
    id: str
    title: str
    reference: str = ""
    rollback: bool = False
    multiple: bool = False
    defaults: tuple[str, ...] = ()
    groups: tuple[StepGroup, ...] = ()

    @property
    def has_alternatives(self) -> bool:
        return any(g.alternative for g in self.groups)

    def alternative_title(self, alt_id: str) -> str:
        return next((g.title for g in self.groups if g.alternative == alt_id), alt_id)


@dataclass(frozen=True)
class Outline:
    phases: dict[str, PhaseOutline]  # by id, in the file's order
    summary: Summary


def outline_of(checklist: Checklist) -> Outline:
    phases: dict[str, PhaseOutline] = {}
    for p in checklist.phases:
        groups = [StepGroup(tuple(p.steps))] if p.steps else []
        groups += [
            StepGroup(tuple(a.steps), a.id, a.title, a.id in p.defaults) for a in p.alternatives
        ]
        phases[p.id] = PhaseOutline(
            p.id, p.title, p.reference, p.rollback, p.multiple, tuple(p.defaults), tuple(groups)
        )
    summary = [(s.title, [(i.text, list(i.steps)) for i in s.items]) for s in checklist.summary]
    return Outline(phases, summary)


def read_outline(raw: bytes) -> Outline | None:
    """The titles and the summary of a checklist, read straight from its TOML (no steps).

    For a run's pinned checklist: it was validated when the run started, and a full validation
    of a long checklist would cost more than rendering the whole report. None when it cannot
    be read."""
    try:
        data = tomllib.loads(raw.decode("utf-8"))
        phases: dict[str, PhaseOutline] = {}
        for p in data.get("phases", []):
            default = p.get("default")
            defaults = (
                (str(default),)
                if isinstance(default, str)
                else tuple(str(d) for d in default)
                if isinstance(default, list)
                else ()
            )
            groups = tuple(
                StepGroup((), str(a["id"]), str(a.get("title", a["id"])), str(a["id"]) in defaults)
                for a in p.get("alternatives", [])
            )
            phases[str(p["id"])] = PhaseOutline(
                str(p["id"]),
                str(p.get("title", p["id"])),
                str(p.get("reference", "")),
                p.get("rollback") is True,
                p.get("multiple") is True,
                defaults,
                groups,
            )
        summary = [
            (
                str(sec["title"]),
                [
                    (str(i["text"]), [str(x) for x in i.get("steps", [])])
                    for i in sec.get("items", [])
                ],
            )
            for sec in data.get("summary", [])
        ]
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError):
        return None
    return Outline(phases, summary)


# -- the printout of `iact-tui check` ---------------------------------------------------------


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
    for phase in outline_of(c).phases.values():
        tags = []
        if phase.rollback:
            tags.append("rollback")
        if phase.has_alternatives:
            how = "choose one or more" if phase.multiple else "choose one"
            default = f", default {', '.join(phase.defaults)}" if phase.defaults else ""
            tags.append(how + default)
        tag = f"  ({'; '.join(tags)})" if tags else ""
        out.append(f"{phase.id}: {phase.title}{tag}")
        for group in phase.groups:
            indent = "  "
            if group.heading:
                out.append(f"  {group.heading}")
                indent = "    "
            for s in group.steps:
                out.append(_step_line(s, indent))
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
    (
        "host",
        lambda s: f"on each host of {s.host}" if s.kind == "http" and s.host else "",
    ),
    ("when", lambda s: f"when {s.when}" if s.when else ""),
    ("unless", lambda s: f"unless {' or '.join(s.unless_names)}" if s.unless_names else ""),
    ("retries", lambda s: f"retries {s.retries}" if s.retries else ""),
    ("on_failure", lambda s: f"on failure {s.on_failure}" if s.on_failure != "stop" else ""),
]


def _step_line(step: Any, indent: str) -> str:
    marks = [m for _, f in _MARKS if (m := f(step))]
    extra = f"  ({', '.join(marks)})" if marks else ""
    return f"{indent}{step.id:<26} {step.kind:<{_kind_width()}} {step.display_title}{extra}"


def _kind_width() -> int:
    # imported here: a checklist was loaded already, and read_outline's users never need pydantic
    from iact_tui.engine.checklist.model import STEP_KINDS

    return max(7, *(len(k) for k in STEP_KINDS))
